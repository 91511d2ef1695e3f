"""leo's command runner (remote.RUNNER_SCRIPT and its client), with a real bash.

Over SSH the runner's channel is a paramiko Channel; here the same script runs
under a local bash, its pipes wrapped in the few Channel methods the client
uses, so the framing, the quoting and the stop-at-failure flags are checked
byte for byte without a host.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from leo_tasks.commands import fs
from leo_tasks.remote import RUNNER_SCRIPT, Command, _flags, _Runner


class PipeChannel:
    """A local bash running RUNNER_SCRIPT, looking like a paramiko Channel."""

    def __init__(self, tmp: Path) -> None:
        # The runner keeps its scratch files in /dev/shm: here, in the test's directory.
        assert RUNNER_SCRIPT.count("for t in /dev/shm ") == 1
        script = RUNNER_SCRIPT.replace("for t in /dev/shm ", f"for t in {tmp} ")
        self.proc = subprocess.Popen(
            ["bash", "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def sendall(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def settimeout(self, timeout: float | None) -> None:
        pass

    def recv(self, size: int) -> bytes:
        return os.read(self.proc.stdout.fileno(), size)

    def recv_stderr_ready(self) -> bool:
        return False

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


@pytest.fixture
def runner(tmp_path):
    channel = PipeChannel(tmp_path)
    yield _Runner(channel)
    channel.close()


def exchange(runner: _Runner, commands: list[Command], stop_at_failure: bool = False):
    for c, flags in zip(commands, _flags(commands, stop_at_failure), strict=True):
        runner.send(shlex.join(c.argv), (c.stdin or "").encode(), flags)
    return [runner.receive(10) for _ in commands]


def test_each_command_gets_its_own_exit_status_stdout_and_stderr(runner):
    answers = exchange(
        runner,
        [
            Command(["sh", "-c", "echo out; echo err >&2; exit 3"]),
            Command(["true"]),
            Command(["printf", "%s", "no newline at the end"]),
        ],
    )
    assert answers == [(3, "out\n", "err\n"), (0, "", ""), (0, "no newline at the end", "")]


def test_arguments_arrive_exactly_as_given(runner):
    nasty = ["a b", "it's", '"q"', "$HOME", "`id`", "; rm -rf /", "ünï", "*", "-n", ""]
    [(exited, out, _)] = exchange(runner, [Command(["printf", "[%s]\\n", *nasty])])
    assert exited == 0
    assert out.splitlines() == [f"[{a}]" for a in nasty]


def test_stdin_bytes_reach_the_command_whole(runner):
    text = "line one\n\n  spaces and a tab\t$NOT_EXPANDED 'q' \"qq\" \\ end" * 2000
    [(exited, out, _)] = exchange(runner, [Command(["sha256sum"], stdin=text)])
    assert exited == 0
    assert out.split()[0] == hashlib.sha256(text.encode()).hexdigest()


def test_output_a_command_leaves_running_cannot_put_the_answers_out_of_step(runner):
    """A background child still writing to the command's stdout after it exited: the
    answer carries exactly what was there at the end, and the next one is intact."""
    script = "echo first; (sleep 0.2; echo late; sleep 0.2; echo later) & exit 0"
    answers = exchange(runner, [Command(["sh", "-c", script]), Command(["echo", "next"])])
    assert answers[0] == (0, "first\n", "")
    assert answers[1] == (0, "next\n", "")
    time.sleep(0.6)  # the late lines went to a file nobody reads any more
    assert exchange(runner, [Command(["echo", "after"])]) == [(0, "after\n", "")]


def test_large_output_and_commands_after_it_stay_in_step(runner):
    answers = exchange(
        runner,
        [Command(["head", "-c", "3000000", "/dev/zero"]), Command(["echo", "after"])],
    )
    assert answers[0][0] == 0 and len(answers[0][1]) == 3_000_000
    assert answers[1] == (0, "after\n", "")


def test_a_command_without_stdin_reads_end_of_file_at_once(runner):
    assert exchange(runner, [Command(["cat"])]) == [(0, "", "")]


def test_stop_at_failure_skips_what_follows_a_checked_failure(runner):
    answers = exchange(
        runner,
        [
            Command(["sh", "-c", "exit 1"], check=False),  # tolerated: the batch goes on
            Command(["echo", "ran"]),
            Command(["sh", "-c", "echo broke >&2; exit 2"]),  # checked: stops the batch
            Command(["echo", "must not run"]),
        ],
        stop_at_failure=True,
    )
    assert answers == [(1, "", ""), (0, "ran\n", ""), (2, "", "broke\n"), None]
    # The next batch starts afresh.
    assert exchange(runner, [Command(["echo", "next"])], stop_at_failure=True) == [
        (0, "next\n", "")
    ]


def test_without_stop_at_failure_every_command_runs(runner):
    answers = exchange(runner, [Command(["false"]), Command(["echo", "still"])])
    assert answers == [(1, "", ""), (0, "still\n", "")]


def test_put_writes_atomically_with_its_mode(runner, tmp_path):
    target = tmp_path / "dir with space" / "env"
    target.parent.mkdir()
    data = "SECRET='a b'\nX=$(id)\n"
    [(exited, _, err)] = exchange(runner, [Command(fs.write(str(target), mode=0o600), stdin=data)])
    assert (exited, err) == (0, "")
    assert target.read_text() == data
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["env"]  # no temp file left


def test_a_failed_put_leaves_no_temp_file(runner, tmp_path):
    target = tmp_path / "missing-dir" / "file"
    [(exited, _, err)] = exchange(runner, [Command(fs.write(str(target), mode=0o644), stdin="x")])
    assert exited != 0 and "missing-dir" in err
    assert not (tmp_path / "missing-dir").exists()


def test_the_runner_removes_its_scratch_directory_when_leo_goes(tmp_path):
    channel = PipeChannel(tmp_path)
    runner = _Runner(channel)
    assert exchange(runner, [Command(["true"])]) == [(0, "", "")]
    assert [p.name.startswith("leo-runner.") for p in tmp_path.iterdir()] == [True]
    channel.close()  # EOF, as when the SSH channel closes
    assert list(tmp_path.iterdir()) == []


def test_nothing_of_a_command_stays_in_the_scratch_directory(tmp_path):
    """env.set sends a secret on stdin: it is not left on disk after the command."""
    channel = PipeChannel(tmp_path)
    runner = _Runner(channel)
    secret = "s3cr3t-value"
    assert exchange(runner, [Command(["cat"], stdin=secret)]) == [(0, secret, "")]
    # The files are emptied once the answer is sent: by the next answer, surely.
    assert exchange(runner, [Command(["true"])]) == [(0, "", "")]
    [scratch] = tmp_path.iterdir()
    assert scratch.stat().st_mode & 0o777 == 0o700
    for path in scratch.iterdir():  # the command line, and its emptied stdin
        assert secret not in path.read_text(), path.name
    names = {p.name for p in scratch.iterdir()}
    assert not names & {"out.1", "err.1"}  # the first command's output files are gone
    channel.close()


def test_swap_reads_the_old_content_and_writes_the_new_in_one_command(runner, tmp_path):
    target = tmp_path / "upstream.conf"
    [(exited, out, _)] = exchange(runner, [Command(fs.swap(str(target), mode=0o644), stdin="a\n")])
    assert exited == 0 and fs.parse_swapped(out) is None  # there was no file
    assert target.read_text() == "a\n" and target.stat().st_mode & 0o777 == 0o644
    inode = target.stat().st_ino
    [(_, out, _)] = exchange(runner, [Command(fs.swap(str(target), mode=0o644), stdin="a\n")])
    assert fs.parse_swapped(out) == "a\n"
    assert target.stat().st_ino == inode  # the same content: the file was left alone
    [(_, out, _)] = exchange(runner, [Command(fs.swap(str(target), mode=0o600), stdin="b")])
    assert fs.parse_swapped(out) == "a\n"
    assert target.read_text() == "b" and target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["upstream.conf"]
