"""The fleet runner's rules: batches, stopping, rollback on failure, summary, exit status.

The hosts here are names only: what runs on them is a function of the test.
Real hosts are in tests/fleet.
"""

from __future__ import annotations

import io
import signal
import threading
import time
from dataclasses import dataclass

import pytest

from leo_tasks.errors import ConnectionProblem, InvalidInput, LockHeld, StepFailed
from leo_tasks.fleet import (
    FAILED,
    NOT_STARTED,
    OK,
    ROLLBACK_FAILED,
    ROLLED_BACK,
    Done,
    Fleet,
    FleetFailed,
    Outcome,
    Rollout,
    batches,
    conclude,
    parse_batch,
    summary,
)
from leo_tasks.hosts import HostSpec, parse_hosts
from leo_tasks.layout import AppPaths
from leo_tasks.projectconfig import host_groups
from leo_tasks.report import Reporter
from leo_tasks.steps import lock
from leo_tasks.steps.base import Host
from leo_tasks.taskkit import rollout_of


@dataclass
class NamedRemote:
    name: str


def fleet_of(*names: str) -> tuple[Fleet, io.StringIO]:
    log = io.StringIO()
    reporter = Reporter(stream=log)
    return Fleet([Host(NamedRemote(n), reporter) for n in names], reporter), log


@pytest.mark.parametrize(
    ("text", "hosts", "size"),
    [(None, 5, None), ("1", 5, 1), ("2", 5, 2), ("40%", 5, 2), ("10%", 5, 1), ("100%", 3, 3)],
)
def test_batch_sizes(text, hosts, size):
    assert parse_batch(text, hosts) == size


@pytest.mark.parametrize("text", ["0", "-1", "x", "2.5", "0%", "101%", "%"])
def test_bad_batch_is_refused(text):
    with pytest.raises(InvalidInput, match="--batch takes"):
        parse_batch(text, 4)


def test_batches_keep_the_order_given():
    assert batches(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]
    assert batches(["a", "b", "c"], None) == [["a", "b", "c"]]


def test_hosts_of_a_batch_run_at_the_same_time():
    fleet, _ = fleet_of("h1", "h2", "h3")
    barrier = threading.Barrier(3, timeout=5)  # breaks unless all three wait together

    def work(host: Host) -> Done:
        barrier.wait()
        return Done(release=7)

    outcomes = fleet.each(work)
    assert [(o.host, o.result, o.release) for o in outcomes] == [
        ("h1", OK, 7),
        ("h2", OK, 7),
        ("h3", OK, 7),
    ]


def test_a_batch_with_a_failure_stops_the_run_and_later_batches_are_never_touched():
    fleet, log = fleet_of("h1", "h2", "h3")
    touched: list[str] = []

    def work(host: Host) -> None:
        touched.append(host.name)
        if host.name == "h2":
            raise StepFailed("image leo-test-app:v9 not found\n  more detail")

    outcomes = fleet.each(work, Rollout(size=1))
    assert touched == ["h1", "h2"]
    assert [o.result for o in outcomes] == [OK, FAILED, NOT_STARTED]
    text = log.getvalue()
    assert "[fleet] batch 2/3: h2" in text
    assert "[h2] error: image leo-test-app:v9 not found" in text
    assert "[h2]   more detail" in text
    assert "stopping: h2 failed; 1 host not started" in text


def test_a_failure_in_the_last_batch_still_lets_its_batch_finish():
    fleet, _ = fleet_of("h1", "h2", "h3", "h4")
    done: list[str] = []

    def work(host: Host) -> None:
        if host.name == "h3":
            raise StepFailed("no")
        done.append(host.name)

    outcomes = fleet.each(work, Rollout(size=2))
    assert sorted(done) == ["h1", "h2", "h4"]
    assert [o.result for o in outcomes] == [OK, OK, FAILED, OK]


def test_gather_returns_each_hosts_value_or_error_in_order():
    fleet, _ = fleet_of("h1", "h2")

    def read(host: Host) -> str:
        if host.name == "h1":
            raise StepFailed("app 'shop' does not exist on h1")
        return "ok"

    got = [(h.name, v if isinstance(v, str) else type(v).__name__) for h, v in fleet.gather(read)]
    assert got == [("h1", "StepFailed"), ("h2", "ok")]


def test_one_host_keeps_its_own_error_and_exit_status():
    fleet, _ = fleet_of("h1")
    outcomes = fleet.each(lambda h: (_ for _ in ()).throw(LockHeld("locked")))
    with pytest.raises(LockHeld):
        conclude(fleet, outcomes, "deploy", stream=io.StringIO())


def test_several_hosts_end_with_a_summary_and_exit_1_naming_the_failed():
    fleet, _ = fleet_of("h1", "h2", "h3")
    outcomes = [
        Outcome("h1", OK, 4.21, 5),
        Outcome("h2", FAILED, 2.0, error=StepFailed("web crashed\n  logs")),
        Outcome("h3"),
    ]
    out = io.StringIO()
    with pytest.raises(FleetFailed) as info:
        conclude(fleet, outcomes, "deploy", stream=out)
    assert info.value.exit_code == 1
    assert str(info.value) == "deploy failed on h2; 1 not started"
    lines = out.getvalue().strip().splitlines()
    assert lines[0].split() == ["HOST", "RESULT", "RELEASE", "TIME", "DETAIL"]
    assert lines[1].split() == ["h1", "ok", "5", "4.2s"]
    assert lines[2].split()[:4] == ["h2", "FAILED", "-", "2.0s"]
    assert lines[2].endswith("web crashed")
    assert lines[3].split() == ["h3", "not", "started", "-", "-"]


def test_every_host_refused_the_same_way_before_any_change_keeps_that_exit_status():
    fleet, _ = fleet_of("h1", "h2")
    outcomes = [
        Outcome("h1", FAILED, 0.1, error=LockHeld("env lock held")),
        Outcome("h2", FAILED, 0.1, error=LockHeld("env lock held")),
    ]
    with pytest.raises(FleetFailed) as info:
        conclude(fleet, outcomes, "env.set", stream=io.StringIO())
    assert info.value.exit_code == 4


def test_a_link_lost_mid_run_is_exit_1_even_on_every_host():
    # Connecting happens before any host runs; a link lost during the run may
    # have come after a host's switch: exit 3 would claim nothing was changed.
    fleet, _ = fleet_of("h1", "h2")
    outcomes = [
        Outcome("h1", FAILED, 3.0, error=ConnectionProblem("lost the SSH connection")),
        Outcome("h2", FAILED, 3.0, error=ConnectionProblem("lost the SSH connection")),
    ]
    with pytest.raises(FleetFailed) as info:
        conclude(fleet, outcomes, "rotate", stream=io.StringIO())
    assert info.value.exit_code == 1


def test_a_failure_beside_a_success_is_exit_1_whatever_its_own_status():
    fleet, _ = fleet_of("h1", "h2")
    outcomes = [Outcome("h1", OK, 1.0), Outcome("h2", FAILED, 0.1, error=InvalidInput("bad"))]
    with pytest.raises(FleetFailed) as info:
        conclude(fleet, outcomes, "rotate", stream=io.StringIO())
    assert info.value.exit_code == 1


def test_all_ok_prints_the_summary_and_returns():
    fleet, _ = fleet_of("h1", "h2")
    out = io.StringIO()
    conclude(fleet, [Outcome("h1", OK, 1.0, 3), Outcome("h2", OK, 1.5, 3)], "deploy", stream=out)
    assert len(out.getvalue().strip().splitlines()) == 3


class AfterItsSwitch(StepFailed):
    """Stands for rotate's AfterSwitch: the run failed once the new release served."""


def never_switched(exc: Exception) -> bool:
    return False


def test_rollback_on_failure_moves_back_only_the_hosts_whose_release_changed():
    fleet, log = fleet_of("h1", "h2", "h3", "h4")
    outcomes = [
        Outcome("h1", OK, 1.0, 6),  # moved: 5 -> 6
        Outcome("h2", FAILED, 1.0, error=StepFailed("crashed")),  # put itself back: still 5
        Outcome("h3"),  # never started
        Outcome("h4", OK, 1.0, 1),  # a first deploy: nothing to go back to
    ]
    before = {"h1": 5, "h2": 5, "h3": 5, "h4": None}
    now = {"h1": 6, "h2": 5, "h3": 5, "h4": 1}
    rolled: list[tuple[str, int]] = []

    def roll_back(host: Host, to: int) -> Done:
        rolled.append((host.name, to))
        return Done(release=7)

    fleet.roll_back(outcomes, before, lambda h: now[h.name], roll_back, never_switched)
    assert rolled == [("h1", 5)]
    assert (outcomes[0].shown, outcomes[0].release) == ("ok, rolled back", 7)
    assert "back on release 5" in outcomes[0].detail
    assert outcomes[1].shown == FAILED
    assert outcomes[2].shown == NOT_STARTED
    assert outcomes[3].detail == "no earlier release to go back to"
    assert "[fleet] rolling back h1 to their previous releases" in log.getvalue()
    with pytest.raises(FleetFailed) as info:
        conclude(fleet, outcomes, "deploy", stream=io.StringIO())
    assert info.value.exit_code == 1 and "deploy failed on h2" in str(info.value)


def test_a_host_that_failed_after_its_switch_is_rolled_back_and_still_counts_as_failed():
    # Its release record may be missing (recording failed): the error says it switched.
    fleet, _ = fleet_of("h1", "h2")
    outcomes = [
        Outcome("h1", OK, 1.0, 6),
        Outcome("h2", FAILED, 1.0, error=AfterItsSwitch("install docker-compose.yml failed")),
    ]
    now = {"h1": 6, "h2": 5}  # h2 serves the new containers, with no record of them
    rolled: list[str] = []

    def roll_back(host: Host, to: int) -> Done:
        rolled.append(host.name)
        return Done(release=7)

    fleet.roll_back(
        outcomes,
        {"h1": 5, "h2": 5},
        lambda h: now[h.name],
        roll_back,
        lambda exc: isinstance(exc, AfterItsSwitch),
    )
    assert sorted(rolled) == ["h1", "h2"]
    assert [o.shown for o in outcomes] == ["ok, rolled back", "FAILED, rolled back"]
    assert outcomes[1].failed and outcomes[1].rollback == ROLLED_BACK
    with pytest.raises(FleetFailed) as info:
        conclude(fleet, outcomes, "deploy", stream=io.StringIO())
    assert info.value.exit_code == 1 and str(info.value) == "deploy failed on h2"


def test_a_rollback_that_fails_is_reported_as_such():
    fleet, _ = fleet_of("h1", "h2")
    outcomes = [Outcome("h1", OK, 1.0, 6), Outcome("h2", FAILED, 1.0, error=StepFailed("crash"))]

    def roll_back(host: Host, to: int) -> Done:
        raise StepFailed("release 5's image is gone")

    fleet.roll_back(
        outcomes,
        {"h1": 5, "h2": 5},
        lambda h: 6 if h.name == "h1" else 5,
        roll_back,
        never_switched,
    )
    assert outcomes[0].rollback == ROLLBACK_FAILED and outcomes[0].failed
    assert "rollback: release 5's image is gone" in outcomes[0].detail
    assert summary(outcomes)[1].split()[1:3] == ["ok,", "ROLLBACK"]


def test_ctrl_c_lets_the_hosts_in_flight_finish_starts_no_other_batch_and_exits_130():
    fleet, log = fleet_of("h1", "h2", "h3", "h4")
    started: list[str] = []
    main = threading.main_thread().ident

    both = threading.Barrier(2, timeout=5)

    def work(host: Host) -> Done:
        started.append(host.name)
        both.wait()
        if host.name == "h1":  # as if Ctrl-C reached leo while h1 and h2 deploy
            signal.pthread_kill(main, signal.SIGINT)
        time.sleep(0.3)
        return Done(release=2)

    outcomes = fleet.each(work, Rollout(size=2))
    assert sorted(started) == ["h1", "h2"]
    assert [o.result for o in outcomes] == [OK, OK, NOT_STARTED, NOT_STARTED]
    assert fleet.interrupted
    assert "stopping: interrupted; 2 hosts not started" in log.getvalue()
    out = io.StringIO()
    with pytest.raises(FleetFailed) as info:
        conclude(fleet, outcomes, "deploy", stream=out)
    assert info.value.exit_code == 130
    assert "HOST" in out.getvalue()


def test_locks_already_taken_are_released_when_a_later_host_is_locked(monkeypatch):
    fleet, _ = fleet_of("h2", "h1", "h3")
    released: list[str] = []
    order: list[str] = []

    @dataclass
    class Holder:
        name: str

        def release(self, *, wait: bool = True) -> None:
            released.append(self.name)

    @dataclass
    class Lease:
        holder: Holder

    def take(host, paths, name, *, purpose, wait):
        order.append(host.name)
        if host.name == "h3":
            raise LockHeld("shop is locked on h3")
        return Lease(Holder(host.name))

    monkeypatch.setattr(lock, "take", take)
    with pytest.raises(LockHeld), fleet.locked(AppPaths("shop"), purpose="rotate", wait=0):
        pytest.fail("the block must not run")
    assert order == ["h1", "h2", "h3"]  # sorted: the same order for every run
    assert sorted(released) == ["h1", "h2"]
    assert all(not h.locks for h in fleet.hosts)


def test_host_groups_from_leo_yaml_expand_in_place(tmp_path):
    (tmp_path / "leo.yaml").write_text(
        "app: shop\nhost: prod\nhosts:\n  prod: [web1, web2, 'deploy@web3:2222']\n  one: web9\n"
    )
    groups = host_groups(None, cwd=tmp_path)
    assert groups == {"prod": ["web1", "web2", "deploy@web3:2222"], "one": ["web9"]}
    specs = parse_hosts("one,prod,web1", groups)
    assert [str(s) for s in specs] == ["web9", "web1", "web2", "deploy@web3:2222"]


@pytest.mark.parametrize(
    "yaml_text",
    [
        "hosts: [a, b]\n",
        "hosts:\n  prod: []\n",
        "hosts:\n  local: [a]\n",
        "hosts:\n  'bad name': [a]\n",
        "hosts:\n  prod: [a, 3]\n",
    ],
)
def test_bad_host_groups_are_refused(tmp_path, yaml_text):
    (tmp_path / "leo.yaml").write_text(yaml_text)
    with pytest.raises(InvalidInput):
        host_groups(None, cwd=tmp_path)


def test_a_step_before_the_rollout_prints_its_summary_only_when_it_failed():
    fleet, _ = fleet_of("h1", "h2")
    quiet = io.StringIO()
    conclude(
        fleet,
        [Outcome("h1", OK, 1.0), Outcome("h2", OK, 1.0)],
        "push",
        stream=quiet,
        summarize=False,
    )
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    with pytest.raises(FleetFailed, match="push failed on h2"):
        conclude(
            fleet,
            [Outcome("h1", OK, 1.0), Outcome("h2", FAILED, 1.0, error=StepFailed("load failed"))],
            "push",
            stream=loud,
            summarize=False,
        )
    assert "load failed" in loud.getvalue()


def test_batch_wait_needs_batches():
    hosts = [HostSpec("a"), HostSpec("b")]
    assert rollout_of(hosts, "1", "5") == Rollout(size=1, wait=5.0)
    with pytest.raises(InvalidInput, match="--batch-wait needs --batch"):
        rollout_of(hosts, None, "5")
