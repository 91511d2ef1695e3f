"""`leo history`: the audit log on the host, seen through leo and as the file it is.

One app, one scenario, to keep the e2e budget: its first deploy, a deploy that
works and one that fails, env edits with nasty values (also from a CI job),
a log line cut short, then destroy.
"""

from __future__ import annotations

import getpass
import json
import socket

import jsonschema

from leo_tasks import jsonout
from leo_tasks.envfile import EnvFile

from .hostkit import APPS, HISTORY, compose_text, deploy, write_compose
from .test_env import NASTY

HOST = "[leo-deploy@testhost]"
CI = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "o/r",
    "GITHUB_RUN_ID": "42",
    "GITHUB_JOB": "ship",
    "GITHUB_SERVER_URL": "https://github.example",
}


def history(leo, app: str, *extra: str, **kwargs):
    return leo("history", "--app", app, "--host", "testhost", *extra, **kwargs)


def records(leo, app: str, *extra: str) -> list[dict]:
    document = json.loads(history(leo, app, "--json", *extra).stdout)
    jsonschema.validate(document, jsonout.schema("history"))
    assert document["schema"] == "leo.history/1" and document["app"] == app
    [entry] = document["hosts"]
    assert entry["host"] == "leo-deploy@testhost" and entry["ok"]
    return entry["records"]


def test_history_of_an_app(leo, app, tmp_path):
    me = f"{getpass.getuser()}@{socket.gethostname()}"
    v1 = write_compose(tmp_path / "v1.yml", "leo-test-web:v1")
    leo("create", "--app", app, "--host", "testhost", "--compose", str(v1))
    deploy(leo, app, write_compose(tmp_path / "v2.yml", "leo-test-web:v2"))
    broken = compose_text(
        tmp_path / "broken.yml",
        "services:\n  web: {image: 'leo-test-web:broken', env_file: ./env}\n",
    )
    assert deploy(leo, app, broken, ok=False).returncode == 1

    # Text, newest first: the failed deploy, then the deploy of release 1.
    text = history(leo, app).stdout.splitlines()
    assert text[0].startswith(f"{HOST} 20") and "failed" in text[0]
    assert "deploy --compose broken.yml (sha256 " in text[0] and f"by {me}" in text[0]
    assert text[1].startswith(f"{HOST}     error: ")
    assert " ok " in text[2] and "deploy --compose v2.yml" in text[2] and "release 1" in text[2]

    newest = records(leo, app)
    assert [r["task"] for r in newest] == ["deploy", "deploy", "create"]
    failed, shipped = newest[0], newest[1]
    assert failed["result"] == "failed" and failed["error"] and "release" not in failed
    assert shipped["result"] == "ok" and shipped["release"] == 1 and shipped["who"] == me
    assert failed["run"] != shipped["run"]
    assert all(r["time"].endswith("Z") and r["seconds"] >= 0 for r in newest)
    assert failed["seconds"] > 0.1 and failed["args"]["compose"].startswith("broken.yml")

    # Env edits: names only, never a value, not even in the file on the host.
    dotenv = tmp_path / ".env.nasty"
    dotenv.write_text("".join(f"{k}={json.dumps(v)}\n" for k, v in NASTY.items() if "\n" not in v))
    leo("env.push", "--app", app, "--host", "testhost", "--file", str(dotenv))
    nasty = NASTY["AMP"] + NASTY["NEWLINES"] + NASTY["UNICODE"]
    leo(*("env.set", "--app", app, "--host", "testhost", "--name", "DB", "--value", nasty), env=CI)
    pushed, set_ = records(leo, app, "--limit", "2")[::-1]
    assert set_["task"] == "env.set" and set_["args"] == {"name": "DB"}
    assert set_["ci"]["system"] == "github-actions" and set_["ci"]["run"] == "42"
    assert set_["ci"]["url"] == "https://github.example/o/r/actions/runs/42"
    assert pushed["task"] == "env.push" and "AMP" in pushed["args"]["names"]
    assert "via github-actions o/r run 42 job ship" in history(leo, app, "--limit", "1").stdout
    log = (HISTORY / f"{app}.jsonl").read_bytes().decode()
    for value in [nasty, *NASTY.values()]:
        for form in {value, json.dumps(value)[1:-1]}:
            assert len(form) < 4 or form not in log, form  # "", "$" are everywhere

    # A record cut short (a crash mid-write): skipped with a note, later records whole.
    with open(HISTORY / f"{app}.jsonl", "a") as raw:
        raw.write('{"v":1,"time":"2030-01-01T00:00:00Z","task":"dep')
    leo("env.del", "--app", app, "--host", "testhost", "--name", "DB")
    shown = history(leo, app, "--limit", "3").stdout
    assert "note: skipped a line of" in shown and '"task":"dep' in shown
    assert "env.del --name DB" in shown.splitlines()[0]

    # A record that cannot be written (here: a directory where the log file should
    # be) is said on stderr; the run itself succeeds and its change is made.
    log_file = HISTORY / f"{app}.jsonl"
    aside = log_file.with_suffix(".aside")
    log_file.rename(aside)
    log_file.mkdir()
    try:
        done = leo("env.set", "--app", app, "--host", "testhost", "--name", "AFTER", "--value", "1")
    finally:
        log_file.rmdir()
        aside.rename(log_file)
    assert done.returncode == 0 and "could not record this run" in done.stderr
    assert EnvFile.parse((APPS / app / "env").read_text()).values()["AFTER"] == "1"

    # destroy is recorded, and its record outlives the app.
    leo("destroy", "--app", app, "--host", "testhost", "--yes")
    [gone] = records(leo, app, "--limit", "1")
    assert (gone["task"], gone["result"], gone["args"]) == ("destroy", "ok", {"volumes": False})


def test_setup_is_in_the_host_log(leo, deploy_host):
    # deploy_host ran `leo setup --host root@testhost` for this session.
    document = json.loads(leo("history", "--host", deploy_host, "--json").stdout)
    jsonschema.validate(document, jsonout.schema("history"))
    assert document["app"] is None
    [entry] = document["hosts"]
    assert entry["log"] == "host" and "/var/log/leo/host.jsonl" in entry["files"]
    setup = next(r for r in entry["records"] if r["task"] == "setup")
    assert setup["result"] == "ok" and setup["args"]["key"].startswith("ssh-ed25519 SHA256:")
