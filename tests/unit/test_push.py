"""`leo push`: which images are sent, the gzip stream, progress, and what a failure says.

The orchestration runs over a fake host whose image IDs are a dict and whose
`docker load` records the bytes it was fed: these tests check leo's decisions,
not docker. The real `docker save | docker load` over SSH is measured by
bench/push.py; Remote.feed itself is tested with real processes in test_remote.py.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import subprocess
from dataclasses import dataclass, field

import pytest

from leo_tasks.commands import docker
from leo_tasks.errors import CommandFailed, ConnectionProblem, InvalidInput, LeoError, StepFailed
from leo_tasks.facts import parse_image_ids
from leo_tasks.layout import AppPaths
from leo_tasks.localdocker import LocalDocker, LocalImage, _chunks
from leo_tasks.remote import Result
from leo_tasks.report import Reporter
from leo_tasks.steps import push
from leo_tasks.steps.base import Host

WEB = LocalImage("shop/web:2", "sha256:aaaa", 3_000_000)
WORKER = LocalImage("shop/worker:2", "sha256:bbbb", 1_000_000)


@dataclass
class FakeSource:
    """Stands in for `docker save`: the names asked for, and some bytes per image."""

    saved: list[list[str]] = field(default_factory=list)

    @contextlib.contextmanager
    def save(self, references):
        self.saved.append(list(references))
        yield iter([f"tar of {ref};".encode() * 1000 for ref in references])


@dataclass
class FakeRemote:
    """A host's images as {reference: id}; its `docker load` keeps what it was fed.

    `loads` says what a load leaves behind: by default the IDs that were sent.
    """

    name: str = "web1"
    images: dict[str, str] = field(default_factory=dict)
    loads: dict[str, str] | None = None
    fail_load: Exception | None = None
    fed: list[bytes] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    sending: dict[str, str] = field(default_factory=dict)  # what the next load brings

    def run(self, argv, *, sudo=False, check=True, timeout=None, stdin=None) -> Result:
        argv = list(argv)
        self.commands.append(argv)
        if argv[:2] == ["sh", "-c"] and argv[2] == docker.image_ids([])[2]:
            lines = [f"{ref}\t{self.images.get(ref, 'missing')}\n" for ref in argv[4:]]
            return Result(argv, 0, "".join(lines), "")
        if argv[0] == "cat":
            path = argv[-1]
            return Result(argv, 0 if path in self.files else 1, self.files.get(path, ""), "")
        raise AssertionError(f"unexpected command {argv}")

    def feed(self, argv, chunks, *, timeout=None, on_progress=None, check=True) -> Result:
        assert list(argv) == docker.load()
        assert timeout is not None and timeout >= 600
        data, sent = b"", 0
        for chunk in chunks:
            data += chunk
            sent += len(chunk)
            if on_progress:
                on_progress(sent)
        if self.fail_load:
            raise self.fail_load
        self.fed.append(data)
        self.images.update(self.loads if self.loads is not None else self.sending)
        return Result(list(argv), 0, "", "")


def host_of(remote: FakeRemote, stream=None, live=False) -> Host:
    return Host(remote, Reporter(stream=stream or io.StringIO(), live=live))


def run_push(remote, images, compress=True, stream=None, live=False):
    source = FakeSource()
    remote.sending = {image.reference: image.id for image in images}
    result = push.push_images(
        host_of(remote, stream, live), images, compress=compress, source=source
    )
    return result, source


# ---- which images are sent ---------------------------------------------------------


@pytest.mark.parametrize(
    ("on_host", "sent"),
    [
        ({}, [WEB, WORKER]),
        ({"shop/web:2": "sha256:aaaa"}, [WORKER]),
        ({"shop/web:2": "sha256:old", "shop/worker:2": "sha256:bbbb"}, [WEB]),
        ({"shop/web:2": "sha256:aaaa", "shop/worker:2": "sha256:bbbb"}, []),
    ],
)
def test_an_image_is_sent_unless_the_host_has_that_name_at_that_id(on_host, sent):
    assert push.missing_on_host([WEB, WORKER], on_host) == sent


def test_a_host_with_every_image_gets_nothing():
    remote = FakeRemote(images={"shop/web:2": "sha256:aaaa"})
    stream = io.StringIO()
    result, source = run_push(remote, [WEB], stream=stream)
    assert (result.sent, result.skipped, result.bytes_sent) == ([], ["shop/web:2"], 0)
    assert not result.changed
    assert source.saved == [] and remote.fed == []
    assert "[web1] push shop/web:2: unchanged: already there (" in stream.getvalue()


def test_one_save_for_the_images_the_host_lacks_and_a_check_after_the_load():
    remote = FakeRemote(images={"shop/web:2": "sha256:aaaa"})
    stream = io.StringIO()
    result, source = run_push(remote, [WEB, WORKER], stream=stream)
    assert source.saved == [["shop/worker:2"]]
    assert gzip.decompress(remote.fed[0]) == b"tar of shop/worker:2;" * 1000
    assert (result.sent, result.skipped) == (["shop/worker:2"], ["shop/web:2"])
    assert result.bytes_sent == len(remote.fed[0]) < result.bytes_read == 21000
    assert result.changed
    # Asked before (both) and after the load (the one sent).
    ids_asked = [argv[4:] for argv in remote.commands if argv[0] == "sh"]
    assert ids_asked == [["shop/web:2", "shop/worker:2"], ["shop/worker:2"]]
    line = stream.getvalue().strip()
    assert line.startswith("[web1] push shop/web:2, shop/worker:2: ")
    assert ", gzip of 21.0 kB; already there: shop/web:2 (" in line


def test_no_compress_sends_the_tar_as_docker_save_wrote_it():
    remote = FakeRemote()
    result, _ = run_push(remote, [WEB], compress=False)
    assert remote.fed == [b"tar of shop/web:2;" * 1000]
    assert result.bytes_sent == result.bytes_read == 18000


def test_a_load_that_leaves_another_image_under_the_name_fails_the_push():
    remote = FakeRemote(loads={"shop/web:2": "sha256:cccc"})
    with pytest.raises(StepFailed, match=r"shop/web:2 is sha256:cccc, not sha256:aaaa"):
        run_push(remote, [WEB])
    remote = FakeRemote(loads={})
    with pytest.raises(StepFailed, match=r"did not leave .* shop/web:2 is missing"):
        run_push(remote, [WEB])


@pytest.mark.parametrize(
    "error",
    [
        CommandFailed("web1", ["docker", "image", "load"], 1, "", "unexpected EOF"),
        ConnectionProblem("lost the SSH connection to web1: closed"),
    ],
)
def test_a_failed_load_is_raised_as_it_is_and_the_step_says_failed(error):
    stream = io.StringIO()
    with pytest.raises(type(error)) as raised:
        run_push(FakeRemote(fail_load=error), [WEB], stream=stream)
    assert raised.value is error  # exit 1 or 3, with docker's stderr
    assert "[web1] push shop/web:2: FAILED (" in stream.getvalue()


def test_no_images_is_a_note_not_a_step():
    stream = io.StringIO()
    result = push.push_images(host_of(FakeRemote(), stream), [], True, source=FakeSource())
    assert result == push.PushResult("web1")
    assert stream.getvalue() == "[web1] push: none of the images is on this machine\n"


# ---- the stream and the figures ----------------------------------------------------


def test_gzipped_is_one_gzip_stream_that_the_gzip_tool_reads():
    data = [b"layer-one " * 50_000, b"", b"layer-two " * 50_000]
    packed = b"".join(push.gzipped(iter(data)))
    assert len(packed) < len(b"".join(data)) // 10
    done = subprocess.run(["gzip", "-dc"], input=packed, capture_output=True, check=True)
    assert done.stdout == b"".join(data)


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (12_345_678, "12.3 MB"),
        (999_949_999, "999.9 MB"),
        (1_500_000_000, "1.5 GB"),
        (12_000_000_000_000, "12000.0 GB"),
    ],
)
def test_human_bytes(count, text):
    assert push.human_bytes(count) == text


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_transfer_progress_and_summary():
    clock = Clock()
    transfer = push.Transfer(expected=40_000_000, clock=clock)
    list(transfer.reading([b"x" * 10_000_000, b"y" * 8_000_000]))
    transfer.sent = 6_000_000
    clock.now += 1.2
    assert transfer.progress() == "6.0 MB sent (45%), 5.0 MB/s"
    assert transfer.summary(compressed=True) == "6.0 MB in 1.2s (5.0 MB/s), gzip of 18.0 MB"
    assert transfer.summary(compressed=False) == "6.0 MB in 1.2s (5.0 MB/s)"
    list(transfer.reading([b"z" * 30_000_000]))  # the sizes were an estimate: never 100%+
    assert "(99%)" in transfer.progress()


def test_progress_is_redrawn_at_most_every_quarter_second():
    clock = Clock()
    transfer = push.Transfer(expected=0, clock=clock)
    shown = []
    for _ in range(8):
        clock.now += 0.125
        shown.append(transfer.due())
    assert shown == [False, True] * 4  # every 0.25 s, not every call
    assert "%" not in transfer.progress()  # no estimate, no share


def test_progress_on_a_terminal_is_one_line_redrawn_then_replaced_by_the_result(monkeypatch):
    monkeypatch.setattr(push, "PROGRESS_EVERY", 0.0)  # draw on every chunk
    stream = io.StringIO()
    run_push(FakeRemote(), [WEB], compress=False, stream=stream, live=True)
    text = stream.getvalue()
    assert "\r\x1b[K[web1] push shop/web:2: " in text
    assert " sent (" in text
    last = text.rsplit("\r\x1b[K", 1)[1]
    assert last.startswith("[web1] push shop/web:2: 18.0 kB in ")
    assert last.count("\n") == 1


def test_progress_is_not_drawn_in_a_log():
    stream = io.StringIO()
    run_push(FakeRemote(), [WEB], stream=stream, live=False)
    assert "\r" not in stream.getvalue()
    assert stream.getvalue().count("\n") == 1


def test_load_timeout_grows_with_the_size():
    assert push.load_timeout(0) == 600
    assert push.load_timeout(2_000_000_000) == 2600


# ---- deploy --push: which images ---------------------------------------------------


@dataclass
class FakeLocalDocker:
    have: dict[str, LocalImage]

    def find(self, reference):
        return self.have.get(reference)


COMPOSE = """
services:
  web: {image: "shop/web:2", env_file: ./env}
  worker: {image: "shop/worker:2"}
  db: {image: "postgres:16"}
"""


def test_deploy_push_takes_the_compose_files_images_this_machine_has():
    local = FakeLocalDocker({"shop/web:2": WEB, "shop/worker:2": WORKER})
    assert push.compose_images(COMPOSE, local) == [WEB, WORKER]  # postgres: the host pulls it


def test_deploy_push_without_compose_reads_the_hosts_file():
    paths = AppPaths("shop")
    remote = FakeRemote(files={paths.compose_file: COMPOSE})
    local = FakeLocalDocker({"shop/worker:2": WORKER})
    assert push.live_images(host_of(remote), paths, local) == [WORKER]
    with pytest.raises(StepFailed, match="shop has no compose file on web1"):
        push.live_images(host_of(FakeRemote()), paths, local)


# ---- the local engine --------------------------------------------------------------


def test_no_docker_here_is_bad_input(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InvalidInput, match="docker is not installed on this machine"):
        LocalDocker().images(["shop/web:2"])


@pytest.mark.parametrize(
    ("stderr", "outcome"),
    [
        # What engine 20.10.24 says for a missing image (captured/README.md).
        ("Error response from daemon: no such image: x:1: No such image: x:1", None),
        ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.", InvalidInput),
    ],
)
def test_only_no_such_image_means_missing(monkeypatch, tmp_path, stderr, outcome):
    fake = tmp_path / "docker"
    fake.write_text(f"#!/bin/sh\necho '{stderr}' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    if outcome is None:
        assert LocalDocker().find("x:1") is None
        with pytest.raises(InvalidInput, match=r"no such image on this machine: x:1, y:2"):
            LocalDocker().images(["x:1", "y:2", "x:1"])
    else:
        with pytest.raises(InvalidInput, match="local docker failed: Cannot connect"):
            LocalDocker().find("x:1")


def test_a_failed_save_fails_the_stream_at_its_end():
    argv = ["sh", "-c", "printf partial; echo 'reference does not exist' >&2; exit 1"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stream = _chunks(proc, argv)
    assert next(stream) == b"partial"
    with pytest.raises(LeoError, match="failed on this machine: reference does not exist"):
        next(stream)


def test_parse_image_ids_of_the_fake_agrees_with_the_real_format():
    # The fake host answers in the format the real script prints (captured output).
    argv = docker.image_ids(["shop/web:2", "nosuch:1"])
    out = FakeRemote(images={"shop/web:2": "sha256:aaaa"}).run(argv).stdout
    assert parse_image_ids(out) == {"shop/web:2": "sha256:aaaa", "nosuch:1": None}
