"""The installed `leo` console script, run as a user would, without any deploy host.

Every case runs with an empty HOME and an empty working directory (no leo.yaml,
no ~/.ssh). Bad input must exit 2 *before* connecting: the host is 127.0.0.9:1,
where a connection attempt fails at once and would show as exit 3. The
host-key cases use the test sshd on 127.0.0.1:2222 (skipped when it is not up)
and never get as far as authenticating.

The processes are started together in one fixture: each one spends ~0.3 s
importing Fabric, and the suite must stay fast.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from leo_tasks import __version__

from .test_tasks import TASK_NAMES

LEO = Path(sys.executable).with_name("leo")
NOWHERE = "127.0.0.9:1"  # nothing listens: a connection attempt fails fast, exit 3
SSHD = ("127.0.0.1", 2222)
BAD_APP_NAMES = ["../x", "a/b", "x;rm", "Shop"]

pytestmark = pytest.mark.skipif(not LEO.exists(), reason=f"console script {LEO} not installed")


def _sshd_up() -> bool:
    try:
        with socket.create_connection(SSHD, timeout=0.5):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    home: str = "empty"  # "empty" or "wrong_key" (known_hosts with a wrong key for the sshd)


# args -> the whole of stderr: one `leo: ...` line naming what to fix.
MISTYPED: dict[str, tuple[tuple[str, ...], str]] = {
    "unknown flag": (
        ("rotate", "--appp", "shop", "--host", NOWHERE),
        "leo: unknown flag '--appp' for rotate: see `leo rotate --help`",
    ),
    "unknown short flag": (
        ("rotate", "-x", "--app", "shop", "--host", NOWHERE),
        "leo: unknown flag '-x' for rotate: see `leo rotate --help`",
    ),
    "missing value": (("rotate", "--app", "shop", "--host"), "leo: --host needs a value"),
    "missing value of a short flag": (("rotate", "-a"), "leo: --app needs a value"),
    "unknown task": (("rotaet", "--app", "shop"), "leo: unknown task 'rotaet': see `leo --list`"),
    "unknown task after a task": (
        ("rotate", "--app", "shop", "--host", NOWHERE, "extra"),
        "leo: unknown task 'extra': see `leo --list`",
    ),
    "unknown option": (("--nosuch",), "leo: unknown option '--nosuch': see `leo --help`"),
    "help of an unknown task": (
        ("--help", "rotaet"),
        "leo: unknown task 'rotaet': see `leo --list`",
    ),
    "list of an unknown group": (
        ("--list", "nosuch"),
        "leo: unknown task group 'nosuch': see `leo --list`",
    ),
}

CASES: dict[str, Case] = {
    "list": Case(("--list",)),
    "rotate -h": Case(("rotate", "-h")),
    **{
        f"bad app {name}": Case(("rotate", f"--app={name}", "--host", NOWHERE))
        for name in BAD_APP_NAMES
    },
    "empty app": Case(("rotate", "--app", "", "--host", NOWHERE)),
    # A good app name does reach the connection: proves NOWHERE shows attempts as exit 3.
    # `--value=-x`: a value that looks like a flag is still the value.
    "env.set --value=-x": Case(
        ("env.set", "-a", "shop", "-H", NOWHERE, "--name", "A", "--value=-x")
    ),
    "implode without --yes": Case(("implode", "--host", NOWHERE)),
    "create with both": Case(
        ("create", "--app", "shop", "--host", NOWHERE, "--compose", "c.yml", "--image", "x")
    ),
    "create with neither": Case(("create", "--app", "shop", "--host", NOWHERE)),
    "create with host network": Case(
        ("create", "--app", "shop", "--host", NOWHERE, "--compose", "hostnet.yml")
    ),
    "create with a web service the file lacks": Case(
        ("create", "--app", "shop", "--host", NOWHERE, "--compose", "c.yml", "--web-service", "app")
    ),
    "create with a bad port": Case(
        ("create", "--app", "shop", "--host", NOWHERE, "--image", "x", "--port", "http")
    ),
    "build without compose": Case(("deploy", "--app", "shop", "--host", NOWHERE, "--build")),
    # Mistyped command lines: Invoke's parser refuses them, leo exits 2 (bad input).
    **{f"mistyped {key}": Case(args) for key, (args, _) in MISTYPED.items()},
    "help": Case(("--help",)),
    "version": Case(("--version",)),
    "unknown host key": Case(("env", "--app", "x", "--host", "127.0.0.1:2222")),
    "changed host key": Case(("env", "--app", "x", "--host", "127.0.0.1:2222"), "wrong_key"),
}
NEEDS_SSHD = {"unknown host key", "changed host key"}


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[str, Path]:
    empty = tmp_path_factory.mktemp("home-empty")
    wrong = tmp_path_factory.mktemp("home-wrong-key")
    keygen = shutil.which("ssh-keygen")
    if keygen:
        (wrong / ".ssh").mkdir(mode=0o700)
        key = wrong / "throwaway"
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-C", "leo-unit", "-f", str(key)],
            check=True,
            capture_output=True,
        )
        key_type, key_b64 = key.with_suffix(".pub").read_text().split()[:2]
        (wrong / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:2222 {key_type} {key_b64}\n")
    return {"empty": empty, "wrong_key": wrong}


@pytest.fixture(scope="module")
def cli(homes, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("cwd")
    (cwd / "c.yml").write_text("services:\n  web:\n    image: x\n    env_file: ./env\n")
    (cwd / "hostnet.yml").write_text(
        "services:\n  web:\n    image: x\n    env_file: ./env\n    network_mode: host\n"
    )
    sshd = _sshd_up()
    keygen = bool(shutil.which("ssh-keygen"))

    def run(case: Case) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(LEO), *case.args],
            cwd=cwd,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(homes[case.home])},
            capture_output=True,
            text=True,
            timeout=60,
        )

    wanted = {
        name: case
        for name, case in CASES.items()
        if (sshd or name not in NEEDS_SSHD) and (keygen or case.home != "wrong_key")
    }
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        futures = {name: pool.submit(run, case) for name, case in wanted.items()}
    return {name: future.result() for name, future in futures.items()}


def result(cli, name: str) -> subprocess.CompletedProcess:
    if name not in cli:
        pytest.skip(f"{name}: needs the test sshd on {SSHD[0]}:{SSHD[1]} and ssh-keygen")
    done = cli[name]
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_list_shows_every_task(cli):
    done = result(cli, "list")
    assert done.returncode == 0, done.stderr
    # "  name   summary" or "  env.show (env)   summary"; wrapped summaries indent deeper.
    listed = set()
    for match in re.finditer(r"^  (\S+)(?: \((\S+)\))?", done.stdout, re.MULTILINE):
        listed |= {name for name in match.groups() if name}
    # Every task of the collection, plus the short names of the default tasks.
    assert listed == {*TASK_NAMES, "env", "letsencrypt"}


def test_task_help_uses_capital_h_for_host_and_h_for_help(cli):
    done = result(cli, "rotate -h")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: leo [--core-opts] rotate [--options]")
    assert "-H STRING, --host=STRING" in done.stdout
    assert "-a STRING, --app=STRING" in done.stdout
    assert "-v, --verbose" in done.stdout
    assert "Zero-downtime deploy" in done.stdout


@pytest.mark.parametrize("name", sorted(MISTYPED))
def test_mistyped_command_line_exits_2_with_one_line(cli, name):
    done = result(cli, f"mistyped {name}")
    assert done.returncode == 2, done.stderr
    assert done.stderr == MISTYPED[name][1] + "\n"
    assert done.stdout == ""


def test_help_and_version_still_exit_0(cli):
    done = result(cli, "help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: leo [--core-opts] <subcommand>")
    done = result(cli, "version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"leo {__version__}\n"


@pytest.mark.parametrize("name", BAD_APP_NAMES)
def test_bad_app_name_exits_2_before_connecting(cli, name):
    done = result(cli, f"bad app {name}")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"leo: invalid app name {name!r}: use 1-40 characters of a-z")
    assert "cannot connect" not in done.stderr


def test_empty_app_name_exits_2_before_connecting(cli):
    done = result(cli, "empty app")
    assert done.returncode == 2, done.stderr
    # An explicit empty --app is refused as a name, never replaced by leo.yaml's app.
    assert "leo: invalid app name ''" in done.stderr


def test_good_input_does_try_to_connect(cli):
    # The control for the exit-2 cases above; also shows `--value=-x` parses.
    done = result(cli, "env.set --value=-x")
    assert done.returncode == 3, done.stderr
    assert f"cannot connect to leo-deploy@{NOWHERE}" in done.stderr


def test_implode_needs_yes(cli):
    done = result(cli, "implode without --yes")
    assert done.returncode == 2, done.stderr
    assert "pass --yes to confirm" in done.stderr


@pytest.mark.parametrize("name", ["create with both", "create with neither"])
def test_create_needs_exactly_one_of_compose_or_image(cli, name):
    done = result(cli, name)
    assert done.returncode == 2, done.stderr
    assert "leo: pass exactly one of --compose FILE or --image IMAGE" in done.stderr


def test_create_refuses_a_web_service_on_the_host_network_and_says_why(cli):
    done = result(cli, "create with host network")
    assert done.returncode == 2, done.stderr
    assert "leo: hostnet.yml: service web uses network_mode: host" in done.stderr
    assert "two web containers side by side" in done.stderr


def test_create_refuses_a_web_service_the_file_does_not_have(cli):
    done = result(cli, "create with a web service the file lacks")
    assert done.returncode == 2, done.stderr
    assert "c.yml has no `app` service" in done.stderr


def test_create_refuses_a_port_that_is_no_port(cli):
    done = result(cli, "create with a bad port")
    assert done.returncode == 2, done.stderr
    assert "--port must be a TCP port number (1-65535), not 'http'" in done.stderr


def test_build_needs_a_compose_file(cli):
    done = result(cli, "build without compose")
    assert done.returncode == 2, done.stderr
    assert "--build needs --compose FILE" in done.stderr


def test_unknown_host_key_is_refused_with_a_keyscan_hint(cli, homes):
    done = result(cli, "unknown host key")
    assert done.returncode == 3, done.stderr
    assert "refusing leo-deploy@127.0.0.1:2222" in done.stderr
    assert "is not in ~/.ssh/known_hosts" in done.stderr
    assert "ssh-keyscan -p 2222 127.0.0.1 >> ~/.ssh/known_hosts" in done.stderr
    assert "--accept-new-host-key" in done.stderr
    # Without --accept-new-host-key nothing is recorded.
    assert not (homes["empty"] / ".ssh").exists()


def test_changed_host_key_is_refused(cli, homes):
    done = result(cli, "changed host key")
    assert done.returncode == 3, done.stderr
    assert "refusing leo-deploy@127.0.0.1:2222: HOST KEY CHANGED" in done.stderr
    assert "ssh-keygen -R '[127.0.0.1]:2222'" in done.stderr
    assert (homes["wrong_key"] / ".ssh" / "known_hosts").read_text().count("\n") == 1


# ---- broken pipes -------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def run_main(code: str, **kwargs) -> subprocess.CompletedProcess:
    """leo's `main()` from this checkout in a fresh interpreter, after `code`."""
    return subprocess.run(
        [sys.executable, "-c", f"from leo_tasks import cli\n{code}\ncli.main()", "--list"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        **kwargs,
    )


def test_a_closed_stdout_ends_leo_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # `leo ... | head` after head has exited
    try:
        done = run_main("", stdout=write_end)
    finally:
        os.close(write_end)
    assert done.returncode == 141  # as if killed by SIGPIPE, like any Unix tool
    assert done.stderr == ""


def test_a_broken_pipe_to_a_command_is_an_error_leo_reports_not_a_silent_death():
    # A local `docker load` (or an SSH socket) that goes away while leo writes
    # to it must surface as an error leo can report, not kill leo by SIGPIPE.
    code = (
        "import subprocess\n"
        "def write_to_exited():\n"
        "    proc = subprocess.Popen(['true'], stdin=subprocess.PIPE)\n"
        "    proc.wait()\n"
        "    try:\n"
        "        proc.stdin.write(b'x' * 1_000_000)\n"
        "        proc.stdin.flush()\n"
        "    except BrokenPipeError:\n"
        "        print('reported', flush=True)\n"
        "cli.program.run = write_to_exited"
    )
    done = run_main(code, stdout=subprocess.PIPE)
    assert (done.returncode, done.stdout) == (0, "reported\n"), done.stderr
