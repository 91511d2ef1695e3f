"""env, env.set, env.del: values reach the container byte for byte through compose."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from leo_tasks.envfile import EnvFile

from .conftest import domain_of
from .hostkit import APPS, LEO, http_raw, set_env
from .test_rotate import deploy_v1

NASTY = {
    "QUOTES": "it's \"quoted\" 'twice'",
    "DOLLAR": "$HOME ${PATH} $$ $(id) $",
    "HASH": "#not a comment # nor this",
    "AMP": "postgres://u:p@db/x?a=1&b=2;c|d",
    "BACKTICKS": "`id` and \\`x\\`",
    "BACKSLASH": "C:\\path\\n\\t\\\\",
    "SPACES": "  leading and trailing  ",
    "EQUALS": "a=b==c",
    "UNICODE": "héllo wörld ✓ 日本 \u2028 end",
    "NEWLINES": "line1\nline2\r\nline3",
    "EMPTY": "",
    "ENDS_QUOTE": "ends with '",
    "ENDS_DQUOTE": 'ends with "',
    "DASH": "-x",
}


def test_values_reach_the_container_exactly(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    for name, value in NASTY.items():
        set_env(leo, app, name, value)
    leo("rotate", "--app", app, "--host", "testhost")
    for name, value in NASTY.items():
        assert http_raw(domain_of(app), f"/cgi-bin/env?{name}") == value.encode(), name
    shown = leo("env", "--app", app, "--host", "testhost").stdout
    assert {k: v for k, v in EnvFile.parse(shown).values().items() if k in NASTY} == NASTY
    env_file = APPS / app / "env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_set_same_value_is_unchanged_and_del_removes(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    first = set_env(leo, app, "A", "1")
    assert "changed: run `leo rotate`" in first.stderr
    again = set_env(leo, app, "A", "1")
    assert ": unchanged" in again.stderr
    leo("env.del", "--app", app, "--host", "testhost", "--name", "A")
    assert "A=" not in (APPS / app / "env").read_text()
    gone = leo("env.del", "--app", app, "--host", "testhost", "--name", "A")
    assert "unchanged (not set)" in gone.stderr


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", "", "A=B", "$X"])
def test_invalid_names_are_refused(leo, app, name):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    before = (APPS / app / "env").read_bytes()
    result = leo(
        "env.set", "--app", app, "--host", "testhost", "--name", name, "--value", "x", ok=False
    )
    assert result.returncode == 2 and "invalid variable name" in result.stderr
    assert (APPS / app / "env").read_bytes() == before


def test_concurrent_sets_lose_nothing(leo, app):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    env = {**os.environ, "HOME": str(leo.home)}
    procs = [
        subprocess.Popen(
            [
                LEO,
                "env.set",
                "--app",
                app,
                "--host",
                "testhost",
                "--name",
                f"VAR_{i}",
                "--value",
                f"value {i}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in outcomes), outcomes
    values = EnvFile.parse((APPS / app / "env").read_text()).values()
    assert values == {f"VAR_{i}": f"value {i}" for i in range(8)}


def test_env_push_sets_a_whole_file_prints_names_only_and_prunes(leo, app, tmp_path):
    deploy_v1(leo, app, tmp_path)
    set_env(leo, app, "KEEP", "1")
    set_env(leo, app, "OLD", "going")
    local = EnvFile.parse("")
    for name, value in {**NASTY, "KEEP": "2"}.items():
        local.set(name, value)
    dotenv = tmp_path / ".env.production"
    dotenv.write_text(local.render())

    def push(*extra: str):
        return leo("env.push", "--app", app, "--host", "testhost", "--file", str(dotenv), *extra)

    done = push()
    assert f"added {', '.join(NASTY)}; changed KEEP" in done.stderr
    said = done.stdout + done.stderr
    assert not [v for v in NASTY.values() if len(v) > 3 and v in said]  # names, never values
    leo("rotate", "--app", app, "--host", "testhost")
    for name, value in NASTY.items():
        assert http_raw(domain_of(app), f"/cgi-bin/env?{name}") == value.encode(), name
    assert http_raw(domain_of(app), "/cgi-bin/env?KEEP") == b"2"

    assert ": unchanged" in push().stderr  # nothing written the second time
    pruned = push("--prune")
    assert "removed OLD" in pruned.stderr
    after = EnvFile.parse((APPS / app / "env").read_text()).values()
    assert "OLD" not in after and after["LEO_DRAIN_SECONDS"] == "0.5"  # leo's own are kept
    assert {k: after[k] for k in NASTY} == NASTY


def test_env_push_of_a_file_leo_cannot_read_changes_nothing(leo, app, tmp_path):
    leo("create", "--app", app, "--host", "testhost", "--image", "leo-test-web:v1")
    before = (APPS / app / "env").read_bytes()
    dotenv = tmp_path / "bad.env"
    dotenv.write_text('GOOD=1\nSECRET="unterminated\nmore secret\n')
    result = leo("env.push", "--app", app, "--host", "testhost", "--file", str(dotenv), ok=False)
    assert result.returncode == 2, result.stderr
    assert "bad.env" in result.stderr and "more secret" not in result.stderr
    assert (APPS / app / "env").read_bytes() == before
    port = tmp_path / "port.env"
    port.write_text("LEO_WEB_PORT=http\n")
    refused = leo("env.push", "--app", app, "--host", "testhost", "--file", str(port), ok=False)
    assert refused.returncode == 2 and "LEO_WEB_PORT must be a TCP port" in refused.stderr
    assert (APPS / app / "env").read_bytes() == before
