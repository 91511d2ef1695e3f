"""`leo logs` without a host: its flags, the command it sends, the protocol it reads,
and how lines are laid out. The scripts themselves run against a real docker in
tests/e2e/test_logs.py."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

import pytest

from leo_tasks.commands import logs as logs_cmd
from leo_tasks.commands.logs import LogQuery
from leo_tasks.errors import InvalidInput
from leo_tasks.logview import HostLogs, Layout, parse_grep, parse_since, parse_tail

COMPOSE = "/home/leo-deploy/apps/shop/docker-compose.yml"


@pytest.mark.parametrize(
    "text, docker",
    [("30s", "30s"), ("10m", "600s"), ("2h", "7200s"), ("1d", "86400s"), ("0s", "0s")],
)
def test_since_durations_count_back_from_the_hosts_clock(text, docker):
    assert parse_since(text) == docker


@pytest.mark.parametrize(
    "text",
    ["2024-05-01T12:00:00Z", "2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00.000000+00:00"],
)
def test_since_times_become_utc(text):
    assert parse_since(text) == "2024-05-01T12:00:00.000000Z"


def test_since_a_time_without_zone_is_this_machines_local_time():
    local = datetime(2024, 5, 1, 12, 0).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_since("2024-05-01T12:00") == local


@pytest.mark.parametrize("text", ["yesterday", "10", "10 m", "1w", "-5m", "5m ago", "", "1h30m"])
def test_since_refuses_anything_else(text):
    with pytest.raises(InvalidInput, match="--since takes a duration"):
        parse_since(text)


@pytest.mark.parametrize("text, lines", [("0", 0), ("25", 25), (7, 7)])
def test_tail_is_a_count_of_lines(text, lines):
    assert parse_tail(text) == lines


@pytest.mark.parametrize("text", ["-1", "all", "1.5", ""])
def test_tail_refuses_anything_but_a_count(text):
    with pytest.raises(InvalidInput, match="--tail takes a number"):
        parse_tail(text)


def test_grep_is_a_python_regex_and_a_bad_one_is_bad_input():
    assert parse_grep(r"err(or)?\b").search("an error here")
    with pytest.raises(InvalidInput, match="not a valid regular expression"):
        parse_grep("(unclosed")


def test_the_filters_pick_the_projects_containers_without_one_offs():
    assert logs_cmd.filters("shop", LogQuery()) == [
        "--filter", "label=com.docker.compose.project=shop",
        "--filter", "label=com.docker.compose.oneoff=False",
    ]  # fmt: skip
    assert logs_cmd.filters("shop", LogQuery(service="web", oneoffs=True)) == [
        "--filter", "label=com.docker.compose.project=shop",
        "--filter", "label=com.docker.compose.service=web",
    ]  # fmt: skip


def test_dump_passes_every_value_as_an_argument_never_inside_the_script():
    argv = logs_cmd.dump(COMPOSE, "shop", LogQuery(since="600s", tail=5, service="web"))
    assert argv[:2] == ["bash", "-c"]
    assert "shop" not in argv[2] and "600s" not in argv[2]
    assert argv[3:] == [
        "leo-logs", COMPOSE, "600s", "5", "label=com.docker.compose.project=shop",
        "--filter", "label=com.docker.compose.project=shop",
        "--filter", "label=com.docker.compose.service=web",
        "--filter", "label=com.docker.compose.oneoff=False",
    ]  # fmt: skip


def test_follow_takes_the_heartbeat_silence_first_and_no_limit_means_empty():
    argv = logs_cmd.follow(COMPOSE, "shop", LogQuery(), silence=60)
    assert argv[3:7] == ["leo-logs", "60", COMPOSE, ""]
    assert argv[7] == ""  # no --tail


@pytest.mark.parametrize("script", [logs_cmd._DUMP, logs_cmd._FOLLOW])
def test_the_scripts_are_valid_bash(script):
    assert subprocess.run(["bash", "-n", "-c", script], capture_output=True).returncode == 0


def test_the_app_missing_is_its_own_exit_status(tmp_path):
    argv = logs_cmd.dump(str(tmp_path / "absent.yml"), "shop", LogQuery())
    assert subprocess.run(argv, capture_output=True).returncode == logs_cmd.NO_APP


T1 = "2024-05-01T12:00:00.100000000Z"
T2 = "2024-05-01T12:00:00.200000000Z"
T3 = "2024-05-01T12:00:00.300000000Z"

# What the dump script prints for two containers, one after the other.
OUTPUT = f"""c 0 shop-web-1
l 0 {T1} GET / 200
l 0 {T3} GET /late 200
c 1 shop-worker-1
l 1 {T2} worker started  with  spaces
l 1 Error response from daemon: something
"""


def test_the_protocol_names_containers_and_keeps_each_lines_text_exactly():
    found = HostLogs.parse(OUTPUT)
    assert found.names == {0: "shop-web-1", 1: "shop-worker-1"}
    assert found.lines[2].text == "worker started  with  spaces"
    assert found.lines[3].timestamp == "" and found.lines[3].text.startswith("Error response")


def test_lines_of_all_containers_merge_by_time():
    found = HostLogs.parse(OUTPUT)
    assert [line.text for line in found.in_time_order()] == [
        "GET / 200",
        "worker started  with  spaces",
        "Error response from daemon: something",  # keeps its container's last time
        "GET /late 200",
    ]


def test_no_container_matched_lists_the_services_the_app_has():
    found = HostLogs.parse("s web\ns worker\nw\n")
    assert found.names == {} and found.services == ["web", "worker"] and found.none_at_start


def test_lines_are_prefixed_with_host_and_padded_container():
    found = HostLogs.parse(OUTPUT)
    lines = Layout("leo-deploy@h1").all(found, found.in_time_order())
    assert lines[:2] == [
        "[leo-deploy@h1] shop-web-1    | GET / 200",
        "[leo-deploy@h1] shop-worker-1 | worker started  with  spaces",
    ]


def test_grep_looks_at_the_apps_text_only_and_timestamps_on_request():
    found = HostLogs.parse(OUTPUT)
    layout = Layout("h1", grep=parse_grep(r"^GET /late"), timestamps=True)
    assert layout.all(found, found.lines) == [f"[h1] shop-web-1    | {T3} GET /late 200"]
    assert Layout("h1", grep=parse_grep("h1|shop-web")).all(found, found.lines) == []


def test_a_followed_line_widens_the_column_as_names_come():
    found, layout = HostLogs(), Layout("h1")
    found.take("c 0 web-1")
    line = found.take(f"l 0 {T1} first\n")
    assert line is not None and layout.format(found, line) == "[h1] web-1 | first"
    found.take("c 1 worker-1")
    line = found.take(f"l 1 {T2} second\r\n")
    assert layout.format(found, line) == "[h1] worker-1 | second"
