"""The audit log: one JSON line per change leo made on a host, and how it is shown.

Pure: building a record, telling a CI job apart, parsing a log's text and
turning records into lines or a JSON document. Writing and reading the log
on a host is steps/history.py; the commands are commands/history.py.

A record never holds a secret value: tasks describe themselves with names,
file names, hashes and flags only (never env values, registry passwords or
file contents), and the values a task was given are also redacted from the
first line of its error, in case a message ever quotes one.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

VERSION = 1
OK = "ok"
FAILED = "failed"
INTERRUPTED = "interrupted"
REFUSED = "refused"  # stopped before changing anything (bad input found on the host)

# A record is one write(2) on the host; keep it far below what that writes at once.
MAX_RECORD = 16_000
MAX_TEXT = 500
# Secret values shorter than this are not redacted from error lines: "1" or "no"
# would mangle the message ("exit [secret]") without protecting anything.
MIN_REDACTED = 4
REDACTED = "[secret]"


def new_run_id() -> str:
    return secrets.token_hex(4)


@dataclass(frozen=True)
class Audit:
    """What a run records on each host it changes: its task and non-secret arguments.

    `host_level`: setup and implode, recorded in the host log root writes. `app`
    None (and not host_level): a host-wide change leo-deploy makes (`leo push`).
    `secret_values` never reach a record; they are only used to redact errors.
    `run` ties together the records one leo run left on the hosts of a fleet.
    """

    task: str
    app: str | None = None
    args: Mapping[str, object] = field(default_factory=dict)
    host_level: bool = False
    secret_values: tuple[str, ...] = field(default=(), repr=False)
    run: str = field(default_factory=new_run_id)


def ci_job(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The CI job leo runs in, from the variables the CI sets; None outside CI."""

    def pick(**names: str) -> dict[str, str]:
        return {key: environ[var] for key, var in names.items() if environ.get(var)}

    if environ.get("GITHUB_ACTIONS") == "true":
        job = {"system": "github-actions"} | pick(
            repository="GITHUB_REPOSITORY",
            run="GITHUB_RUN_ID",
            workflow="GITHUB_WORKFLOW",
            job="GITHUB_JOB",
        )
        if "repository" in job and "run" in job:
            server = environ.get("GITHUB_SERVER_URL") or "https://github.com"
            job["url"] = f"{server.rstrip('/')}/{job['repository']}/actions/runs/{job['run']}"
        return job
    if environ.get("GITLAB_CI") == "true":
        return {"system": "gitlab-ci"} | pick(
            project="CI_PROJECT_PATH", job="CI_JOB_ID", url="CI_JOB_URL"
        )
    if environ.get("CI", "").lower() in ("true", "1", "yes"):
        return {"system": "ci"}
    return None


def result_of(exc: BaseException | None) -> str:
    if exc is None:
        return OK
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    # Exit status 2 is leo's "bad input, nothing was changed" (errors.InvalidInput).
    if getattr(exc, "exit_code", None) == 2:
        return REFUSED
    return FAILED


def error_line(exc: BaseException | None, secret_values: Sequence[str] = ()) -> str:
    """The first line of the error, with any secret value the task was given redacted."""
    if exc is None:
        return ""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return redact(line, secret_values)[:MAX_TEXT]


def redact(text: str, secret_values: Sequence[str]) -> str:
    pieces = {p for v in secret_values for p in [v, *v.splitlines()] if len(p) >= MIN_REDACTED}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, REDACTED)
    return text


def record(
    audit: Audit,
    *,
    when: datetime,
    who: str,
    ci: Mapping[str, str] | None,
    seconds: float,
    exc: BaseException | None = None,
    release: int | None = None,
    detail: str = "",
) -> dict[str, object]:
    """One log record (a JSON object). `when`: the run's start on this host, in UTC."""
    entry: dict[str, object] = {
        "v": VERSION,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "who": who,
        "task": audit.task,
        "args": dict(audit.args),
        "result": result_of(exc),
        "seconds": round(seconds, 2),
        "run": audit.run,
    }
    if ci:
        entry["ci"] = dict(ci)
    if audit.app:
        entry["app"] = audit.app
    if exc is not None:
        entry["error"] = error_line(exc, audit.secret_values)
    if release is not None:
        entry["release"] = release
    if detail:
        entry["detail"] = redact(detail, audit.secret_values)[:MAX_TEXT]
    return entry


def encode(entry: Mapping[str, object]) -> str:
    """One line: ASCII-only JSON (no byte of it can be a newline), then "\\n"."""
    text = json.dumps(entry, ensure_ascii=True, separators=(",", ":"), sort_keys=False)
    if len(text) > MAX_RECORD:
        text = json.dumps({**entry, "args": {"truncated": True}}, ensure_ascii=True)
    return text + "\n"


@dataclass(frozen=True)
class Log:
    """What was read of one log file: its records (oldest first) and the lines skipped."""

    path: str
    records: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def parse(path: str, text: str) -> Log:
    """A log's text -> its records. A line that is not a JSON object (a write cut short
    by a crash, a hand edit) is skipped and kept as an excerpt, never fatal."""
    log = Log(path)
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict) and isinstance(entry.get("time"), str):
            log.records.append(entry)
        else:
            log.skipped.append(line[:80])
    return log


def newest(logs: Sequence[Log], limit: int) -> list[dict]:
    """The newest `limit` records of these logs together, newest first."""
    # Each log newest first, then a stable sort by time (newest first): records of
    # one second keep the reverse of the order they were written in.
    merged = [r for log in logs for r in reversed(log.records)]
    merged.sort(key=lambda r: r["time"], reverse=True)
    return merged[:limit]


def describe_who(entry: Mapping) -> str:
    who = str(entry.get("who", "?"))
    ci = entry.get("ci")
    if not isinstance(ci, dict):
        return who
    parts = [ci.get("system", "ci")]
    parts += [ci[k] for k in ("repository", "project") if ci.get(k)]
    parts += [f"run {ci['run']}"] if ci.get("run") else []
    parts += [f"job {ci['job']}"] if ci.get("job") else []
    parts += [ci["url"]] if ci.get("url") else []
    return f"{who} via {' '.join(str(p) for p in parts)}"


def describe_args(args: object) -> str:
    if not isinstance(args, dict):
        return ""
    words: list[str] = []
    for key, value in args.items():
        flag = f"--{str(key).replace('_', '-')}"
        if value is True:
            words.append(flag)
        elif value is False or value is None or value == [] or value == {}:
            continue
        elif isinstance(value, dict):
            words.append(f"{flag} {','.join(f'{k}={v}' for k, v in value.items())}")
        elif isinstance(value, list):
            words.append(f"{flag} {','.join(str(v) for v in value)}")
        else:
            words.append(f"{flag} {value}")
    return " ".join(words)


def describe(entry: Mapping) -> list[str]:
    """One record as text: when, result, duration, what, release, who; the error below."""
    seconds = entry.get("seconds")
    took = f"{seconds:.1f}s" if isinstance(seconds, int | float) else "-"
    what = " ".join(p for p in (str(entry.get("task", "?")), describe_args(entry.get("args"))) if p)
    line = f"{entry.get('time', '?')}  {entry.get('result', '?')!s:<11}  {took:>7}  {what}"
    if entry.get("release") is not None:
        line += f"  release {entry['release']}"
    line += f"  by {describe_who(entry)}"
    lines = [line]
    if entry.get("detail"):
        lines.append(f"    {entry['detail']}")
    if entry.get("error"):
        lines.append(f"    error: {entry['error']}")
    return lines


def describe_logs(logs: Sequence[Log], limit: int, *, subject: str) -> list[str]:
    """Text for one host: its newest records first, then a note per skipped line."""
    records = newest(logs, limit)
    lines = [text for entry in records for text in describe(entry)]
    if not records:
        lines.append(f"no history recorded for {subject}")
    for log in logs:
        for bad in log.skipped:
            lines.append(f"note: skipped a line of {log.path} that is not a record: {bad!r}")
    return lines


def host_fields(logs: Sequence[Log], limit: int, *, app: str | None) -> dict:
    """One host's fields in `leo history --json` (jsonout's envelope holds host and app)."""
    return {
        "log": "app" if app else "host",
        "limit": limit,
        "files": [log.path for log in logs],
        "records": newest(logs, limit),
        "skipped": [{"file": log.path, "line": bad} for log in logs for bad in log.skipped],
    }
