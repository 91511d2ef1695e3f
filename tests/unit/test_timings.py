"""The timings line a deploy ends with: phases from step titles, and the SSH cost."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

from leo_tasks.report import Reporter
from leo_tasks.timings import Timings, classify, cost


def test_step_titles_map_to_the_phases_the_bench_reads():
    assert classify("start 2 new web") == "start new"
    assert classify("first deploy: start all services") == "start new"
    assert classify("wait until ready") == "wait until ready"
    assert classify("switch nginx upstream") == "switch upstream"
    assert classify("drain old nginx workers") == "drain"
    assert classify("retire shop-web-1") == "retire"
    assert classify("record release") == "record release"
    assert classify("update worker") == "other steps"


def test_the_summary_adds_up_each_hosts_steps_and_says_what_the_link_cost():
    timings = Timings()
    reporter = Reporter(stream=io.StringIO(), timings=timings)
    with reporter.step("h1", "start 1 new web"):  # recorded by the reporter as it ends
        pass
    assert list(timings.phases("h1", wall=1.0)).count("start new") == 1
    timings.connected("h1", 0.25)
    timings.step("h1", "retire x", 0.5)
    timings.step("h1", "retire y", 0.25)
    timings.step("h2", "drain old nginx workers", 3.0)  # another host's steps are its own
    phases = timings.phases("h1", wall=2.0)
    assert phases["connect"] == 0.25 and phases["retire"] == 0.75 and phases["drain"] == 0
    assert abs(phases["untimed"] - (2.0 - 0.25 - 0.75 - phases["start new"])) < 1e-9
    remote = SimpleNamespace(commands_run=12, round_trips=7, channels_opened=3)
    line = timings.summary("h1", cost(remote))
    assert re.match(r"timings: \d+\.\d\ds in all: connect 0\.25, retire 0\.75", line), line
    assert "drain" not in line
    assert line.endswith(
        "12 commands in 7 round trips, 3 exec channels, 0 SFTP operations, 1 connection"
    )


def test_a_local_run_has_no_ssh_cost():
    assert cost(SimpleNamespace(commands_run=1)) == "1 command, run locally"
