"""THE seam between leo and a host: run an argv, put a file.

Everything leo does on a server goes through `Remote.run(argv)` and
`Remote.put(data, path, mode)`. This is the only module that turns an argv
into a shell string (`shlex.join`) and the only one that talks SSH, so
quoting is done in exactly one place and steps can run locally or remotely.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import secrets
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import paramiko
from invoke.exceptions import CommandTimedOut

from .errors import CommandFailed, ConnectionProblem, LeoError
from .report import Reporter


@dataclass(frozen=True)
class Result:
    argv: list[str]
    exited: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exited == 0


class Remote(Protocol):
    """What steps need from a host. Implemented over SSH and for `--host local`."""

    name: str
    commands_run: int

    def run(
        self,
        argv: Sequence[str],
        *,
        sudo: bool = False,
        check: bool = True,
        timeout: float | None = None,
        stdin: str | None = None,
    ) -> Result: ...

    def put(
        self, data: bytes, path: str, *, mode: int, sudo: bool = False, owner: str | None = None
    ) -> None: ...

    def interactive(self, argv: Sequence[str], *, pty: bool) -> int: ...

    def hold(self, argv: Sequence[str]) -> Holder:
        """Start `argv` and keep it running until released or until leo dies.

        Used for locks: a process on the host that holds `flock` for exactly as
        long as this run lives, so a killed run cannot leave a stale lock.
        """
        ...

    def close(self) -> None: ...


class Holder(Protocol):
    def first_line(self) -> str:
        """Block until the process prints a line (returned) or exits ("")."""
        ...

    def failure(self) -> tuple[int, str]:
        """Exit status and stderr, once it has exited."""
        ...

    def release(self) -> None: ...


SUDO = ("sudo", "-n", "--")

# Installs the uploaded temp file $1 as $3 with mode $2 (and owner:group $4 if
# given), atomically: a rename inside the target directory. Paths arrive as
# positional arguments, never inlined into the script.
_INSTALL_SCRIPT = (
    'set -e; new="$3.leo-new-$$"; '
    'if [ -n "$4" ]; then install -m "$2" -o "$4" -g "$4" "$1" "$new"; '
    'else install -m "$2" "$1" "$new"; fi; '
    'rm -f "$1"; mv -f "$new" "$3"'
)


def _checked(host: str, result: Result, check: bool) -> Result:
    if check and not result.ok:
        raise CommandFailed(host, result.argv, result.exited, result.stdout, result.stderr)
    return result


def _temp_name(path: str) -> str:
    return f"{path}.leo-tmp-{secrets.token_hex(4)}"


class SSHRemote:
    """A host reached through a Fabric Connection (host keys already enforced)."""

    def __init__(self, connection, reporter: Reporter, name: str) -> None:
        self.connection = connection
        self.reporter = reporter
        self.name = name
        self.commands_run = 0
        self.is_root = connection.user == "root"

    def _command(self, argv: Sequence[str], sudo: bool) -> list[str]:
        return [*SUDO, *argv] if sudo and not self.is_root else list(argv)

    def run(self, argv, *, sudo=False, check=True, timeout=None, stdin=None) -> Result:
        full = self._command(argv, sudo)
        self.reporter.command(self.name, full)
        self.commands_run += 1
        try:
            res = self.connection.run(
                shlex.join(full),
                hide=True,
                warn=True,
                # Secrets go through stdin, never argv; otherwise never wait for
                # (or forward) local stdin, which is at EOF or absent in CI.
                in_stream=io.StringIO(stdin) if stdin is not None else False,
                timeout=timeout,
                encoding="utf-8",
            )
        except CommandTimedOut as exc:
            raise LeoError(
                f"command timed out after {timeout}s on {self.name}: {shlex.join(full)}"
            ) from exc
        except (paramiko.SSHException, OSError) as exc:
            raise ConnectionProblem(f"lost the SSH connection to {self.name}: {exc}") from exc
        return _checked(self.name, Result(full, res.exited, res.stdout, res.stderr), check)

    def put(
        self, data: bytes, path: str, *, mode: int, sudo: bool = False, owner: str | None = None
    ) -> None:
        """Write `data` to `path` atomically: upload beside it (or privately), then rename."""
        self.reporter.command(self.name, ["put", f"{len(data)} bytes", oct(mode), path])
        sftp = self.connection.sftp()
        self.commands_run += 1
        if sudo or owner:
            # SFTP cannot sudo or chown: upload privately, install with the right owner.
            if self.is_root:
                tmp = _temp_name(path)
            else:
                tmp = f"{sftp.normalize('.')}/.leo-upload-{secrets.token_hex(4)}"
            with sftp.open(tmp, "wx") as fh:
                fh.chmod(0o600)
                fh.write(data)
            self.run(
                ["sh", "-c", _INSTALL_SCRIPT, "sh", tmp, format(mode, "o"), path, owner or ""],
                sudo=sudo,
            )
            return
        tmp = _temp_name(path)
        try:
            # Set the mode before any byte is written: an env file is never
            # readable by others, not even for an instant.
            with sftp.open(tmp, "wx") as fh:
                fh.chmod(mode)
                fh.write(data)
            sftp.posix_rename(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                sftp.remove(tmp)
            raise LeoError(f"could not write {path} on {self.name}: {exc}") from exc

    def interactive(self, argv: Sequence[str], *, pty: bool) -> int:
        self.reporter.command(self.name, argv)
        self.commands_run += 1
        res = self.connection.run(shlex.join(argv), pty=pty, warn=True, encoding="utf-8")
        return res.exited

    def hold(self, argv: Sequence[str]) -> Holder:
        self.reporter.command(self.name, argv)
        self.commands_run += 1
        channel = self.connection.client.get_transport().open_session()
        channel.exec_command(shlex.join(argv))
        return _ChannelHolder(channel)

    def close(self) -> None:
        self.connection.close()


class _ChannelHolder:
    def __init__(self, channel) -> None:
        self.channel = channel
        self.stdout = channel.makefile("r")

    def first_line(self) -> str:
        return self.stdout.readline()

    def failure(self) -> tuple[int, str]:
        status = self.channel.recv_exit_status()
        return status, self.channel.makefile_stderr("r").read().decode("utf-8", "replace")

    def release(self) -> None:
        try:
            self.channel.shutdown_write()  # EOF: the holder exits, the lock is free
            self.channel.status_event.wait(10)
        finally:
            self.channel.close()


class LocalRemote:
    """`--host local`: run on this machine with no shell and no SSH at all.

    When root runs app tasks, commands run as the deploy user (as they would
    over SSH) so files and containers end up owned the same way either way.
    """

    def __init__(self, reporter: Reporter, *, as_user: str | None = None) -> None:
        self.reporter = reporter
        self.name = "local"
        self.commands_run = 0
        self.is_root = os.geteuid() == 0
        current = pwd.getpwuid(os.geteuid()).pw_name
        self.switch_to = (
            pwd.getpwnam(as_user) if as_user and self.is_root and as_user != current else None
        )

    def _command(self, argv: Sequence[str], sudo: bool) -> list[str]:
        if sudo:
            return list(argv) if self.is_root else [*SUDO, *argv]
        if self.switch_to:
            user = self.switch_to
            return ["runuser", "-u", user.pw_name, "--", "env", f"HOME={user.pw_dir}", *argv]
        return list(argv)

    def run(self, argv, *, sudo=False, check=True, timeout=None, stdin=None) -> Result:
        full = self._command(argv, sudo)
        self.reporter.command(self.name, full)
        self.commands_run += 1
        try:
            proc = subprocess.run(
                full,
                input=stdin,
                capture_output=True,
                timeout=timeout,
                encoding="utf-8",
                errors="replace",
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LeoError(f"command timed out after {timeout}s: {shlex.join(full)}") from exc
        except FileNotFoundError as exc:
            raise CommandFailed(self.name, full, 127, "", str(exc)) from exc
        return _checked(self.name, Result(full, proc.returncode, proc.stdout, proc.stderr), check)

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

    def hold(self, argv: Sequence[str]) -> Holder:
        full = self._command(argv, False)
        self.reporter.command(self.name, full)
        self.commands_run += 1
        proc = subprocess.Popen(
            full, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return _ProcessHolder(proc)

    def close(self) -> None:
        pass


class _ProcessHolder:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def first_line(self) -> str:
        return self.proc.stdout.readline()

    def failure(self) -> tuple[int, str]:
        return self.proc.wait(), self.proc.stderr.read()

    def release(self) -> None:
        self.proc.stdin.close()  # EOF: the holder exits, the lock is free
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False
