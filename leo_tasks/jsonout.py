"""`--json`: one JSON document on stdout per run, for CI steps that read it with jq.

The envelope is the same for every command and every number of hosts, so a
CI step never needs to know whether it ran on one host or a group:

    {
      "schema": "leo.<command>/<version>",
      "app": "shop",
      "hosts": [
        {"host": "leo-deploy@web1", "ok": true, "error": null, ...the command's fields...},
        {"host": "leo-deploy@web2", "ok": false, "error": "app 'shop' does not exist ..."}
      ]
    }

- `hosts` holds one entry per host, in the order given (a host given twice is
  read once, as without --json).
- `ok` says whether that host was read; a host that was not has only `host`,
  `ok` and `error` (its message, as the text output prints it).
- The command's fields sit beside them in the entry (never named host, ok or
  error). Times are ISO 8601 UTC strings, unknown values null.
- A change that breaks a consumer raises the version in `schema`; new fields
  may appear within a version.

The document is printed once every host was read, and before the run exits
with its usual status: an exit 1 (a host failed, nginx disagrees, a
certificate expires soon) still comes with the whole document. A run that
stops before reading any host (bad input: 2, no connection: 3) prints nothing
on stdout. leo_tasks/schemas/ holds each command's JSON Schema.

A new command (`leo history`) joins in with its own `Document("history", app)`
and a renderer of one host's facts to a dict; see `Document.show`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any, TextIO, TypeVar

from .errors import LeoError
from .report import OUTPUT_LOCK
from .steps.base import Host

T = TypeVar("T")

VERSION = 1
RESERVED = ("host", "ok", "error")  # the envelope's keys in each host's entry


def schema_name(command: str, version: int = VERSION) -> str:
    return f"leo.{command}/{version}"


def iso_utc(when: datetime) -> str:
    """`2025-01-31T12:00:00Z`: the form leo's own records use, in UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def host_entry(host: str, fields: dict[str, Any]) -> dict[str, Any]:
    clash = [key for key in RESERVED if key in fields]
    if clash:
        raise ValueError(f"a command's JSON fields may not be named {', '.join(clash)}")
    return {"host": host, "ok": True, "error": None, **fields}


def failed_entry(host: str, error: LeoError) -> dict[str, Any]:
    return {"host": host, "ok": False, "error": str(error)}


def envelope(command: str, app: str | None, entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": schema_name(command), "app": app, "hosts": entries}


class Document:
    """One `--json` run's output: an entry per host, printed once by `emit`."""

    def __init__(self, command: str, app: str | None) -> None:
        self.command = command
        self.app = app
        self.entries: list[dict[str, Any]] = []

    def add(self, host: Host, fields: dict[str, Any]) -> None:
        self.entries.append(host_entry(host.name, fields))

    def fail(self, host: Host, error: LeoError) -> None:
        self.entries.append(failed_entry(host.name, error))

    def show(self, render: Callable[[T], dict[str, Any]]) -> Callable[[Host, T], None]:
        """A `show` for taskkit.each_host_read: each host's value through `render`."""
        return lambda host, value: self.add(host, render(value))

    def data(self) -> dict[str, Any]:
        return envelope(self.command, self.app, self.entries)

    def emit(self, stream: TextIO | None = None) -> None:
        out = stream or sys.stdout
        with OUTPUT_LOCK:
            # ASCII only: a non-UTF-8 locale cannot break the document half-way.
            json.dump(self.data(), out, indent=2, ensure_ascii=True)
            out.write("\n")
            out.flush()


def schema(command: str) -> dict[str, Any]:
    """The JSON Schema of `command`'s document, as shipped in leo_tasks/schemas/."""
    text = resources.files("leo_tasks").joinpath(f"schemas/{command}.schema.json").read_text()
    return json.loads(text)
