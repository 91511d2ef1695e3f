"""`leo logs` against the real test host: one app (web + worker) shared by every test.

The worker prints `worker v1 started` when it starts; later lines are written
from outside into the container's own stdout (`/proc/1/fd/1` of its PID 1),
which is exactly what docker records as the container's log.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import remove_app
from .hostkit import APPS, LEO, Background, Leo, containers, first_deploy, sh, write_compose

HOST = "leo-deploy@testhost"  # how leo names the host in every line
_names = itertools.count(1)


@pytest.fixture(scope="module")
def app(leo: Leo, deploy_host, tmp_path_factory) -> Iterator[str]:
    name = f"t{os.getpid() % 1000}-l{next(_names)}"
    compose = write_compose(
        tmp_path_factory.mktemp("logs") / "v1.yml", "leo-test-web:v1", worker="leo-test-worker:v1"
    )
    try:
        first_deploy(leo, name, compose)
        yield name
    finally:
        remove_app(name)


@pytest.fixture(scope="module")
def oneoff(leo: Leo, app: str) -> Iterator[str]:
    """A `leo run` one-off of the worker that has printed its line and is still there."""
    run = Background(
        leo, "run", "--app", app, "--host", "testhost", "--service", "worker",
        "--command", "echo oneoff-said-hi; sleep 60",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not [c for c in containers(app) if "-run-" in c.name]:
        assert time.monotonic() < deadline, f"the one-off never appeared:\n{run.stderr}"
        time.sleep(0.1)
    yield next(c.name for c in containers(app) if "-run-" in c.name)
    run.kill()


def worker(app: str) -> str:
    return f"{app}-worker-1"


def say(container: str, text: str) -> None:
    """Make the container print `text` as its own output."""
    sh("docker", "exec", container, "sh", "-c", 'echo "$1" > /proc/1/fd/1', "sh", text)


def logs(leo: Leo, app: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    return leo("logs", "--app", app, "--host", "testhost", *args, ok=ok)


def test_every_service_and_line_is_shown_prefixed_and_one_offs_only_when_asked(leo, app, oneoff):
    shown = logs(leo, app)
    assert f"[{HOST}] {worker(app)} | worker v1 started" in shown.stdout.splitlines()
    assert "oneoff-said-hi" not in shown.stdout and oneoff not in shown.stdout
    assert shown.stderr == ""  # stdout has the lines, stderr nothing to say
    with_oneoffs = logs(leo, app, "--oneoffs").stdout
    assert f"{oneoff} | oneoff-said-hi" in with_oneoffs


def test_since_tail_and_grep_filter_on_what_the_app_printed(leo, app):
    before = datetime.now(UTC).isoformat()
    say(worker(app), "late-line one")
    say(worker(app), "late-line two")

    since = logs(leo, app, "--service", "worker", "--since", before).stdout
    assert "late-line one" in since and "late-line two" in since
    assert "worker v1 started" not in since
    assert "worker v1 started" in logs(leo, app, "--since", "1h").stdout

    tail = logs(leo, app, "--service", "worker", "--tail", "1", "--timestamps").stdout
    assert re.fullmatch(rf"\[{HOST}\] {worker(app)} \| 20\S+Z late-line two\n", tail)
    assert logs(leo, app, "--tail", "0").stdout == ""

    grep = logs(leo, app, "--grep", r"line\s+o").stdout.splitlines()
    assert grep == [f"[{HOST}] {worker(app)} | late-line one"]


def test_service_picks_one_and_a_service_without_containers_is_named(leo, app):
    web = logs(leo, app, "--service", "web").stdout
    assert "worker" not in web
    missing = logs(leo, app, "--service", "db", ok=False)
    assert missing.returncode == 1
    assert "no containers of service 'db'" in missing.stderr
    assert "services with containers: web, worker" in missing.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["--since", "yesterday"], "--since takes a duration"),
        (["--tail", "-1"], "--tail takes a number"),
        (["--grep", "(unclosed"], "not a valid regular expression"),
    ],
)
def test_bad_input_is_refused_before_connecting(leo, args, says):
    # An unresolvable host: reaching it would be exit 3, so exit 2 means it never tried.
    result = leo("logs", "--app", "shop", "--host", "nowhere.invalid", *args, ok=False)
    assert result.returncode == 2 and says in result.stderr


def test_an_app_that_does_not_exist(leo, deploy_host):
    result = leo("logs", "--app", "no-such-app-here", "--host", "testhost", ok=False)
    assert result.returncode == 1 and "does not exist" in result.stderr


def leftovers(app: str) -> list[str]:
    """leo-deploy's processes that belong to a `leo logs` of this app, seen as root."""
    ids = {c.id for c in containers(app)}
    # -ww: whole command lines, whatever COLUMNS says.
    processes = sh("ps", "-ww", "-u", "leo-deploy", "-o", "pid=,args=").stdout.splitlines()
    return [
        p
        for p in processes
        if (str(APPS / app) in p and "leo-logs" in p)
        or ("docker logs" in p and any(i in p for i in ids))
    ]


def _sigint_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Follow:
    """`leo logs --follow` in the background, its stdout collected line by line."""

    def __init__(self, leo: Leo, *args: str, cwd: Path | None = None) -> None:
        self.proc = subprocess.Popen(
            [LEO, "logs", "--follow", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HOME": str(leo.home)},
            # As from a terminal: a test run started in the background by a script
            # (scripts/test.sh runs shards with `&`) inherits SIGINT ignored, and so
            # would leo, which then keeps following after the "Ctrl-C" below.
            preexec_fn=_sigint_as_from_a_terminal,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"never saw {text!r}: {self.lines}\n{self.proc.stderr.read()}")
            time.sleep(0.05)

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=30)
        return code, self.proc.stderr.read()


def test_follow_streams_new_lines_and_containers_and_ctrl_c_leaves_the_host_clean(
    leo, app, tmp_path
):
    follow = Follow(leo, "--app", app, "--host", "testhost")
    try:
        follow.wait_for(f"{worker(app)} | worker v1 started")
        assert leftovers(app), "the followers run on the host while leo follows"
        say(worker(app), "printed while following")
        follow.wait_for(f"[{HOST}] {worker(app)} | printed while following")
        # A container that starts meanwhile (as in a rotate) is followed from its first line.
        app_dir = Path(APPS / app)
        sh(
            "docker", "compose", "--project-directory", str(app_dir), "-p", app,
            "-f", str(app_dir / "docker-compose.yml"),
            "-f", str(app_dir / "docker-compose.leo.yml"),
            "up", "-d", "--no-recreate", "--scale", "worker=2", "worker",
        )  # fmt: skip
        follow.wait_for(f"{app}-worker-2 | worker v1 started")
    finally:
        code, stderr = follow.interrupt()
    assert code == 0, stderr
    assert "interrupted" not in stderr
    # leo waited for the host to stop its followers: nothing of this follow is left.
    deadline = time.monotonic() + 2
    while leftovers(app) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(app) == []
