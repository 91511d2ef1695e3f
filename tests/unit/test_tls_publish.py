"""Publishing HTTP-01 challenge files: a failure part-way leaves no file on any host.

Pure orchestration over a fake Remote that records what it was asked to do; the
real commands are exercised end to end in tests/e2e/test_letsencrypt.py.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest

from leo_tasks.errors import ConnectionProblem, LeoError
from leo_tasks.layout import AppPaths
from leo_tasks.remote import Result
from leo_tasks.report import Reporter
from leo_tasks.steps import tls
from leo_tasks.steps.base import Host

PATHS = AppPaths("shop")
DIRECTORY = f"{PATHS.webroot}/.well-known/acme-challenge"
FILES = [("token-a", "a.key-auth"), ("token-b", "b.key-auth")]


@dataclass
class FakeRemote:
    """A host's files in a dict; nginx serves them unless `serves` is False."""

    name: str
    serves: bool = True
    fail_put: str | None = None  # a path whose upload fails
    fail_rm: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)
    commands_run: int = 0

    def run(self, argv, *, sudo=False, check=True, timeout=None, stdin=None) -> Result:
        argv = list(argv)
        self.commands.append(argv)
        stdout = ""
        if argv[0] == "rm":
            if self.fail_rm:
                raise ConnectionProblem(f"lost the connection to {self.name}")
            for path in argv[argv.index("--") + 1 :]:
                self.files.pop(path, None)
        elif argv[0] == "curl":
            token = argv[-1].rsplit("/", 1)[1]
            served = self.files.get(f"{DIRECTORY}/{token}", b"")
            stdout = served.decode() if self.serves else "<html>404 Not Found</html>"
        return Result(argv, 0, stdout, "")

    def put(self, data, path, *, mode, sudo=False, owner=None) -> None:
        if path == self.fail_put:
            raise LeoError(f"could not write {path}: no space left on device")
        self.files[path] = data


def hosts(*remotes: FakeRemote) -> list[Host]:
    reporter = Reporter(stream=io.StringIO())
    return [Host(remote, reporter) for remote in remotes]


def test_published_on_every_host_and_left_for_withdraw():
    web1, web2 = FakeRemote("web1"), FakeRemote("web2")
    tls._publish(hosts(web1, web2), PATHS, FILES, "shop.example.com")
    for remote in (web1, web2):
        assert set(remote.files) == {f"{DIRECTORY}/token-a", f"{DIRECTORY}/token-b"}
        assert not [argv for argv in remote.commands if argv[0] == "rm"]
    tls._withdraw(hosts(web1, web2), PATHS, FILES)
    assert web1.files == web2.files == {}


def test_second_host_not_serving_removes_the_files_of_both():
    web1, web2 = FakeRemote("web1"), FakeRemote("web2", serves=False)
    with pytest.raises(LeoError, match="web2 does not serve the ACME challenge"):
        tls._publish(hosts(web1, web2), PATHS, FILES, "shop.example.com")
    assert web1.files == {}  # had both files and served them
    assert web2.files == {}  # had the first file when the check failed
    assert ["rm", "-f", "--", f"{DIRECTORY}/token-a", f"{DIRECTORY}/token-b"] in web1.commands
    assert ["rm", "-f", "--", f"{DIRECTORY}/token-a"] in web2.commands


def test_upload_failing_part_way_removes_every_file_written():
    web1 = FakeRemote("web1")
    web2 = FakeRemote("web2", fail_put=f"{DIRECTORY}/token-b")
    web3 = FakeRemote("web3")
    with pytest.raises(LeoError, match="no space left on device"):
        tls._publish(hosts(web1, web2, web3), PATHS, FILES, "shop.example.com")
    assert web1.files == web2.files == {}
    assert web3.commands == []  # never reached: nothing to clean there


def test_a_failing_clean_up_does_not_hide_the_reason():
    web1 = FakeRemote("web1", fail_rm=True)
    web2 = FakeRemote("web2", serves=False)
    stream = io.StringIO()
    reporter = Reporter(stream=stream)
    with pytest.raises(LeoError, match="web2 does not serve the ACME challenge"):
        tls._publish([Host(web1, reporter), Host(web2, reporter)], PATHS, FILES, "shop.example.com")
    assert web2.files == {}
    assert "[web1] could not remove the ACME challenge files: lost the connection" in (
        stream.getvalue()
    )
