"""Errors carry what a person needs, and map to the CLI's documented exit codes."""

from __future__ import annotations

import pytest

from leo_tasks.errors import (
    CommandFailed,
    ConnectionProblem,
    InvalidInput,
    LeoError,
    LockHeld,
    StepFailed,
)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (LeoError, 1),
        (StepFailed, 1),
        (InvalidInput, 2),
        (ConnectionProblem, 3),
        (LockHeld, 4),
    ],
)
def test_exit_codes(cls, code):
    assert cls.exit_code == code
    assert issubclass(cls, LeoError)


def test_command_failed_message_has_host_quoted_argv_code_and_stderr():
    error = CommandFailed(
        "leo-deploy@prod:22",
        ["docker", "compose", "run", "--", "web", "sh", "-c", "echo 'hi' && exit 3"],
        3,
        "some stdout\n",
        "Error: boom\nsecond line\n",
    )
    assert str(error) == (
        "command exited 3 on leo-deploy@prod:22: docker compose run -- web sh -c "
        "'echo '\"'\"'hi'\"'\"' && exit 3'\n"
        "  Error: boom\n"
        "  second line"
    )
    assert error.exit_code == 1
    assert (error.host, error.exited) == ("leo-deploy@prod:22", 3)
    assert error.argv[-1] == "echo 'hi' && exit 3"
    assert error.stdout == "some stdout\n"


def test_command_failed_falls_back_to_stdout():
    error = CommandFailed("h", ["false"], 1, "only stdout\n", "  \n")
    assert str(error) == "command exited 1 on h: false\n  only stdout"


def test_command_failed_without_output():
    assert str(CommandFailed("h", ["a b", ""], 127, "", "")) == "command exited 127 on h: 'a b' ''"


def test_command_failed_keeps_the_end_of_long_stderr():
    stderr = "".join(f"line {i}\n" for i in range(1000))
    message = str(CommandFailed("h", ["x"], 1, "", stderr))
    assert message.endswith("  line 999")
    assert "line 0\n" not in message
    assert len(message) < 2600


def test_command_failed_is_a_leo_error():
    with pytest.raises(LeoError):
        raise CommandFailed("h", ["x"], 1, "", "")


def test_annotated_keeps_class_exit_code_and_details():
    from leo_tasks.errors import CommandFailed, ConnectionProblem, annotated

    failed = CommandFailed("h", ["docker", "ps"], 3, "", "boom")
    again = annotated(failed, "put back as it was")
    assert type(again) is CommandFailed and again.exited == 3 and again.host == "h"
    assert str(again) == f"{failed}\n  put back as it was"
    lost = annotated(ConnectionProblem("gone"), "x")
    assert lost.exit_code == 3 and str(lost) == "gone\n  x"
