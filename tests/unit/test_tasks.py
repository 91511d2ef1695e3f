"""The Invoke layer in-process: the collection, flag parsing, and refusals before SSH.

Faster than the console script (no interpreter start-up), so the less common
refusals are checked here; test_cli.py covers the same paths end to end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from invoke import Collection, Program
from invoke.parser import Parser

from leo_tasks import __version__, ns

NOWHERE = "127.0.0.9:1"  # nothing listens: a connection attempt fails fast, exit 3
TASK_NAMES = {
    "setup",
    "create",
    "deploy",
    "push",
    "rotate",
    "start",
    "stop",
    "run",
    "lock",
    "status",
    "logs",
    "releases",
    "history",
    "rollback",
    "certs",
    "destroy",
    "letsencrypt.letsencrypt",
    "letsencrypt.schedule",
    "implode",
    "env.show",
    "env.set",
    "env.del",
    "env.push",
}


def test_ns_is_the_collection_of_every_task():
    assert isinstance(ns, Collection)
    assert set(ns.task_names) == TASK_NAMES
    assert ns.task_names["env.show"] == ["env"]  # `leo env` shows the environment
    assert ns.configuration() == {"leo": {"app": None, "host": None}}


def test_ns_is_importable_from_the_package_lazily():
    import leo_tasks

    assert leo_tasks.ns is ns
    with pytest.raises(AttributeError):
        leo_tasks.not_a_thing  # noqa: B018


@pytest.mark.parametrize("task", sorted(TASK_NAMES))
def test_short_flags_are_fixed(task):
    (context,) = Parser(contexts=ns.to_contexts()).parse_argv([task])
    flags = context.flags
    assert "-h" not in flags  # still means --help
    for long, short in [("--host", "-H"), ("--app", "-a"), ("--verbose", "-v")]:
        if long in flags:
            assert flags[short] is flags[long]


@pytest.mark.parametrize(
    "argv",
    [
        ["env.set", "--name", "A", "--value=-x"],
        ["env.set", "--name=A", "--value", "-x"],
        ["env.set", "-n", "A", "--value=--yes"],
    ],
)
def test_a_value_that_looks_like_a_flag_is_still_the_value(argv):
    (context,) = Parser(contexts=ns.to_contexts()).parse_argv(argv)
    assert context.args["name"].value == "A"
    assert context.args["value"].value == argv[-1].removeprefix("--value=")


def test_an_empty_value_is_a_value():
    (context,) = Parser(contexts=ns.to_contexts()).parse_argv(["env.set", "--value", ""])
    assert context.args["value"].value == ""


def test_domain_is_repeatable():
    argv = ["create", "--domain", "a.example", "--domain", "b.example"]
    (context,) = Parser(contexts=ns.to_contexts()).parse_argv(argv)
    assert context.args["domain"].value == ["a.example", "b.example"]


# ---- running tasks in-process -------------------------------------------------------


@dataclass
class Leo:
    """`leo ARGV` in-process; returns (exit code, stdout, stderr)."""

    cwd: Path
    capsys: pytest.CaptureFixture

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        program = Program(namespace=ns, version=__version__, name="leo", binary="leo")
        try:
            program.run(["leo", *argv])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = self.capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err


@pytest.fixture
def leo(tmp_path, monkeypatch, capsys) -> Leo:
    """An empty HOME and working directory, and no INVOKE_*/LEO_* variables."""
    (tmp_path / "home").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")
    for name in [n for n in os.environ if n.startswith(("INVOKE_", "LEO_"))]:
        monkeypatch.delenv(name)
    return Leo(tmp_path / "cwd", capsys)


def test_version(leo):
    code, out, _ = leo("--version")
    assert (code, out) == (0, f"leo {__version__}\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rotate", "--app", "shop"], "no host given: pass --host"),
        (["rotate", "--app", "shop", "--host", "a b"], "invalid host 'a b'"),
        (["rotate", "--app", "shop", "--host", "shop:99999"], "invalid port"),
        (["rotate", "--host", NOWHERE], "no app given: pass --app NAME"),
        (["run", "-a", "shop", "-H", NOWHERE], "no command given: pass --command"),
        (["run", "-a", "shop", "-H", NOWHERE, "--service", "a b", "--command", "x"], "service"),
        (["env.set", "-a", "shop", "-H", NOWHERE, "--name", "A"], "no value given"),
        (["env.set", "-a", "shop", "-H", NOWHERE, "--name", "1A", "--value", "x"], "variable"),
        (["env.set", "-a", "shop", "-H", NOWHERE, "--value", "x"], "invalid variable name ''"),
        (["env.del", "-a", "shop", "-H", NOWHERE], "invalid variable name ''"),
        (["env.push", "-a", "shop", "-H", NOWHERE], "no file given: pass --file"),
        (["create", "-a", "shop", "-H", NOWHERE, "--image", "a b"], "invalid image reference"),
        (
            ["create", "-a", "shop", "-H", NOWHERE, "--image", "x", "--domain", "bad domain"],
            "invalid domain 'bad domain'",
        ),
        (["create", "-a", "shop", "-H", NOWHERE, "--compose", "nope.yml"], "cannot read compose"),
        (["deploy", "-a", "shop", "-H", NOWHERE, "--nginx", "nope.conf"], "cannot read nginx site"),
        (["setup", "-H", NOWHERE], "no public key found in ~/.ssh: pass --pubkey FILE"),
        (["push", "-H", NOWHERE], "no image given: pass --image IMAGE"),
        (["push", "-H", NOWHERE, "-i", "shop@sha256:" + "0" * 64], "cannot push"),
        (["push", "-H", NOWHERE, "-i", "shop:1", "-i", "-x"], "invalid image reference '-x'"),
        (["implode", "-H", NOWHERE, "--volumes"], "pass --yes to confirm"),
        (
            ["letsencrypt.schedule", "-a", "shop", "-H", NOWHERE, "--email", "a@b\nMAILTO=x"],
            "line break",
        ),
        (
            ["env.set", "-a", "s", "-H", NOWHERE, "-n", "A", "--value", "", "--lock-wait", "x"],
            "lock",
        ),
    ],
)
def test_bad_input_exits_2_before_connecting(leo, argv, message):
    code, out, err = leo(*argv)
    assert code == 2, err
    assert out == ""
    assert err.startswith("leo: ")
    assert message in err
    assert "cannot connect" not in err


def test_leo_yaml_supplies_app_and_host(leo):
    (leo.cwd / "leo.yaml").write_text(f"app: shop\nhost: {NOWHERE}\n")
    code, _, err = leo("rotate")
    assert code == 3, err
    assert f"cannot connect to leo-deploy@{NOWHERE}" in err


def test_flags_win_over_leo_yaml(leo):
    (leo.cwd / "leo.yaml").write_text("app: shop\nhost: 'not a host'\n")
    code, _, err = leo("rotate", "--app", "Bad")
    assert code == 2
    assert "invalid app name 'Bad'" in err


def test_bad_leo_yaml_exits_2(leo):
    (leo.cwd / "leo.yaml").write_text("app: shop\nimage: x\n")
    code, _, err = leo("rotate", "--host", NOWHERE)
    assert code == 2
    assert "unknown keys ['image']" in err


def test_explicit_empty_app_does_not_fall_back_to_leo_yaml(leo):
    (leo.cwd / "leo.yaml").write_text("app: other-app\n")
    code, _, err = leo("rotate", "--app", "", "--host", NOWHERE)
    assert code == 2, err


def test_host_of_only_commas_is_refused(leo):
    code, _, err = leo("rotate", "--app", "shop", "--host", ",")
    assert code == 2, err


def test_fractional_lock_wait(leo):
    code, _, err = leo("rotate", "--app", "shop", "--host", NOWHERE, "--lock-wait", "0.5")
    assert code == 3, err  # parsed, then the connection attempt fails


def test_image_is_repeatable_and_compress_can_be_turned_off():
    argv = ["push", "--image", "a:1", "-i", "b:2", "--no-compress"]
    (context,) = Parser(contexts=ns.to_contexts()).parse_argv(argv)
    assert context.args["image"].value == ["a:1", "b:2"]
    assert context.args["compress"].value is False


def test_push_of_an_image_this_machine_lacks_exits_2_before_connecting(leo):
    code, out, err = leo("push", "-H", NOWHERE, "-i", "leo-unit-no-such-image:none")
    assert (code, out) == (2, ""), err
    # Without docker here the refusal says that instead; either way nothing was sent.
    assert "no such image on this machine: leo-unit-no-such-image:none" in err or (
        "docker is not installed" in err
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["push", "-H", NOWHERE, "-i", "shop:1"],
        ["deploy", "-a", "shop", "-H", NOWHERE, "--push", "--compose", "c.yml"],
    ],
)
def test_push_without_docker_here_exits_2_before_connecting(leo, monkeypatch, argv):
    (leo.cwd / "c.yml").write_text("services:\n  web:\n    image: shop:1\n    env_file: ./env\n")
    monkeypatch.setenv("PATH", str(leo.cwd))  # no docker on it
    code, _, err = leo(*argv)
    assert code == 2, err
    assert "docker is not installed on this machine" in err
