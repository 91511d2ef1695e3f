#!/usr/bin/env python3
"""What `leo push` costs: bytes and seconds, gzip or not, first push and repeated push.

Run as root on a machine prepared by scripts/provision-testhost.sh, from the
repository (it imports leo_tasks from there):

    python3 bench/push.py [--rounds 3]

It builds two throwaway images and removes them afterwards:

  leo-push-bench/small:1  FROM leo-test-web:slow plus a label: busybox, ~2 MB
  leo-push-bench/big:1    FROM scratch, a 50 MB random file and a 50 MB zero file

The test host is this machine: its docker engine is the local one, so for a
plain `leo push` every image is already there. To measure a *first* push the
bench saves the image to a tar file, removes the image from the engine, and
then runs the product's push_images with that file as its image source: the
host really lacks the image, `docker load` really recreates it over SSH, and
push_images checks its ID afterwards. (The tar file is the bench's, to make
the image absent first; `leo push` itself streams `docker save` and never
writes one.) A *repeated* push is push_images with the local engine as source:
it finds the image there and sends nothing.

Also printed: how fast the SSH channel takes bytes at all (into `cat
>/dev/null`), and how fast `docker save` of the big image can be compressed
here in-process (zlib, as leo does) and by a `gzip -1` process.

Both ends share this machine's CPUs (sshd, `docker load` and leo on the same
cores), so absolute rates are lower than between two machines; the ratios are
what to read.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from invoke import Context

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leo_tasks.hosts import parse_host  # noqa: E402
from leo_tasks.localdocker import CHUNK, LocalDocker  # noqa: E402
from leo_tasks.report import Reporter  # noqa: E402
from leo_tasks.steps.base import Host  # noqa: E402
from leo_tasks.steps.push import human_bytes, push_images  # noqa: E402
from leo_tasks.taskkit import open_remote  # noqa: E402

TESTHOST_DIR = Path(os.environ.get("LEO_TESTHOST_DIR", "/var/lib/leo-testhost"))
SMALL, BIG = "leo-push-bench/small:1", "leo-push-bench/big:1"


def sh(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, **kwargs)


def build_images(work: Path) -> None:
    (work / "small").mkdir()
    (work / "small" / "Dockerfile").write_text(
        "FROM leo-test-web:slow\nLABEL org.leo-tasks.push-bench=small\n"
    )
    (work / "big").mkdir()
    (work / "big" / "random50").write_bytes(os.urandom(50_000_000))
    (work / "big" / "zero50").write_bytes(bytes(50_000_000))
    (work / "big" / "Dockerfile").write_text(
        "FROM scratch\nCOPY random50 /random50\nCOPY zero50 /zero50\n"
        "LABEL org.leo-tasks.push-bench=big\n"
    )
    sh("docker", "build", "-q", "-t", SMALL, str(work / "small"))
    sh("docker", "build", "-q", "-t", BIG, str(work / "big"))


def home_for_testhost(work: Path) -> Path:
    ssh = work / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    shutil.copy(TESTHOST_DIR / "id_ed25519", ssh / "id_ed25519")
    (ssh / "id_ed25519").chmod(0o600)
    shutil.copy(TESTHOST_DIR / "known_hosts", ssh / "known_hosts")
    (ssh / "config").write_text(
        f"Host testhost\n  HostName 127.0.0.1\n  Port 2222\n  IdentityFile {ssh / 'id_ed25519'}\n"
    )
    return work / "home"


class TarSource:
    """An image source reading a saved tar (the bench's way to push an absent image)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def save(self, references):
        with self.path.open("rb") as fh:
            yield iter(lambda: fh.read(CHUNK), b"")


def channel_rate(host: Host) -> str:
    data = bytes(CHUNK)
    total = 200 * len(data)
    started = time.monotonic()
    host.remote.feed(["sh", "-c", "cat >/dev/null"], (data for _ in range(200)), timeout=300)
    seconds = time.monotonic() - started
    return f"{human_bytes(total)} in {seconds:.2f}s ({human_bytes(total / seconds)}/s)"


def compression_rates(reference: str) -> list[str]:
    lines = []
    for name, level in (("zlib level 1 (leo)", 1), ("zlib level 6", 6)):
        with LocalDocker().save([reference]) as chunks:
            compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
            started, read, out = time.monotonic(), 0, 0
            for chunk in chunks:
                read += len(chunk)
                out += len(compressor.compress(chunk))
            out += len(compressor.flush())
            seconds = time.monotonic() - started
        lines.append(f"{name}: {human_bytes(read)} -> {human_bytes(out)} in {seconds:.2f}s")
    save = subprocess.Popen(["docker", "image", "save", "--", reference], stdout=subprocess.PIPE)
    started = time.monotonic()
    gz = subprocess.run(["gzip", "-1"], stdin=save.stdout, capture_output=True, check=True)
    save.wait()
    seconds = time.monotonic() - started
    lines.append(f"gzip -1 process: {human_bytes(len(gz.stdout))} in {seconds:.2f}s")
    with LocalDocker().save([reference]) as chunks:
        started = time.monotonic()
        read = sum(len(chunk) for chunk in chunks)
        seconds = time.monotonic() - started
    lines.append(f"docker save alone: {human_bytes(read)} in {seconds:.2f}s")
    return lines


def first_push(host: Host, reference: str, compress: bool, work: Path) -> str:
    image = LocalDocker().images([reference])[0]
    tar = work / "image.tar"
    with tar.open("wb") as fh:
        subprocess.run(["docker", "image", "save", "--", reference], stdout=fh, check=True)
    sh("docker", "image", "rm", "--", reference)
    started = time.monotonic()
    result = push_images(host, [image], compress, source=TarSource(tar))
    wall = time.monotonic() - started
    tar.unlink()
    assert result.sent == [reference], result
    return (
        f"{human_bytes(result.bytes_sent)} sent ({human_bytes(result.bytes_read)} saved), "
        f"load {result.seconds:.2f}s, whole step {wall:.2f}s"
    )


def repeated_push(host: Host, reference: str, compress: bool) -> str:
    image = LocalDocker().images([reference])[0]
    started = time.monotonic()
    result = push_images(host, [image], compress)
    wall = time.monotonic() - started
    assert result.skipped == [reference] and result.bytes_sent == 0, result
    return f"0 B sent, whole step {wall:.2f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leo-push-bench-") as tmp:
        work = Path(tmp)
        build_images(work)
        os.environ["HOME"] = str(home_for_testhost(work))
        reporter = Reporter(stream=io.StringIO())  # the bench prints its own lines
        remote = open_remote(Context(), parse_host("testhost"), reporter, user="leo-deploy")
        host = Host(remote, reporter)
        try:
            print(f"SSH channel into `cat >/dev/null`: {channel_rate(host)}")
            print(f"compressing `docker save {BIG}` here:")
            for line in compression_rates(BIG):
                print(f"  {line}")
            for reference in (SMALL, BIG):
                for compress in (True, False):
                    mode = "gzip" if compress else "no-compress"
                    for round_ in range(1, args.rounds + 1):
                        print(
                            f"{reference} {mode} #{round_}: first push "
                            f"{first_push(host, reference, compress, work)}; repeated push "
                            f"{repeated_push(host, reference, compress)}",
                            flush=True,
                        )
        finally:
            remote.close()
            subprocess.run(["docker", "image", "rm", "--", SMALL, BIG], capture_output=True)


if __name__ == "__main__":
    main()
