"""--json: the envelope, each command's renderer, and the shipped JSON Schemas.

The renderers are pure: they get the same data objects the text output is made
from. Each document is checked against its schema in leo_tasks/schemas/ (what
README's "JSON output" describes), and against the text rendering of the same
facts.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

import jsonschema
import pytest

from leo_tasks import jsonout
from leo_tasks.appsettings import AppSettings
from leo_tasks.certs import CertInfo
from leo_tasks.errors import StepFailed
from leo_tasks.facts import Container
from leo_tasks.steps import certreport, releases, status
from leo_tasks.steps import env as env_step
from leo_tasks.steps import lock as lock_step

from .conftest import make_container

COMMANDS = ("status", "releases", "certs", "env", "lock", "history")


class FakeHost:
    """Only what Document reads of a Host: its name."""

    def __init__(self, name: str) -> None:
        self.name = name


def document(command: str, *entries: tuple[str, dict | StepFailed]) -> dict:
    """The document `command --json` prints for these hosts' results, parsed back."""
    out = jsonout.Document(command, "shop")
    for name, value in entries:
        if isinstance(value, StepFailed):
            out.fail(FakeHost(name), value)  # type: ignore[arg-type]
        else:
            out.add(FakeHost(name), value)  # type: ignore[arg-type]
    stream = io.StringIO()
    out.emit(stream)
    parsed = json.loads(stream.getvalue())
    jsonschema.validate(parsed, jsonout.schema(command))
    return parsed


def container(number: int, ip: str, *, service: str = "web", oneoff: bool = False) -> Container:
    return make_container(
        service,
        number,
        id=f"{number:x}".rjust(64, "a"),
        health="healthy" if service == "web" else None,
        networks={"shop_default": ip, "other": ""},
        image="sha256:" + "b" * 64,
        oneoff=oneoff,
    )


def release(number: int, **changes) -> releases.Release:
    fields = {
        "number": number,
        "time": f"2025-03-0{number}T10:00:00Z",
        "by": "ci@runner",
        "compose_sha256": "c" * 64,
        "services": {"web": {"image": "shop:1", "image_id": "sha256:" + "b" * 64, "tag": None}},
        "origin": number,
        "web": {"service": "web", "port": 8000, "how": "EXPOSE"},
    }
    return releases.Release(**{**fields, **changes})


HELD = lock_step.LockState(
    "deploy",
    held=True,
    holder=lock_step.parse_owner("rotate by ci@runner pid 4242 since 2025-03-02T10:00:00Z"),
)
FREE = lock_step.LockState("env", held=False)


def a_status(upstream: list[str], **changes) -> status.Status:
    history = [release(1), release(2)]
    fields = {
        "web": status.web_port(AppSettings(), history),
        "settings_problem": None,
        "containers": [container(3, "172.20.0.3"), container(4, "172.20.0.9", oneoff=True)],
        "upstream": upstream,
        "locks": [HELD, FREE],
        "release": history[-1],
    }
    return status.Status(**{**fields, **changes})


def test_one_envelope_for_any_number_of_hosts_with_failed_hosts_in_order():
    one = document("env", ("h1", {"env": {"A": "1"}}))
    assert one == {
        "schema": "leo.env/1",
        "app": "shop",
        "hosts": [{"host": "h1", "ok": True, "error": None, "env": {"A": "1"}}],
    }
    many = document(
        "env",
        ("h2", {"env": {}}),
        ("h1", StepFailed("app 'shop' has no env file on h1 (leo create?)")),
    )
    assert [(h["host"], h["ok"]) for h in many["hosts"]] == [("h2", True), ("h1", False)]
    assert many["hosts"][1] == {
        "host": "h1",
        "ok": False,
        "error": "app 'shop' has no env file on h1 (leo create?)",
    }


def test_a_commands_fields_cannot_shadow_the_envelope():
    with pytest.raises(ValueError, match="ok"):
        jsonout.host_entry("h1", {"ok": False})


def test_iso_utc_converts_to_utc():
    paris = datetime(2025, 1, 31, 14, 0, tzinfo=timezone(timedelta(hours=1)))
    assert jsonout.iso_utc(paris) == "2025-01-31T13:00:00Z"


def test_status_agreeing_carries_the_facts_the_text_shows():
    found = a_status(["172.20.0.3"])
    [entry] = document("status", ("h1", status.as_json(found)))["hosts"]
    assert entry["agree"] is True and "agree: yes" in status.lines(found)
    assert entry["web"] == {
        "service": "web",
        "port": 8000,
        "port_source": "EXPOSE",
        "port_release": 2,
        "settings_problem": None,
    }
    assert "web: service web, port 8000 (found in the image at release 2)" in status.lines(found)
    web, oneoff = entry["containers"]
    assert web["id"] == found.containers[0].id and web["state"] == "running"
    assert web["addresses"] == ["172.20.0.3"] and web["networks"]["other"] is None
    assert (web["oneoff"], web["in_upstream"], web["health"]) == (False, True, "healthy")
    assert oneoff["oneoff"] is True and oneoff["in_upstream"] is False
    assert entry["upstream"] == ["172.20.0.3"]
    assert entry["release"]["number"] == 2 and entry["release"]["current"] is True
    deploy, env = entry["locks"]
    assert deploy == {
        "name": "deploy",
        "held": True,
        "holder": "rotate by ci@runner pid 4242 since 2025-03-02T10:00:00Z",
        "purpose": "rotate",
        "by": "ci@runner",
        "pid": 4242,
        "since": "2025-03-02T10:00:00Z",
        "released": False,
    }
    assert env["held"] is False and env["holder"] is None


def test_status_disagreeing_says_so_in_both_renderings():
    found = a_status(["172.20.0.7"])
    [entry] = document("status", ("h1", status.as_json(found)))["hosts"]
    assert entry["agree"] is False
    assert entry["containers"][0]["in_upstream"] is False
    assert any(
        line.startswith("agree: NO (running web containers: 172.20.0.3)")
        for line in status.lines(found)
    )


def test_status_of_an_app_never_deployed():
    found = a_status([], containers=[], release=None, web=status.web_port(AppSettings(), []))
    [entry] = document("status", ("h1", status.as_json(found)))["hosts"]
    assert entry["release"] is None and entry["containers"] == [] and entry["agree"] is True
    assert entry["web"]["port"] is None and entry["web"]["port_source"] is None


@pytest.mark.parametrize(
    ("settings", "history", "expected"),
    [
        (AppSettings(web_port=8080), [], ("LEO_WEB_PORT", 8080, None)),
        (AppSettings(), [release(1, web={})], ("kept", 5000, None)),
        (AppSettings(), [release(1, web={"port": 5000, "how": "default"})], ("default", 5000, 1)),
    ],
)
def test_where_the_web_port_comes_from(settings, history, expected):
    port = status.web_port(settings, history)
    assert (port.source, port.port, port.release) == expected


def test_releases_newest_first_with_how_each_was_made():
    history = [
        release(1),
        release(2),
        release(3, origin=1, rolled_back_from=2, note="rollback to release 1"),
    ]
    [entry] = document("releases", ("h1", releases.releases_json(history)))["hosts"]
    assert entry["current"] == 3
    assert [r["number"] for r in entry["releases"]] == [3, 2, 1]
    assert [r["current"] for r in entry["releases"]] == [True, False, False]
    newest = entry["releases"][0]
    assert (newest["kind"], newest["origin"], newest["rolled_back_from"]) == ("rollback", 1, 2)
    assert entry["releases"][1]["kind"] == "deploy" and entry["releases"][1]["note"] is None
    assert newest["services"]["web"]["image"] == "shop:1"
    # the same order and mark as the text
    assert [line[:6] for line in releases.describe(history)] == ["*    3", "     2", "     1"]


def test_no_release_recorded():
    [entry] = document("releases", ("h1", releases.releases_json([])))["hosts"]
    assert entry == {"host": "h1", "ok": True, "error": None, "current": None, "releases": []}


def test_certs_days_left_and_expiring():
    now = datetime(2025, 3, 1, tzinfo=UTC)
    info = CertInfo(("shop.example", "www.shop.example"), "Pebble", now + timedelta(days=20))
    report = certreport.CertReport([certreport.Installed("shop.example", info, 20.0)], days=30)
    [entry] = document("certs", ("h1", certreport.as_json(report)))["hosts"]
    assert entry["expiring"] is True and entry["days"] == 30
    assert entry["certificates"] == [
        {
            "domain": "shop.example",
            "domains": ["shop.example", "www.shop.example"],
            "issuer": "Pebble",
            "not_after": "2025-03-21T00:00:00Z",
            "days_left": 20.0,
            "expiring": True,
        }
    ]
    assert certreport.lines(report)[0].endswith("(20 days)  EXPIRES SOON")
    calm = certreport.CertReport(report.certificates, days=14)
    assert certreport.as_json(calm)["expiring"] is False and not calm.expiring


def test_env_values_are_the_values_the_text_quotes():
    values = {"PLAIN": "a:b", "URL": 'p@ss "w$rd"\nnext', "EMPTY": ""}
    [entry] = document("env", ("h1", env_step.as_json(values)))["hosts"]
    assert entry["env"] == values and list(entry["env"]) == ["PLAIN", "URL", "EMPTY"]
    assert env_step.render(values).splitlines()[0] == "PLAIN=a:b"


def test_lock_owner_lines_parsed_or_kept_as_text():
    owner = lock_step.parse_owner("env.set A B by me@laptop pid 7 since 2025-01-01T00:00:00Z\n")
    assert (owner.purpose, owner.by, owner.pid) == ("env.set A B", "me@laptop", 7)
    odd = lock_step.parse_owner("someone, somewhere")
    assert (odd.line, odd.purpose, odd.pid, odd.since) == ("someone, somewhere", None, None, None)
    released = lock_step.LockState("deploy", True, owner, released=True)
    [entry] = document("lock", ("h1", lock_step.locks_json([released, FREE])))["hosts"]
    assert entry["locks"][0]["released"] is True and entry["locks"][1]["held"] is False
    assert released.describe().startswith("released deploy lock (env.set A B by me@laptop")
    assert lock_step.LockState("env", True).describe() == "env lock held: unknown owner"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_schema_is_valid_and_shares_the_envelope(command):
    schema = jsonout.schema(command)
    jsonschema.Draft202012Validator.check_schema(schema)
    reference = jsonout.schema("env")
    assert schema["properties"]["hosts"] == reference["properties"]["hosts"]
    assert schema["properties"]["schema"] == {"const": jsonout.schema_name(command)}
    assert schema["$defs"]["failed"] == reference["$defs"]["failed"]
    for key in jsonout.RESERVED:
        assert (
            schema["$defs"]["read"]["properties"][key]
            == reference["$defs"]["read"]["properties"][key]
        )


def test_definitions_used_by_two_commands_are_the_same():
    assert jsonout.schema("status")["$defs"]["lock"] == jsonout.schema("lock")["$defs"]["lock"]
    assert (
        jsonout.schema("status")["$defs"]["release"]
        == jsonout.schema("releases")["$defs"]["release"]
    )
