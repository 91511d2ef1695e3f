"""`--json` of status, releases, certs, env and lock, against the real test host.

One deployed app with a certificate serves every check (the e2e budget is
tight): each output must be one JSON document (json.loads of all of stdout),
valid against its schema in leo_tasks/schemas/, hold what docker, nginx and the
files show from outside, and leave the exit status as it is without --json.
Two hosts are the test host under two names: over SSH (`testhost`) and
`local`, which is not deduplicated with it.
"""

from __future__ import annotations

import json
import os
import subprocess

import jsonschema

from leo_tasks import jsonout
from leo_tasks.steps import lock as lock_step

from .conftest import domain_of
from .hostkit import APPS, containers, set_env, sh
from .test_letsencrypt import acme_args, add_dns, pebble_env
from .test_rotate import deploy_v1

TWO_HOSTS = "testhost,local"


def as_json(leo, command: str, app: str, *args: str, code: int = 0) -> dict:
    """`leo <command> --json`: its exit status is `code`, its stdout one valid document."""
    proc = leo(*command.split(), "--app", app, "--json", *args, ok=False)
    assert proc.returncode == code, proc.stderr
    document = json.loads(proc.stdout)
    jsonschema.validate(document, jsonout.schema(command.split(".")[0]))
    assert document["app"] == app
    return document


def only(document: dict) -> dict:
    [entry] = document["hosts"]
    assert entry["ok"] is True and entry["error"] is None
    return entry


def test_json_output_of_every_read_command(leo, app, tmp_path):
    pebble = pebble_env()
    deploy_v1(leo, app, tmp_path)
    secret = 'p@ss "w$rd" & more'
    set_env(leo, app, "DATABASE_URL", secret)
    add_dns(pebble, domain_of(app))
    leo("letsencrypt", "--app", app, "--host", "testhost", *acme_args(pebble))
    outside = containers(app)
    [web] = outside

    # releases: the release just deployed, with the image it runs
    releases = only(as_json(leo, "releases", app, "--host", "testhost"))
    assert releases["current"] == 1
    [first] = releases["releases"]
    assert (first["number"], first["current"], first["kind"]) == (1, True, "deploy")
    assert first["services"]["web"]["image"] == "leo-test-web:v1"
    image_id = sh("docker", "inspect", "-f", "{{.Image}}", web.id).stdout.strip()
    assert first["services"]["web"]["image_id"] == image_id

    # status on two hosts (one machine, two names): one document, an entry each, in order
    both = as_json(leo, "status", app, "--host", TWO_HOSTS)
    assert [h["host"] for h in both["hosts"]] == ["leo-deploy@testhost", "local"]
    for entry in both["hosts"]:
        assert entry["ok"] is True and entry["agree"] is True
        assert [(c["id"], c["name"], c["state"]) for c in entry["containers"]] == [
            (web.id, web.name, "running")
        ]
        assert entry["containers"][0]["addresses"] == list(web.ips)
        assert entry["upstream"] == list(web.ips) and entry["containers"][0]["in_upstream"]
        assert entry["release"]["number"] == 1 and entry["web"]["service"] == "web"
        assert [(lk["name"], lk["held"]) for lk in entry["locks"]] == [
            ("deploy", False),
            ("env", False),
        ]

    # env: the values themselves, as `leo env` shows them (quoted there)
    env = only(as_json(leo, "env", app, "--host", "testhost"))["env"]
    assert env["DATABASE_URL"] == secret and env["LEO_DRAIN_SECONDS"] == "0.5"

    # certs: the certificate just issued; --days beyond it: exit 1, the document still there
    [cert] = only(as_json(leo, "certs", app, "--host", "testhost"))["certificates"]
    assert cert["domain"] == domain_of(app) and cert["domains"] == [domain_of(app)]
    assert cert["issuer"].startswith("Pebble") and cert["expiring"] is False
    assert cert["days_left"] > 1
    soon = only(as_json(leo, "certs", app, "--host", "testhost", "--days", "3000", code=1))
    assert soon["expiring"] is True and soon["certificates"][0]["expiring"] is True

    # lock: held by a holder in the background (leo's own holder process, as a run starts it)
    lock_file = str(APPS / app / ".leo/deploy.lock")
    argv = lock_step.flock_argv(lock_file, "rotate", wait=0, silence=60)
    holder = subprocess.Popen(
        ["runuser", "-u", "leo-deploy", "--", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        deploy, env_lock = only(as_json(leo, "lock", app, "--host", "testhost"))["locks"]
        assert (deploy["name"], deploy["held"], deploy["purpose"]) == ("deploy", True, "rotate")
        assert deploy["pid"] == os.getpid() and deploy["since"].endswith("Z")
        assert (env_lock["name"], env_lock["held"], env_lock["holder"]) == ("env", False, None)
    finally:
        holder.communicate("", timeout=10)

    # status when nginx points elsewhere: exit 1 as without --json, the fact in the document
    upstream = APPS / app / "upstream.conf"
    good = upstream.read_text()
    upstream.write_text(good.replace(web.ips[0], "10.255.255.1"))
    try:
        entry = only(as_json(leo, "status", app, "--host", "testhost", code=1))
        assert entry["agree"] is False and entry["upstream"] == ["10.255.255.1"]
        assert entry["containers"][0]["in_upstream"] is False
    finally:
        upstream.write_text(good)


def test_json_of_an_app_that_does_not_exist_names_the_error_per_host(leo, app):
    # One host: its own exit status; several: exit 1. Either way every host has an entry.
    one = as_json(leo, "status", app, "--host", "testhost", code=1)
    [entry] = one["hosts"]
    assert entry == {
        "host": "leo-deploy@testhost",
        "ok": False,
        "error": f"app '{app}' does not exist on leo-deploy@testhost",
    }
    both = as_json(leo, "env", app, "--host", TWO_HOSTS, code=1)
    assert [(h["host"], h["ok"]) for h in both["hosts"]] == [
        ("leo-deploy@testhost", False),
        ("local", False),
    ]
    assert all(app in h["error"] for h in both["hosts"])
    # Refused before any host is read (bad input, exit 2): nothing on stdout.
    bad = leo("lock", "--app", "no such app", "--host", "testhost", "--json", ok=False)
    assert bad.returncode == 2 and bad.stdout == ""
