"""`leo history`: what leo changed on the hosts, from their audit logs."""

from __future__ import annotations

from . import history, validate
from .errors import InvalidInput
from .jsonout import Document
from .layout import DEPLOY_HOST_LOG, HOST_LOG, AppPaths
from .steps import history as history_step
from .steps.base import Host
from .taskkit import cli_errors, each_host_read, leo_task, print_lines, resolve

DEFAULT_LIMIT = 20
MAX_LIMIT = 100_000


def parse_limit(value: object) -> int:
    if value is None:
        return DEFAULT_LIMIT
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput(
            f"--limit takes a number of records from 1 to {MAX_LIMIT}, not {value!r}"
        )
    return int(text)


@leo_task(
    name="history",
    help={
        "limit": f"show the newest N records (default {DEFAULT_LIMIT})",
        "host-log": "the host's own log (setup, implode, push) even if leo.yaml names an app",
        "json": "print one JSON document (every host's records) instead of text",
    },
)
@cli_errors
def history_(c, app=None, host=None, limit=None, host_log=False, json=False, verbose=False):
    """Show what leo changed for the app on each host, newest first: when, who, what,
    the result, how long it took and the release.

    Without an app (or with --host-log): the host's own log (setup, implode, push).
    """
    app, hosts = resolve(c, None if host_log else app, host, need_app=False)
    if host_log:
        app = None
    elif app is not None:
        validate.app_name(app)
    count = parse_limit(limit)
    paths = [AppPaths(app).history_file] if app else [HOST_LOG, DEPLOY_HOST_LOG]

    def read(h: Host) -> list[history.Log]:
        return history_step.read(h, paths, count)

    if json:
        document = Document("history", app)
        render = document.show(lambda logs: history.host_fields(logs, count, app=app))
        each_host_read(c, hosts, verbose, read, render, document=document)
        return

    def show(h: Host, logs: list[history.Log]) -> None:
        print_lines(h, history.describe_logs(logs, count, subject=app or "this host"))

    each_host_read(c, hosts, verbose, read, show)
