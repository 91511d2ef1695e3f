#!/usr/bin/env python3
"""Run wrk against nginx and read back its totals as numbers, not as prose.

Used by bench/rotate_under_load.py (as a module) and by scripts/demo.sh (as a
command). Standard library only.

What wrk 4.1 (Debian's) counts, and therefore what these totals mean:
  requests  responses received, whatever their status.
  status    responses with status >= 400 ("Non-2xx or 3xx responses"); also in `requests`.
  timeout   responses slower than --timeout (wrk's default: 2 s); also in `requests`.
  connect   connections that could not be opened.
  read      connections that broke while reading (e.g. reset by nginx); the request is lost.
  write     connections that broke while sending a request; the request is lost.
  failed    status + connect + read + write + timeout: every request a user would have
            seen fail or hang. A slow error response counts twice (upper bound).
Two things wrk cannot see: a keep-alive connection closed cleanly by the
server before it answered (wrk reconnects and resends without counting an
error), and requests still in flight when the window ends (at most one per
connection).

Client types:
  close      every request sends `Connection: close`, so it opens a new connection:
             what most browsers-behind-proxies and health checkers do between bursts.
  keepalive  plain wrk: every connection is reused for many requests.

As a command (the demo uses it; it prints key=value lines, or JSON with --json):
  python3 bench/wrkload.py --host-header demo.localhost --client close --duration 60
It stops after --duration, or earlier, with wrk's totals, on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

CLIENTS = ("close", "keepalive")
MARKER = "WRKTOTALS "

# done() runs once, in its own Lua state, after all threads stopped: it sees
# wrk's own summary. The status table is only filled when response() exists.
_LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  local codes = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do codes[code] = (codes[code] or 0) + n end
    end
  end
  local parts = {}
  for code, n in pairs(codes) do
    table.insert(parts, string.format('"%d":%d', code, n))
  end
  io.write(string.format(
    'WRKTOTALS {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, table.concat(parts, ",")))
end
"""

_LUA_THREADS = r"""
threads = {}
function setup(thread) table.insert(threads, thread) end
"""

# Defining response() makes wrk parse headers and bodies into Lua for every
# response: about 15-20% fewer requests per second on a 2-core machine.
_LUA_STATUS = r"""
function init(args) statuses = {} end
function response(status, headers, body)
  if status >= 300 then statuses[status] = (statuses[status] or 0) + 1 end
end
"""


def lua_script(*, status_codes: bool = False) -> str:
    """The wrk script: totals from done(); per-status counts only if asked (slower)."""
    return _LUA_THREADS + (_LUA_STATUS if status_codes else "") + _LUA_DONE


class WrkError(RuntimeError):
    """wrk did not run, or printed no totals."""


@dataclass
class WrkTotals:
    client: str
    requests: int = 0
    duration_s: float = 0.0
    connect: int = 0
    read: int = 0
    write: int = 0
    status: int = 0
    timeout: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # only with status_codes

    @property
    def socket_errors(self) -> int:
        return self.connect + self.read + self.write + self.timeout

    @property
    def failed(self) -> int:
        return self.status + self.socket_errors

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(socket_errors=self.socket_errors, failed=self.failed, rate=round(self.rate, 1))
        return d

    def add(self, other: WrkTotals) -> WrkTotals:
        codes = dict(self.statuses)
        for code, n in other.statuses.items():
            codes[code] = codes.get(code, 0) + n
        return WrkTotals(
            client=self.client,
            requests=self.requests + other.requests,
            duration_s=self.duration_s + other.duration_s,
            connect=self.connect + other.connect,
            read=self.read + other.read,
            write=self.write + other.write,
            status=self.status + other.status,
            timeout=self.timeout + other.timeout,
            statuses=codes,
        )


def parse_output(client: str, stdout: str) -> WrkTotals:
    """The totals line our done() printed; WrkError if there is none."""
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            return WrkTotals(
                client=client,
                requests=raw["requests"],
                duration_s=raw["duration_us"] / 1e6,
                connect=raw["connect"],
                read=raw["read"],
                write=raw["write"],
                status=raw["status"],
                timeout=raw["timeout"],
                statuses={str(k): v for k, v in raw["statuses"].items()},
            )
    raise WrkError(f"wrk printed no totals line; its output was:\n{stdout.strip()[-2000:]}")


def wrk_argv(
    url: str,
    *,
    client: str,
    host_header: str,
    duration: float,
    script: str,
    connections: int = 20,
    threads: int = 2,
    timeout: float = 2.0,
) -> list[str]:
    if client not in CLIENTS:
        raise ValueError(f"client must be one of {CLIENTS}, not {client!r}")
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={max(1, round(timeout))}s",
        "-s",
        script,
        "-H",
        f"Host: {host_header}",
    ]
    if client == "close":
        argv += ["-H", "Connection: close"]
    return [*argv, url]


class WrkRun:
    """One wrk process in the background; `wait()` returns its totals.

    wrk ends by itself after `duration`; `interrupt()` ends it earlier (wrk
    treats SIGINT as "stop now and print the results").
    """

    def __init__(
        self,
        client: str,
        *,
        host_header: str,
        url: str = "http://127.0.0.1/",
        duration: float = 10,
        connections: int = 20,
        threads: int = 2,
        timeout: float = 2.0,
        status_codes: bool = False,
    ) -> None:
        self.client = client
        self.duration = duration
        self._script = tempfile.NamedTemporaryFile(  # noqa: SIM115 (lives as long as wrk)
            "w", prefix=f"wrk-{client}-", suffix=".lua", delete=False
        )
        self._script.write(lua_script(status_codes=status_codes))
        self._script.close()
        self.argv = wrk_argv(
            url,
            client=client,
            host_header=host_header,
            duration=duration,
            script=self._script.name,
            connections=connections,
            threads=threads,
            timeout=timeout,
        )
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self) -> WrkRun:
        try:
            self.proc = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        except OSError as exc:
            self._cleanup()
            raise WrkError(f"cannot run wrk: {exc}") from exc
        self.started_at = time.monotonic()
        return self

    def interrupt(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def wait(self, grace: float = 20.0) -> WrkTotals:
        """Wait for wrk (at most its duration + `grace` seconds), then parse its totals."""
        assert self.proc is not None, "start() first"
        left = self.duration + grace - (time.monotonic() - self.started_at)
        try:
            out, _ = self.proc.communicate(timeout=max(1.0, left))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=10)
            self._cleanup()
            raise WrkError(f"wrk did not stop within {self.duration + grace:g}s; killed") from None
        finally:
            self._cleanup()
        if self.proc.returncode != 0:
            raise WrkError(f"wrk exited {self.proc.returncode}: {out.strip()[-2000:]}")
        return parse_output(self.client, out)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._script.name)


def format_statuses(statuses: dict[str, int]) -> str:
    return " ".join(f"{code}x{n}" for code, n in sorted(statuses.items())) or "-"


def _kv(totals: WrkTotals) -> str:
    d = totals.as_dict()
    d["statuses"] = format_statuses(totals.statuses)
    return "".join(f"{k}={v}\n" for k, v in d.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--client", choices=CLIENTS, required=True)
    p.add_argument("--host-header", required=True, help="Host header nginx routes on")
    p.add_argument("--url", default="http://127.0.0.1/")
    p.add_argument("--duration", type=float, default=10, help="seconds (upper bound)")
    p.add_argument("--connections", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--timeout", type=float, default=2, help="slower responses count as failed")
    p.add_argument("--status-codes", action="store_true", help="count each status (slower)")
    p.add_argument("--json", action="store_true", help="print JSON instead of key=value")
    args = p.parse_args(argv)
    if not re.fullmatch(r"https?://(127\.\d+\.\d+\.\d+|localhost)(:\d+)?/.*", args.url):
        p.error("--url must point at a loopback address (127.0.0.0/8)")
    run = WrkRun(
        args.client,
        host_header=args.host_header,
        url=args.url,
        duration=args.duration,
        connections=args.connections,
        threads=args.threads,
        timeout=args.timeout,
        status_codes=args.status_codes,
    )

    def stop_early(signum, frame):
        run.interrupt()

    signal.signal(signal.SIGTERM, stop_early)
    signal.signal(signal.SIGINT, stop_early)
    try:
        totals = run.start().wait()
    except WrkError as exc:
        print(f"wrkload: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(totals.as_dict()) + "\n" if args.json else _kv(totals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
