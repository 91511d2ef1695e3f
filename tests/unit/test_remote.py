"""The seam's own rules, run locally: every command bounded, timeouts named as such,
keepalive settings from ssh_config, lock holders that live on heartbeats."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import time

import pytest

from leo_tasks.errors import CommandFailed, LeoError
from leo_tasks.remote import (
    Command,
    Holder,
    Liveness,
    LocalRemote,
    _LocalProcess,
    bounded,
    run_all,
)
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


# ---- feed: streaming stdin into a command ---------------------------------------------


def local_remote(tmp_path) -> LocalRemote:
    return LocalRemote(Reporter(stream=io.StringIO()))


def pieces(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_feed_streams_every_byte_in_order_and_reports_progress(tmp_path):
    data = os.urandom(3_000_000)
    seen: list[int] = []
    result = local_remote(tmp_path).feed(["sha256sum"], pieces(data), on_progress=seen.append)
    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest()
    assert seen == [min(len(data), n) for n in range(65536, len(data) + 65536, 65536)]
    counted = local_remote(tmp_path).feed(["wc", "-c"], iter(pieces(data)))
    assert counted.stdout.strip() == str(len(data))


def test_feed_reads_output_while_writing_so_a_chatty_command_cannot_block(tmp_path):
    data = b"x" * 8_000_000  # far more than a pipe holds: cat would block on stdout
    result = local_remote(tmp_path).feed(["cat"], pieces(data), timeout=30)
    assert len(result.stdout) == len(data)


def test_feed_a_command_that_exits_early_fails_with_its_stderr(tmp_path):
    script = "head -c 10 >/dev/null; echo 'invalid tar header' >&2; exit 1"
    with pytest.raises(CommandFailed, match="invalid tar header") as failed:
        local_remote(tmp_path).feed(["sh", "-c", script], pieces(b"y" * 5_000_000))
    assert failed.value.exited == 1
    unchecked = local_remote(tmp_path).feed(["sh", "-c", script], [b"y"], check=False)
    assert (unchecked.exited, unchecked.stderr.strip()) == (1, "invalid tar header")


def test_feed_a_command_that_stops_reading_is_ended_by_its_timeout(tmp_path):
    started = time.monotonic()
    with pytest.raises(LeoError, match="timed out after 1s"):
        local_remote(tmp_path).feed(["sleep", "30"], pieces(b"z" * 5_000_000), timeout=1)
    assert time.monotonic() - started < 10


def test_feed_a_failing_source_stops_the_command_and_is_raised(tmp_path):
    def source():
        yield b"partial"
        raise LeoError("docker save failed on this machine")

    started = time.monotonic()
    with pytest.raises(LeoError, match="docker save failed"):
        local_remote(tmp_path).feed(["sleep", "30"], source(), timeout=60)
    assert time.monotonic() - started < 10  # the command was killed, not waited for


def test_feed_a_missing_program_is_exit_127(tmp_path):
    with pytest.raises(CommandFailed) as failed:
        local_remote(tmp_path).feed(["leo-no-such-program"], [b"x"], timeout=None)
    assert failed.value.exited == 127


def test_run_all_one_by_one_keeps_the_batch_semantics(tmp_path):
    """`--host local` (and any remote without its own run_all): the same answers."""
    local = local_remote(tmp_path)
    results = run_all(
        local,
        [
            Command(["sh", "-c", "exit 1"], check=False),
            Command(["echo", "ran"]),
            Command(["sh", "-c", "exit 2"], check=False),
        ],
        stop_at_failure=True,
    )
    assert [(r.exited, r.stdout) for r in results] == [(1, ""), (0, "ran\n"), (2, "")]
    with pytest.raises(CommandFailed) as failed:
        run_all(
            local,
            [Command(["false"]), Command(["touch", str(tmp_path / "no")])],
            stop_at_failure=True,
        )
    assert failed.value.argv[-1] == "false"
    assert not (tmp_path / "no").exists()  # stopped at the failure
