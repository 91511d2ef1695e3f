"""THE seam between leo and a host: run an argv, put a file.

Everything leo does on a server goes through `Remote.run(argv)` and
`Remote.put(data, path, mode)`, or `Remote.feed(argv, chunks)` for data too
big to hold in memory (a `docker save` stream). This is the only module that
turns an argv into a shell string (`shlex.join`) and the only one that talks
SSH, so quoting is done in exactly one place and steps can run locally or
remotely.

Nothing here may wait forever: every command runs under coreutils `timeout`
on the host (a client-side timeout alone leaves the remote process running),
SSH connections send keepalives and are closed when the server stops
answering them, and lock holders expect a heartbeat (see `Holder`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import pwd
import secrets
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Protocol

import paramiko

from .commands import fs
from .errors import CommandFailed, ConnectionProblem, LeoError, TimedOut
from .hosts import local_deploy_user
from .report import Reporter

# Seconds one remote command may take unless its caller says otherwise. Slow
# commands (pulls, `compose up`, `docker stop`) pass their own limit.
DEFAULT_TIMEOUT = 120.0
# Exit status of coreutils `timeout` when it had to stop the command.
TIMED_OUT = 124
# OpenSSH's defaults would be 0 (off) and 3; a deploy tool wants dead links found.
KEEPALIVE_INTERVAL = 15.0
KEEPALIVE_COUNT_MAX = 3
# Seconds a host may leave leo's input unread before `feed` gives up on it. Longer
# than the keepalives' patience, so that a dead link is reported as one.
STALL_TIMEOUT = 120.0


@dataclass(frozen=True)
class Result:
    argv: list[str]
    exited: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exited == 0


@dataclass(frozen=True)
class Liveness:
    """How often the far side must show it is alive, and how many misses end the link.

    From ~/.ssh/config's ServerAliveInterval / ServerAliveCountMax. Lock
    holders on the host use the same figures: they give up the lock when the
    run's heartbeat has been silent for `silence` seconds.
    """

    interval: float = KEEPALIVE_INTERVAL
    count_max: int = KEEPALIVE_COUNT_MAX

    @property
    def silence(self) -> float:
        return self.interval * (self.count_max + 1)


class Remote(Protocol):
    """What steps need from a host. Implemented over SSH and for `--host local`."""

    name: str
    commands_run: int
    liveness: Liveness

    def run(
        self,
        argv: Sequence[str],
        *,
        sudo: bool = False,
        check: bool = True,
        timeout: float | None = DEFAULT_TIMEOUT,
        stdin: str | None = None,
    ) -> Result: ...

    def put(
        self, data: bytes, path: str, *, mode: int, sudo: bool = False, owner: str | None = None
    ) -> None: ...

    def interactive(self, argv: Sequence[str], *, pty: bool) -> int: ...

    def feed(
        self,
        argv: Sequence[str],
        chunks: Iterable[bytes],
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        on_progress: Callable[[int], None] | None = None,
        check: bool = True,
    ) -> Result:
        """Run `argv` with `chunks` streamed to its stdin, as they come.

        `on_progress` is called with the number of bytes sent so far after each
        chunk. A command that exits before reading everything ends the transfer;
        its exit status and stderr say why (CommandFailed when `check`).
        """
        ...

    def hold(self, argv: Sequence[str], *, sudo: bool = False, binary: bool = False) -> Holder:
        """Start `argv` and keep it running until released or until leo dies.

        Used for locks: a process on the host that holds `flock` for exactly as
        long as this run lives, so a killed run cannot leave a stale lock; and
        for `leo logs --follow`, whose stream is read as bytes (`binary`): an
        app may print anything.
        """
        ...

    def close(self) -> None: ...


SUDO = ("sudo", "-n", "--")

# leo's command runner: one shell on the host that runs leo's commands one after
# another on a single SSH channel. A command on an exec channel of its own costs
# three round trips (open the channel, start the command, its exit status); through
# the runner it costs one, and commands sent together (`run_all`) one in all.
# Frames in: "<command bytes> <stdin bytes> <flags>\n", the command line (made by
# shlex.join, the one quoting point), its stdin. Flags, for `stop_at_failure`: 1
# starts a batch, 4 a failure of this command stops the batch, 2 skip this command
# (answer "- 0 0") when the batch was stopped. Frames out:
# "<exit> <stdout bytes> <stderr bytes>\n", stdout, stderr. `dd iflag=fullblock`
# reads exactly N bytes, binary-safe; each command runs in a bash of its own, as
# sshd would run it. The scratch files live in a 0700 directory of the deploy user's
# in /dev/shm (memory: a full disk does not stop leo, and no secret reaches a disk),
# else in /tmp; they are emptied or removed after each command and the directory
# when leo goes. Outputs are small: `leo logs` streams on a channel of its own.
RUNNER_SCRIPT = r"""
for t in /dev/shm "${TMPDIR:-/tmp}"; do
  d=$(mktemp -d "$t/leo-runner.XXXXXXXX" 2>/dev/null) && break
done
[ -n "$d" ] || { echo "leo runner: no scratch directory in /dev/shm or /tmp" >&2; exit 1; }
trap 'rm -rf -- "$d"' EXIT
take() {
  if [ "$1" -gt 0 ]; then dd bs="$1" count=1 iflag=fullblock status=none > "$2" || return 1
  else : > "$2"; fi
  [ "$(stat -c %s -- "$2")" = "$1" ]
}
stopped=0
n=0
while read -r clen ilen flags; do
  take "$clen" "$d/cmd" && take "$ilen" "$d/in" || { echo "leo runner: short frame" >&2; exit 1; }
  [ $((flags & 1)) = 0 ] || stopped=0
  if [ $((flags & 2)) != 0 ] && [ "$stopped" = 1 ]; then printf -- '- 0 0\n'; continue; fi
  n=$((n + 1)); out="$d/out.$n"; err="$d/err.$n"
  bash "$d/cmd" < "$d/in" > "$out" 2> "$err"
  rc=$?
  : > "$d/in"  # a secret on stdin (env.set) stays no longer
  [ $((flags & 4)) = 0 ] || [ "$rc" = 0 ] || stopped=1
  set -- $(stat -c %s -- "$out" "$err")
  printf '%s %s %s\n' "$rc" "$1" "$2"
  # Exactly the sizes announced, even if something the command left running still
  # writes to its output (that goes on into files nobody reads: removed here).
  head -c "$1" -- "$out"; head -c "$2" -- "$err"
  rm -f -- "$out" "$err"
done
"""

RUNNER_COMMAND = shlex.join(["bash", "-c", RUNNER_SCRIPT])


@dataclass(frozen=True)
class Command:
    """One remote command of a `run_all` batch: `Remote.run`'s arguments."""

    argv: Sequence[str]
    sudo: bool = False
    check: bool = True
    timeout: float | None = DEFAULT_TIMEOUT
    stdin: str | None = None


def put_command(text: str, path: str, *, mode: int, sudo: bool = False) -> Command:
    """`Remote.put` of a text, as a command of a `run_all` batch."""
    return Command(fs.write(path, mode=mode), sudo=sudo, stdin=text)


def run_all(
    remote: Remote, commands: Sequence[Command], *, stop_at_failure: bool = False
) -> list[Result]:
    """Run `commands` in order; the results of those that ran.

    Over SSH they travel together: one round trip for all. Each runs whatever
    the others did, unless `stop_at_failure`: then the commands after the first
    checked one (`check=True`) that failed do not run, and the list ends with
    that failure. A checked command that failed raises (CommandFailed) once every
    result is in. For remotes that cannot batch (`--host local`, fakes), one by one.
    """
    batch = getattr(remote, "run_all", None)
    if batch is not None:
        return batch(commands, stop_at_failure=stop_at_failure)
    results = []
    for c in commands:
        result = remote.run(c.argv, sudo=c.sudo, check=False, timeout=c.timeout, stdin=c.stdin)
        results.append(result)
        if stop_at_failure and c.check and not result.ok:
            break
    for result, c in zip(results, commands, strict=False):
        _checked(remote.name, result, c.check, c.timeout)
    return results


def bounded(argv: Sequence[str], timeout: float | None) -> list[str]:
    """`argv` under coreutils `timeout`: SIGTERM at `timeout` seconds, SIGKILL 10 s later."""
    if timeout is None:
        return list(argv)
    return ["timeout", "--kill-after=10", str(max(1, math.ceil(timeout))), *argv]


def _checked(host: str, result: Result, check: bool, timeout: float | None) -> Result:
    if timeout is not None and result.exited == TIMED_OUT:
        raise TimedOut(
            result.argv,
            f"command timed out after {timeout:g}s on {host}: {shlex.join(result.argv)}"
            + (f"\n  {result.stderr.strip()[-500:]}" if result.stderr.strip() else ""),
        )
    if check and not result.ok:
        raise CommandFailed(host, result.argv, result.exited, result.stdout, result.stderr)
    return result


def _temp_name(path: str) -> str:
    return f"{path}.leo-tmp-{secrets.token_hex(4)}"


def _lost(name: str, exc: BaseException, liveness: _KeepAlive | None = None) -> ConnectionProblem:
    why = liveness.why if liveness is not None and liveness.why else str(exc) or type(exc).__name__
    return ConnectionProblem(f"lost the SSH connection to {name}: {why}")


def prefetch(remote: Remote, commands: Sequence[Command]) -> None:
    """Run read-only `commands` now, together, for steps that will ask for them next.

    A later `run` (or `run_all`) of exactly these commands gets the answer kept
    here instead of a round trip of its own. Any other command, upload or stream
    first drops every kept answer, so an answer is never older than it would
    have been had the commands run one after the other. Remotes that do not
    batch (`--host local`) just run each command when asked.
    """
    keep = getattr(remote, "prefetch", None)
    if keep is not None and commands:
        keep(commands)


def _flags(commands: Sequence[Command], stop_at_failure: bool) -> list[int]:
    """Each command's runner flags (RUNNER_SCRIPT): with `stop_at_failure`, the batch
    starts afresh, a checked command's failure stops it, and every command is skipped
    once it is stopped."""
    if not stop_at_failure:
        return [0] * len(commands)
    return [(1 if i == 0 else 0) | 2 | (4 if c.check else 0) for i, c in enumerate(commands)]


class _KeepAlive:
    """OpenSSH's ServerAlive for a paramiko transport.

    Paramiko's own keepalive never waits for an answer, so a link that went
    silent (a dropped VPN, a suspended NAT entry) would leave leo blocked on a
    read for hours while it holds the app's lock. Here a keepalive that wants a
    reply is sent every `interval` seconds; when no reply comes within
    `interval * count_max`, the transport is closed and whatever leo was
    waiting for fails with "lost the SSH connection".
    """

    def __init__(self, transport: paramiko.Transport, liveness: Liveness) -> None:
        self.transport = transport
        self.liveness = liveness
        self.why = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="leo-keepalive")
        self._thread.start()

    def _watch(self) -> None:
        patience = self.liveness.interval * self.liveness.count_max
        while not self._stop.wait(self.liveness.interval):
            if not self.transport.is_active():
                return
            ping = threading.Thread(target=self._ping, daemon=True)
            ping.start()
            ping.join(patience)
            if ping.is_alive():
                # After a suspend the answer may be waiting, unread: a moment more.
                ping.join(min(self.liveness.interval, 2.0))
            if ping.is_alive() and not self._stop.is_set():
                self.why = f"no answer to SSH keepalives for {patience:g}s"
                self.transport.close()
                return

    def _ping(self) -> None:
        # Any reply (OpenSSH answers "request failed") proves the server is there.
        with contextlib.suppress(Exception):
            self.transport.global_request("keepalive@openssh.com", wait=True)

    def stop(self) -> None:
        self._stop.set()


# Session channels kept open ahead: a deploy takes two locks one after the other.
SPARES = 2


class _Opening:
    """A session channel being opened in the background, for a later exec.

    Opening a channel is a round trip of its own before the command can even be
    sent; with one opened ahead, a lock holder costs one round trip, not two.
    """

    def __init__(self, transport: paramiko.Transport) -> None:
        self.channel: paramiko.Channel | None = None
        self._thread = threading.Thread(
            target=self._open, args=(transport,), daemon=True, name="leo-channel-open"
        )
        self._thread.start()

    def _open(self, transport: paramiko.Transport) -> None:
        # A failure shows again when the channel is opened the usual way.
        with contextlib.suppress(Exception):
            self.channel = transport.open_session()

    def take(self, timeout: float | None = None) -> paramiko.Channel | None:
        self._thread.join(timeout)
        channel = self.channel
        return channel if channel is not None and not channel.closed else None


class _Runner:
    """The client side of RUNNER_SCRIPT: one session channel, frames in order.

    Not thread-safe by itself: SSHRemote serialises its use. Any failure half-way
    through an exchange (a timeout, Ctrl-C, a lost link) leaves the frames out of
    step, so the runner is then closed for good and the next command starts a new
    one; the command it was running still ends by its own `timeout`.
    """

    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel
        self._buffer = bytearray()

    def send(self, command: str, stdin: bytes, flags: int = 0) -> None:
        data = command.encode()
        header = f"{len(data)} {len(stdin)} {flags}\n".encode()
        self.channel.sendall(header + data + stdin)

    def receive(self, timeout: float | None) -> tuple[int, str, str] | None:
        """A command's (exit status, stdout, stderr), or None: it was skipped."""
        self.channel.settimeout(timeout)
        header = self._line()
        if header == "- 0 0":
            return None
        fields = header.split()
        if len(fields) != 3 or not all(f.isdigit() for f in fields):
            raise EOFError(f"leo's command runner answered {header[:80]!r}")
        exited, out_size, err_size = (int(f) for f in fields)
        out = self._exactly(out_size).decode("utf-8", "replace")
        err = self._exactly(err_size).decode("utf-8", "replace")
        return exited, out, err

    def _fill(self) -> None:
        chunk = self.channel.recv(65536)
        if not chunk:
            raise EOFError("leo's command runner stopped")
        self._buffer += chunk

    def _line(self) -> str:
        while b"\n" not in self._buffer:
            self._fill()
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return line.decode("utf-8", "replace")

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def why_stopped(self) -> str:
        """The runner's own stderr, once it has stopped (a missing `dd`, a full /tmp)."""
        with contextlib.suppress(Exception):
            if self.channel.recv_stderr_ready():
                return self.channel.recv_stderr(4096).decode("utf-8", "replace").strip()
        return ""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.channel.close()


class SSHRemote:
    """A host reached through a Fabric Connection (host keys already enforced)."""

    def __init__(
        self, connection, reporter: Reporter, name: str, liveness: Liveness | None = None
    ) -> None:
        self.connection = connection
        self.reporter = reporter
        self.name = name
        self.commands_run = 0
        self.uploads = 0  # puts, which go through the runner too (no SFTP)
        self.channels_opened = 0  # exec channels: the runner, lock holders, streams
        # Round trips leo waited for: one per runner exchange (a batch of commands is
        # one), two per channel opened (open, exec). Connecting is not counted here.
        self.round_trips = 0
        self.is_root = connection.user == "root"
        self.liveness = liveness or Liveness()
        transport = connection.client.get_transport()
        self._keepalive = _KeepAlive(transport, self.liveness) if transport else None
        self._runner: _Runner | None = None
        self._runner_lock = threading.Lock()
        self._kept: dict[tuple[tuple[str, ...], str], Result] = {}  # see `prefetch`
        # The runner's channel opens while the run takes its locks (each on a channel
        # of its own): two round trips that nobody waits for.
        self._opening: threading.Thread | None = threading.Thread(
            target=self._open_runner, daemon=True, name="leo-runner-open"
        )
        self._opening.start()
        self._spare_lock = threading.Lock()
        self._spares: list[_Opening] = (
            [_Opening(transport) for _ in range(SPARES)] if transport else []
        )
        # Fabric reopens a closed connection before each operation. This run's lock
        # holders lived on the first one: a run that lost its link must stop, not
        # carry on without its locks. (Instance attribute: Fabric calls self.open().)
        connection.open = self._connected

    def _command(self, argv: Sequence[str], sudo: bool, timeout: float | None) -> list[str]:
        return bounded([*SUDO, *argv] if sudo and not self.is_root else list(argv), timeout)

    def _connected(self) -> None:
        """Raise ConnectionProblem when the connection this remote was opened with is gone."""
        transport = self.connection.client.get_transport()
        if transport is None or not transport.is_active():
            why = self._keepalive.why if self._keepalive and self._keepalive.why else "closed"
            raise ConnectionProblem(f"lost the SSH connection to {self.name}: {why}")

    def _exit_status(self, exited: int) -> int:
        """-1 is paramiko's "no exit status": the channel closed under the command."""
        if exited == -1:
            self._connected()
        return exited

    def _open_channel(self, command: str, *, spare: bool = True) -> paramiko.Channel:
        """A session channel running `command`: the spare one opened ahead if there is
        one (then another is opened for the next time), else a new one."""
        self._kept = {}  # a stream or a lock holder: see `prefetch`
        transport = self.connection.client.get_transport()
        ahead = None
        if spare:
            with self._spare_lock:
                opening = self._spares.pop(0) if self._spares else None
                if transport is not None:  # the oldest is taken, a new one opens
                    self._spares.append(_Opening(transport))
            ahead = opening.take() if opening is not None else None
        try:
            channel = ahead or transport.open_session()
            channel.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError, AttributeError) as exc:
            raise _lost(self.name, exc, self._keepalive) from exc
        self.channels_opened += 1
        self.round_trips += 1 if ahead else 2
        return channel

    def _exchange(
        self, items: Sequence[tuple[list[str], bytes, float | None, int]]
    ) -> list[tuple[int, str, str] | None]:
        """Send every (command, stdin, timeout, flags) to the runner, then read every
        answer (None: skipped, see RUNNER_SCRIPT)."""
        self._connected()
        self._kept = {}  # anything sent to the host may change what was read ahead
        with self._runner_lock:
            if self._opening is not None:
                self._opening.join()
                self._opening = None
            if self._runner is None or self._runner.channel.exit_status_ready():
                self._drop_runner()
                self._runner = _Runner(self._open_channel(RUNNER_COMMAND))
            runner = self._runner
            self.round_trips += 1
            full, timeout = items[0][0], items[0][2]
            try:
                # Never blocked for good while sending either (a host that stopped
                # reading): the first command's limit applies.
                runner.channel.settimeout(None if timeout is None else timeout + 30)
                for full, stdin, _, flags in items:
                    runner.send(shlex.join(full), stdin, flags)
                answers = []
                for full, _, timeout, _ in items:  # noqa: B007 (named in the timeout error)
                    # The host's `timeout` acts first; this only catches a host
                    # that stopped answering altogether.
                    answers.append(runner.receive(None if timeout is None else timeout + 30))
            except TimeoutError as exc:
                self._drop_runner()
                self._connected()
                raise LeoError(
                    f"{self.name} did not answer within {timeout:g}s: {shlex.join(full)}"
                ) from exc
            except (paramiko.SSHException, OSError, EOFError) as exc:
                self._drop_runner()
                self._connected()  # the link is gone: ConnectionProblem
                if self._keepalive is not None and self._keepalive.why:
                    raise _lost(self.name, exc, self._keepalive) from exc
                why = runner.why_stopped() or str(exc)
                raise LeoError(f"leo's command runner on {self.name} stopped: {why}") from exc
            except BaseException:  # Ctrl-C half-way: the frames are out of step
                self._drop_runner()
                raise
        if self._keepalive is not None and self._keepalive.why:
            raise _lost(self.name, EOFError(), self._keepalive)
        return answers

    def _open_runner(self) -> None:
        # In the background, beside the run's first lock: not counted as waited for.
        # A failure here shows again, as the error of the first command.
        with contextlib.suppress(Exception):
            self._runner = _Runner(self._open_channel(RUNNER_COMMAND, spare=False))
            self.round_trips -= 2

    def _drop_runner(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def run(self, argv, *, sudo=False, check=True, timeout=DEFAULT_TIMEOUT, stdin=None) -> Result:
        return self.run_all([Command(argv, sudo, check, timeout, stdin)])[0]

    def prefetch(self, commands: Sequence[Command]) -> None:
        """See `prefetch` (the function)."""
        results = self.run_all([dataclasses.replace(c, check=False) for c in commands])
        self._kept = {
            (tuple(r.argv), c.stdin or ""): r for r, c in zip(results, commands, strict=True)
        }

    def _from_kept(self, fulls: list[list[str]], commands: Sequence[Command]) -> list[Result]:
        """The kept answers of all `commands`, or none (and none kept any longer)."""
        keys = [(tuple(f), c.stdin or "") for f, c in zip(fulls, commands, strict=True)]
        kept, self._kept = self._kept, {}
        if not all(k in kept for k in keys):
            return []
        self._kept = {k: r for k, r in kept.items() if k not in keys}
        return [kept[k] for k in keys]

    def run_all(
        self, commands: Sequence[Command], *, stop_at_failure: bool = False
    ) -> list[Result]:
        """Every command in one round trip; see `run_all` (the function)."""
        if not commands:
            return []
        fulls = [self._command(c.argv, c.sudo, c.timeout) for c in commands]
        kept = self._from_kept(fulls, commands) if not stop_at_failure else []
        if kept:
            for result, c in zip(kept, commands, strict=True):
                _checked(self.name, result, c.check, c.timeout)
            return kept
        for full in fulls:
            self.reporter.command(self.name, full)
        self.commands_run += len(fulls)
        answers = self._exchange(
            [
                # Secrets go through stdin, never argv.
                (full, (c.stdin or "").encode("utf-8"), c.timeout, flags)
                for full, c, flags in zip(
                    fulls, commands, _flags(commands, stop_at_failure), strict=True
                )
            ]
        )
        results = [
            Result(full, *answer)
            for full, answer in zip(fulls, answers, strict=True)
            if answer is not None
        ]
        for result, c in zip(results, commands, strict=False):
            _checked(self.name, result, c.check, c.timeout)
        return results

    def put(
        self, data: bytes, path: str, *, mode: int, sudo: bool = False, owner: str | None = None
    ) -> None:
        """Write `data` to `path` atomically (a temp file beside it, then a rename), through
        the runner: the bytes go on the command's stdin, in the same round trip."""
        self.reporter.command(self.name, ["put", f"{len(data)} bytes", oct(mode), path])
        self.commands_run += 1
        self.uploads += 1
        full = self._command(fs.write(path, mode=mode, owner=owner), sudo, DEFAULT_TIMEOUT)
        answer = self._exchange([(full, data, DEFAULT_TIMEOUT, 0)])[0]
        assert answer is not None  # only chained commands are skipped
        exited, _, err = answer
        if exited == TIMED_OUT:
            raise LeoError(f"writing {path} on {self.name} timed out after {DEFAULT_TIMEOUT:g}s")
        if exited != 0:
            why = err.strip().splitlines()[-1] if err.strip() else f"exit status {exited}"
            raise LeoError(f"could not write {path} on {self.name}: {why}")

    def interactive(self, argv: Sequence[str], *, pty: bool) -> int:
        self._kept = {}  # see `prefetch`
        self.reporter.command(self.name, argv)
        self.commands_run += 1
        self.channels_opened += 1
        self.round_trips += 2
        self._connected()
        try:
            res = self.connection.run(shlex.join(argv), pty=pty, warn=True, encoding="utf-8")
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise _lost(self.name, exc, self._keepalive) from exc
        return self._exit_status(res.exited)

    def feed(
        self, argv, chunks, *, timeout=DEFAULT_TIMEOUT, on_progress=None, check=True
    ) -> Result:
        """On a session channel of its own: Fabric's `run` would want all of stdin at once.

        Bounded three ways: the host's `timeout` ends the command, a host that
        reads nothing for `stall` seconds ends the transfer, and the keepalives
        end a dead link (ConnectionProblem).
        """
        full = self._command(argv, False, timeout)
        self.reporter.command(self.name, full)
        self.commands_run += 1
        self._connected()
        stall = max(STALL_TIMEOUT, self.liveness.silence + self.liveness.interval)
        channel = self._open_channel(shlex.join(full))
        channel.settimeout(stall)
        out, err = _Drain(channel.recv), _Drain(channel.recv_stderr)
        try:
            sent = 0
            for chunk in chunks:
                try:
                    channel.sendall(chunk)
                except TimeoutError as exc:
                    self._connected()
                    raise LeoError(
                        f"{self.name} read none of leo's data for {stall:g}s: {shlex.join(full)}"
                    ) from exc
                except (paramiko.SSHException, OSError, EOFError):
                    # Either the link is gone, or the command closed its channel: it
                    # exited early, and its exit status and stderr say why.
                    self._connected()
                    break
                sent += len(chunk)
                if on_progress is not None:
                    on_progress(sent)
            with contextlib.suppress(paramiko.SSHException, OSError, EOFError):
                channel.shutdown_write()
            # The host's `timeout` (and its SIGKILL 10 s later) acts first.
            if not channel.status_event.wait(None if timeout is None else timeout + 40):
                raise LeoError(
                    f"{self.name} did not answer within {timeout:g}s: {shlex.join(full)}"
                )
            exited = self._exit_status(channel.recv_exit_status())
        finally:
            channel.close()
        if self._keepalive is not None and self._keepalive.why:
            raise _lost(self.name, EOFError(), self._keepalive)
        result = Result(full, exited, out.text(), err.text())
        return _checked(self.name, result, check, timeout)

    def hold(self, argv: Sequence[str], *, sudo: bool = False, binary: bool = False) -> Holder:
        full = [*SUDO, *argv] if sudo and not self.is_root else list(argv)
        self.reporter.command(self.name, full)
        self.commands_run += 1
        self._connected()
        channel = self._open_channel(shlex.join(full))
        return Holder(_ChannelProcess(channel, binary=binary), self.liveness)

    def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.stop()
        # Channels still being opened in the background (over a dead link, until the
        # keepalives give up) are not waited for: closing the connection ends them.
        self._drop_runner()
        with self._spare_lock:
            spares, self._spares = self._spares, []
        for opening in spares:
            channel = opening.take(0)
            if channel is not None:
                channel.close()
        self.connection.close()


class _Drain:
    """Collects a command's stdout (or stderr) while leo writes to its stdin.

    Read as it comes, so a command that writes while it reads never fills its
    output window or pipe and stops reading, with leo waiting on it.
    """

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self.data = bytearray()
        self._thread = threading.Thread(target=self._read, args=(recv,), daemon=True)
        self._thread.start()

    def _read(self, recv: Callable[[int], bytes]) -> None:
        while True:
            try:
                chunk = recv(32768)
            except TimeoutError:
                continue  # a quiet command: closing the channel ends this loop
            except (OSError, paramiko.SSHException, EOFError, ValueError):
                return
            if not chunk:
                return
            self.data += chunk

    def text(self) -> str:
        """What was read, once the command has exited (its output closed or about to)."""
        self._thread.join(10)
        return bytes(self.data).decode("utf-8", "replace")


class _Process(Protocol):
    """The few things a Holder needs from a process, local or remote."""

    stdout: IO

    def write(self, data: bytes) -> None: ...
    def exited(self) -> bool: ...
    def wait(self) -> tuple[int, str]: ...
    def close_input(self, wait: bool = True) -> None: ...


class Holder:
    """A process on the host that holds a lock for as long as this run lives.

    It reads heartbeats (a newline every `liveness.interval` seconds) on its
    stdin and exits, freeing the lock, on EOF or after `liveness.silence`
    seconds without one: a killed leo closes the channel at once, a silently
    dropped link stops the heartbeats. `alive()` tells the run whether it
    still holds what it took (it would not after a long suspend).
    """

    def __init__(self, process: _Process, liveness: Liveness) -> None:
        self.process = process
        self.liveness = liveness
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True, name="leo-heartbeat")
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.liveness.interval):
            try:
                self.process.write(b"\n")
            except (OSError, paramiko.SSHException, EOFError, ValueError):
                return

    def first_line(self) -> str:
        """Block until the process prints a line (returned) or exits ("")."""
        try:
            return self.process.stdout.readline()
        except (OSError, paramiko.SSHException, EOFError):
            return ""

    def failure(self) -> tuple[int, str]:
        """Exit status and stderr, once it has exited."""
        return self.process.wait()

    def alive(self) -> bool:
        return not self.process.exited()

    def release(self, *, wait: bool = True) -> None:
        """EOF: the holder exits, the lock is free. `wait` for it to have exited (a
        round trip); a lock holder need not: the next run to want the lock waits for
        it (`flock --wait`), or starts after connecting anew, long after the EOF came."""
        self._stop.set()
        self.process.close_input(wait)


class _ChannelProcess:
    def __init__(self, channel: paramiko.Channel, *, binary: bool = False) -> None:
        self.channel = channel
        self.stdout = channel.makefile("rb" if binary else "r")

    def write(self, data: bytes) -> None:
        self.channel.sendall(data)

    def exited(self) -> bool:
        return self.channel.exit_status_ready() or self.channel.closed

    def wait(self) -> tuple[int, str]:
        status = self.channel.recv_exit_status()
        return status, self.channel.makefile_stderr("r").read().decode("utf-8", "replace")

    def close_input(self, wait: bool = True) -> None:
        try:
            self.channel.shutdown_write()
            if wait:
                self.channel.status_event.wait(10)
        except (OSError, paramiko.SSHException, EOFError):
            pass
        finally:
            self.channel.close()


class _LocalProcess:
    def __init__(self, proc: subprocess.Popen, *, binary: bool = False) -> None:
        self.proc = proc
        self.binary = binary
        self.stdout = proc.stdout
        self._write_lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._write_lock:
            self.proc.stdin.write(data if self.binary else data.decode())
            self.proc.stdin.flush()

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def wait(self) -> tuple[int, str]:
        err = self.proc.stderr.read()
        return self.proc.wait(), err.decode("utf-8", "replace") if self.binary else err

    def close_input(self, wait: bool = True) -> None:
        # A local process ends in an instant: always waited for.
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class LocalRemote:
    """`--host local`: run on this machine with no shell and no SSH at all.

    When root runs app tasks, commands run as the deploy user (as they would
    over SSH) so files and containers end up owned the same way either way.
    """

    def __init__(self, reporter: Reporter, *, as_user: str | None = None) -> None:
        self.reporter = reporter
        self.name = "local"
        self.commands_run = 0
        self.liveness = Liveness()
        self.is_root = os.geteuid() == 0
        current = pwd.getpwuid(os.geteuid()).pw_name
        self.switch_to = (
            local_deploy_user(as_user) if as_user and self.is_root and as_user != current else None
        )

    def _command(self, argv: Sequence[str], sudo: bool) -> list[str]:
        if sudo:
            return list(argv) if self.is_root else [*SUDO, *argv]
        if self.switch_to:
            user = self.switch_to
            return ["runuser", "-u", user.pw_name, "--", "env", f"HOME={user.pw_dir}", *argv]
        return list(argv)

    def run(self, argv, *, sudo=False, check=True, timeout=DEFAULT_TIMEOUT, stdin=None) -> Result:
        full = bounded(self._command(argv, sudo), timeout)
        self.reporter.command(self.name, full)
        self.commands_run += 1
        try:
            proc = subprocess.run(
                full,
                input=stdin,
                capture_output=True,
                timeout=None if timeout is None else timeout + 30,
                encoding="utf-8",
                errors="replace",
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LeoError(f"command timed out after {timeout}s: {shlex.join(full)}") from exc
        except FileNotFoundError as exc:
            raise CommandFailed(self.name, full, 127, "", str(exc)) from exc
        result = Result(full, proc.returncode, proc.stdout, proc.stderr)
        return _checked(self.name, result, check, timeout)

    def put(
        self, data: bytes, path: str, *, mode: int, sudo: bool = False, owner: str | None = None
    ) -> None:
        self.reporter.command(self.name, ["put", f"{len(data)} bytes", oct(mode), path])
        self.commands_run += 1
        if (sudo or owner) and not self.is_root:
            raise LeoError(f"writing {path} needs root: run this task as root with --host local")
        owner_entry = pwd.getpwnam(owner) if owner else self.switch_to
        tmp = _temp_name(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                os.fchmod(fh.fileno(), mode)
                if owner_entry and (owner or not sudo):
                    os.fchown(fh.fileno(), owner_entry.pw_uid, owner_entry.pw_gid)
            os.replace(tmp, path)
        except OSError as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise LeoError(f"could not write {path}: {exc}") from exc

    def interactive(self, argv: Sequence[str], *, pty: bool) -> int:
        full = self._command(argv, False)
        self.reporter.command(self.name, full)
        self.commands_run += 1
        return subprocess.run(full, check=False).returncode

    def feed(
        self, argv, chunks, *, timeout=DEFAULT_TIMEOUT, on_progress=None, check=True
    ) -> Result:
        full = bounded(self._command(argv, False), timeout)
        self.reporter.command(self.name, full)
        self.commands_run += 1
        try:
            proc = subprocess.Popen(
                full, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except FileNotFoundError as exc:
            raise CommandFailed(self.name, full, 127, "", str(exc)) from exc
        out, err = _Drain(proc.stdout.read), _Drain(proc.stderr.read)
        try:
            sent = 0
            for chunk in chunks:
                try:
                    proc.stdin.write(chunk)
                except BrokenPipeError:
                    break  # it exited early: its exit status and stderr say why
                sent += len(chunk)
                if on_progress is not None:
                    on_progress(sent)
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            exited = proc.wait(None if timeout is None else timeout + 40)
        except subprocess.TimeoutExpired as exc:
            raise LeoError(f"command timed out after {timeout}s: {shlex.join(full)}") from exc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        result = Result(full, exited, out.text(), err.text())
        return _checked(self.name, result, check, timeout)

    def hold(self, argv: Sequence[str], *, sudo: bool = False, binary: bool = False) -> Holder:
        full = self._command(argv, sudo)
        self.reporter.command(self.name, full)
        self.commands_run += 1
        proc = subprocess.Popen(
            full,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=not binary,
        )
        return Holder(_LocalProcess(proc, binary=binary), self.liveness)

    def close(self) -> None:
        pass


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
