"""The seam's own rules, run locally: every command bounded, timeouts named as such,
keepalive settings from ssh_config, lock holders that live on heartbeats."""

from __future__ import annotations

import subprocess
import time

import pytest

from leo_tasks.errors import CommandFailed, LeoError
from leo_tasks.remote import Holder, Liveness, LocalRemote, _LocalProcess, bounded
from leo_tasks.report import Reporter
from leo_tasks.steps.lock import flock_argv
from leo_tasks.taskkit import liveness_of


def test_every_command_runs_under_coreutils_timeout():
    assert bounded(["docker", "ps"], 120) == ["timeout", "--kill-after=10", "120", "docker", "ps"]
    assert bounded(["x"], 0.2)[2] == "1"  # never 0: `timeout 0` means no limit
    assert bounded(["x"], None) == ["x"]


def test_a_command_that_runs_too_long_is_stopped_and_named(tmp_path):
    remote = LocalRemote(Reporter(stream=open(tmp_path / "log", "w")))  # noqa: SIM115
    started = time.monotonic()
    with pytest.raises(LeoError, match=r"timed out after 1s on local: .*sleep 30"):
        remote.run(["sleep", "30"], timeout=1)
    assert time.monotonic() - started < 10
    with pytest.raises(CommandFailed):
        remote.run(["sh", "-c", "exit 3"])


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, Liveness(15.0, 3)),
        ({"serveraliveinterval": "1", "serveralivecountmax": "2"}, Liveness(1.0, 2)),
        ({"serveraliveinterval": "0"}, Liveness(15.0, 3)),  # OpenSSH's "off": leo keeps it on
        ({"serveraliveinterval": "x"}, Liveness(15.0, 3)),
    ],
)
def test_liveness_comes_from_ssh_config(config, expected):
    assert liveness_of(config) == expected
    assert expected.silence == expected.interval * (expected.count_max + 1)


def holder(tmp_path, liveness: Liveness) -> Holder:
    argv = flock_argv(str(tmp_path / "x.lock"), "test", 0, liveness.silence)
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return Holder(_LocalProcess(proc), liveness)


def test_a_holder_that_hears_heartbeats_keeps_the_lock(tmp_path):
    lock = holder(tmp_path, Liveness(interval=0.2, count_max=2))
    assert lock.first_line().strip() == "locked"
    time.sleep(1.5)  # more than `silence` (0.6 s, rounded up to 1 s by the holder)
    assert lock.alive()
    lock.release()
    assert not lock.alive()


def test_a_holder_that_hears_nothing_gives_the_lock_up(tmp_path):
    liveness = Liveness(interval=60, count_max=0)  # no heartbeat for a minute...
    argv = flock_argv(str(tmp_path / "x.lock"), "test", 0, 1)  # ...a holder patient for 1 s
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lock = Holder(_LocalProcess(proc), liveness)
    assert lock.first_line().strip() == "locked"
    proc.wait(timeout=10)
    assert not lock.alive()
    # The lock is free again for anyone.
    again = subprocess.run(["flock", "--nonblock", str(tmp_path / "x.lock"), "true"], check=False)
    assert again.returncode == 0
    lock.release()
