"""The audit log's pure parts: records, CI detection, redaction, parsing, display."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pytest

from leo_tasks import history, jsonout
from leo_tasks.commands import history as commands
from leo_tasks.errors import InvalidInput, LockHeld, StepFailed
from leo_tasks.history import Audit
from leo_tasks.history_tasks import parse_limit
from leo_tasks.steps.setup import fingerprint
from tests.e2e.test_env import NASTY

WHEN = datetime(2025, 5, 1, 12, 0, 3, tzinfo=UTC)


def entry(audit: Audit, **kwargs) -> dict:
    return history.record(audit, when=WHEN, who="ann@laptop", ci=None, seconds=2.345, **kwargs)


def test_a_successful_deploy_record():
    audit = Audit("deploy", "shop", {"compose": "c.yml (sha256 abc)", "build": True}, run="r1")
    assert entry(audit, release=7, detail="") == {
        "v": 1,
        "time": "2025-05-01T12:00:03Z",
        "who": "ann@laptop",
        "task": "deploy",
        "args": {"compose": "c.yml (sha256 abc)", "build": True},
        "result": "ok",
        "seconds": 2.35,
        "run": "r1",
        "app": "shop",
        "release": 7,
    }


@pytest.mark.parametrize(
    ("error", "result", "line"),
    [
        (StepFailed("web never got ready\n  logs..."), "failed", "web never got ready"),
        (InvalidInput("compose refuses it"), "refused", "compose refuses it"),
        (KeyboardInterrupt(), "interrupted", "interrupted"),
        (LockHeld("locked"), "failed", "locked"),  # the task layer skips these
    ],
)
def test_failures_keep_their_kind_and_first_line(error, result, line):
    record = entry(Audit("rotate", "shop"), exc=error)
    assert (record["result"], record["error"]) == (result, line)
    assert "release" not in record


def test_secret_values_never_reach_a_record():
    value = NASTY["AMP"] + NASTY["NEWLINES"]
    audit = Audit("env.set", "shop", {"name": "DB"}, secret_values=(value,))
    failure = StepFailed(f"could not write {value} somewhere")  # its first line: to "line1"
    line = history.encode(entry(audit, exc=failure, detail=f"x {value} y"))
    assert NASTY["AMP"] not in line and "line1" not in line and "line2" not in line
    assert json.loads(line)["error"] == "could not write [secret]"
    assert "secret_values" not in line and "DB" in line


def test_a_record_is_one_ascii_line():
    audit = Audit("env.push", "shop", {"file": "é\u2028\n.env", "names": ["A"]})
    line = history.encode(entry(audit))
    assert line.endswith("\n") and line.count("\n") == 1 and line.isascii()
    assert json.loads(line)["args"]["file"] == "é\u2028\n.env"


def test_a_huge_record_drops_its_args_not_its_line():
    audit = Audit("env.push", "shop", {"names": [f"N{i:05}" for i in range(5000)]})
    line = history.encode(entry(audit))
    assert len(line) < history.MAX_RECORD and json.loads(line)["args"] == {"truncated": True}


def test_ci_detection():
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "42",
        "GITHUB_WORKFLOW": "ship",
        "GITHUB_JOB": "deploy",
        "CI": "true",
    }
    assert history.ci_job(github) == {
        "system": "github-actions",
        "repository": "o/r",
        "run": "42",
        "workflow": "ship",
        "job": "deploy",
        "url": "https://github.com/o/r/actions/runs/42",
    }
    gitlab = {"GITLAB_CI": "true", "CI_PROJECT_PATH": "g/p", "CI_JOB_ID": "9", "CI_JOB_URL": "u"}
    assert history.ci_job(gitlab) == {
        "system": "gitlab-ci",
        "project": "g/p",
        "job": "9",
        "url": "u",
    }
    assert history.ci_job({"CI": "true"}) == {"system": "ci"}
    assert history.ci_job({"CI": "false", "GITHUB_ACTIONS": "false"}) is None


def test_who_names_the_ci_job():
    record = history.record(
        Audit("rotate", "shop"),
        when=WHEN,
        who="runner@fv-1",
        ci=history.ci_job(
            {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "42"}
        ),
        seconds=1,
    )
    assert history.describe_who(record) == (
        "runner@fv-1 via github-actions o/r run 42 https://github.com/o/r/actions/runs/42"
    )


def test_parse_skips_what_is_not_a_record():
    good = history.encode(entry(Audit("start", "shop")))
    text = good + "\n" + '{"v":1,"time":"2025-05-01T1' + "\n" + "[1]\n" + good
    log = history.parse("/h/shop.jsonl", text)
    assert len(log.records) == 2
    assert log.skipped == ['{"v":1,"time":"2025-05-01T1', "[1]"]


def test_newest_first_across_logs_and_limited():
    def at(second: int, task: str) -> str:
        when = WHEN.replace(second=second)
        return history.encode(history.record(Audit(task), when=when, who="w", ci=None, seconds=0))

    root = history.parse("/var/log/leo/host.jsonl", at(1, "setup") + at(5, "implode"))
    deploy_user = history.parse("/home/leo-deploy/history/_host.jsonl", at(3, "push"))
    assert [r["task"] for r in history.newest([root, deploy_user], 2)] == ["implode", "push"]


def test_describe_a_failed_deploy():
    audit = Audit("deploy", "shop", {"compose": "c.yml", "build": True, "push": False})
    lines = history.describe(entry(audit, exc=StepFailed("web crashed")))
    assert lines == [
        "2025-05-01T12:00:03Z  failed          2.4s  deploy --compose c.yml --build  by ann@laptop",
        "    error: web crashed",
    ]


def test_describe_logs_notes_skipped_lines_and_an_empty_log():
    log = history.parse("/h/a.jsonl", "{oops\n")
    assert history.describe_logs([log], 5, subject="a") == [
        "no history recorded for a",
        "note: skipped a line of /h/a.jsonl that is not a record: '{oops'",
    ]


def test_json_document_matches_its_schema():
    log = history.parse("/h/a.jsonl", history.encode(entry(Audit("stop", "a"))) + "{cut")
    out = jsonout.Document("history", "a")
    out.entries.append(jsonout.host_entry("h1", history.host_fields([log], 20, app="a")))
    doc = json.loads(json.dumps(out.data()))
    jsonschema.validate(doc, jsonout.schema("history"))
    [host] = doc["hosts"]
    assert host["host"] == "h1" and host["log"] == "app" and host["files"] == ["/h/a.jsonl"]
    assert [r["task"] for r in host["records"]] == ["stop"]
    assert host["skipped"] == [{"file": "/h/a.jsonl", "line": "{cut"}]


def test_append_and_tail_commands_take_paths_as_arguments():
    argv = commands.append("/home/leo-deploy/history/a.jsonl", private=True)
    assert argv[:2] == ["sh", "-c"] and argv[3:] == [
        "sh",
        "/home/leo-deploy/history/a.jsonl",
        "077",
    ]
    assert "flock" in argv[2] and "iflag=fullblock" in argv[2]
    assert commands.tails(["/a", "/b"], 7)[3:] == ["sh", "7", "/a", "/b"]


@pytest.mark.parametrize("bad", ["0", "-1", "x", "1.5", "100001"])
def test_limit_must_be_a_whole_number(bad):
    with pytest.raises(InvalidInput, match="--limit"):
        parse_limit(bad)
    assert parse_limit(None) == 20 and parse_limit("3") == 3


def test_setup_records_the_key_fingerprint_not_the_key():
    # The fingerprint `ssh-keygen -lf` prints for this key.
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEexampleEXAMPLEexampleEXAMPLEexample1 ann@l"
    found = fingerprint(key)
    assert found.startswith("ssh-ed25519 SHA256:") and found.endswith(" ann@l")
    assert "AAAAC3" not in found


def test_records_of_one_second_are_newest_first_too():
    first = {**entry(Audit("env.push", "a")), "time": "2030-01-01T00:00:00Z"}
    second = {**entry(Audit("env.set", "a")), "time": "2030-01-01T00:00:00Z"}
    log = history.parse("/h/a.jsonl", history.encode(first) + history.encode(second))
    assert [r["task"] for r in history.newest([log], 5)] == ["env.set", "env.push"]
