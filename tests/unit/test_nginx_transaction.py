"""The nginx transaction's undo, over a fake Remote: which files are put back, when nginx is
reloaded onto them, and what the error then says. The real commands are exercised end to
end (tests/e2e/test_failed_deploys.py, test_nginx_safety.py); this covers the outcomes a
real nginx gives only rarely (a reload whose confirmation times out)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest

from leo_tasks.commands import fs
from leo_tasks.errors import LeoError, UndoFailed
from leo_tasks.remote import Result
from leo_tasks.report import Reporter
from leo_tasks.steps import nginx
from leo_tasks.steps.base import Host

SITE = "/home/leo-deploy/apps/shop/nginx.conf"


@dataclass
class FakeNginxHost:
    """Files in a dict; `nginx -t` and reloads answer from scripted exit statuses."""

    tests: list[int] = field(default_factory=lambda: [0])
    reloads: list[int] = field(default_factory=lambda: [0])
    files: dict[str, str] = field(default_factory=lambda: {SITE: "old"})
    log: list[str] = field(default_factory=list)
    name: str = "fake"
    commands_run: int = 0

    def run(self, argv, *, sudo=False, check=True, timeout=None, stdin=None) -> Result:
        argv = list(argv)
        if argv[:3] == fs.swap("", mode=0)[:3]:  # read, then write stdin unless the same
            path, before = argv[4], self.files.get(argv[4])
            self.files[path] = stdin
            return Result(argv, 0, "absent\n" if before is None else f"present\n{before}", "")
        if argv[:2] == ["cat", "--"]:
            path = argv[2]
            ok = path in self.files
            return Result(argv, 0 if ok else 1, self.files.get(path, ""), "")
        if argv == ["nginx", "-t"]:
            self.log.append(f"test {sorted(self.files.values())}")
            code = self.tests.pop(0)
            return Result(argv, code, "", "" if code == 0 else "[emerg] bad thing in x:1")
        if argv[:2] == ["sh", "-c"] and "nginx -s reload" in argv[2]:
            self.log.append(f"reload {sorted(self.files.values())}")
            code = self.reloads.pop(0)
            return Result(argv, code, "old 11 12" if code == 0 else "", "" if not code else "no")
        raise AssertionError(f"unexpected command {argv}")

    def put(self, data, path, *, mode, sudo=False, owner=None) -> None:
        self.files[path] = data.decode()


def change(fake: FakeNginxHost) -> None:
    host = Host(fake, Reporter(stream=io.StringIO()))
    with nginx.transaction(host, failing="nginx -t rejected it", locked=False) as txn:
        txn.write(nginx.FileChange(SITE, "new"))


def test_a_confirmed_reload_keeps_the_change():
    fake = FakeNginxHost()
    change(fake)
    assert fake.files[SITE] == "new"
    assert fake.log == ["test ['new']", "reload ['new']"]


def test_a_rejected_file_is_put_back_and_nginx_never_reloaded():
    fake = FakeNginxHost(tests=[1])
    with pytest.raises(LeoError, match="put back as it was") as failed:
        change(fake)
    assert fake.files[SITE] == "old"
    assert fake.log == ["test ['new']"]
    assert "bad thing in x:1" in str(failed.value)


def test_a_reload_nginx_refused_before_it_was_sent_needs_no_second_reload():
    fake = FakeNginxHost(reloads=[4])  # `nginx -s reload` itself failed: nothing applied
    with pytest.raises(LeoError, match="put back as it was"):
        change(fake)
    assert fake.files[SITE] == "old"
    assert fake.log == ["test ['new']", "reload ['new']"]


def test_a_reload_that_may_have_applied_is_followed_by_one_onto_the_old_files():
    fake = FakeNginxHost(tests=[0, 0], reloads=[5, 0])  # not confirmed in time
    with pytest.raises(LeoError, match="put back as it was"):
        change(fake)
    assert fake.files[SITE] == "old"
    assert fake.log == ["test ['new']", "reload ['new']", "test ['old']", "reload ['old']"]


def test_when_nginx_cannot_go_back_the_error_says_so():
    fake = FakeNginxHost(tests=[0, 0], reloads=[5, 5])
    with pytest.raises(UndoFailed, match="it may run the new configuration") as failed:
        change(fake)
    assert "put back as it was" not in str(failed.value)


def test_a_trial_always_puts_the_file_back():
    for code in (0, 1):
        fake = FakeNginxHost(tests=[code])
        host = Host(fake, Reporter(stream=io.StringIO()))
        with (
            pytest.raises(LeoError) if code else _nothing(),
            nginx.transaction(host, failing="x", locked=False, test_only=True) as txn,
        ):
            txn.write(nginx.FileChange(SITE, "new"))
        assert fake.files[SITE] == "old"
        assert fake.log == ["test ['new']"]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_an_nginx_test_that_timed_out_puts_the_files_back_and_never_reloads():
    """`nginx -t` stopped by its timeout (exit 124): the reload, sent in the same round
    trip, did not run, so there is nothing to reload back."""
    fake = FakeNginxHost(tests=[124])
    with pytest.raises(LeoError, match="put back as it was") as failed:
        change(fake)
    assert "timed out" in str(failed.value)
    assert fake.files[SITE] == "old"
    assert fake.log == ["test ['new']"]
