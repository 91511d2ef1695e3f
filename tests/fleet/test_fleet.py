"""The fleet, end to end: three real hosts (own dockerd, sshd, nginx) behind a load balancer.

One scenario, in order, as an operator would live it: set the hosts up, push
images (no registry), create and deploy in parallel, roll through batches under
load, survive a host that cannot deploy (with and without rollback on failure),
refuse to start while a lock is held, get one certificate onto every host, and
implode. Each test states what it checks from outside (docker exec on a host,
HTTP through the load balancer), never through leo's own word.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
import urllib.request

from ..e2e.hostkit import Leo, Load
from ..e2e.test_letsencrypt import acme_args, pebble_env, pebble_root
from ..e2e.test_logs import Follow
from .fleetkit import (
    APPS,
    LB,
    container_ids,
    ips,
    on,
    releases,
    served_version,
)

APP = "shop"
DOMAIN = "shop.test"


def as_deploy(host: str) -> str:
    """How leo names a host it reaches as leo-deploy (app tasks)."""
    return f"leo-deploy@{host}"


def serving(fleet: list[str]) -> list[str]:
    return [served_version(ip, DOMAIN) for ip in ips()[: len(fleet)]]


def summary_rows(stderr: str) -> dict[str, list[str]]:
    """The summary table leo prints at the end: host -> its cells."""
    lines = stderr.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("HOST "))
    rows = {}
    for line in lines[start + 1 :]:
        if line.startswith("leo:") or not line.strip():
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def compose(tmp_path, image: str, name: str = "compose.yml"):
    path = tmp_path / name
    path.write_text(f"services:\n  web:\n    image: {image}\n    env_file: ./env\n")
    return path


def test_setup_prepares_every_host_in_parallel(leo, fleet, home):
    result = leo("setup", "--host", "roots", "--pubkey", str(home / ".ssh/id_ed25519.pub"))
    rows = summary_rows(result.stderr)
    assert sorted(rows) == [f"root@{h}" for h in fleet]
    assert all(cells[0] == "ok" for cells in rows.values())
    for host in fleet:
        assert on(host, "id", "-un", "leo-deploy").strip() == "leo-deploy"
        assert "nginx -t" in on(host, "sudo", "-l", "-U", "leo-deploy")


def test_push_copies_images_once(leo, fleet):
    for host in fleet:
        on(host, "sh", "-c", "docker rmi -f leo-test-web:v1 leo-test-web:v2 2>/dev/null; true")
    first = leo("push", "--image", "leo-test-web:v1", "--image", "leo-test-web:v2")
    local = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", "leo-test-web:v1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for host in fleet:
        there = on(host, "docker", "image", "inspect", "--format", "{{.Id}}", "leo-test-web:v1")
        assert there.strip() == local
        on(host, "docker", "image", "inspect", "leo-test-web:v2")
    sent = summary_rows(first.stderr)
    assert sorted(sent) == [as_deploy(h) for h in fleet]
    for cells in sent.values():  # ok  0.4s  sent leo-test-web:v1, leo-test-web:v2 (1.1 MB)
        assert cells[0] == "ok" and cells[2:4] == ["sent", "leo-test-web:v1,"], cells
    again = summary_rows(
        leo("push", "--image", "leo-test-web:v1", "--image", "leo-test-web:v2").stderr
    )
    assert [[cells[0], *cells[2:]] for cells in again.values()] == [["ok", "already", "there"]] * 3


def test_create_and_first_deploy_on_all_hosts(leo, fleet):
    leo("create", "--image", "leo-test-web:v1", "--domain", DOMAIN)
    leo("env.set", "--name", "LEO_DRAIN_SECONDS", "--value", "0.5")
    result = leo("rotate")
    rows = summary_rows(result.stderr)
    assert [rows[as_deploy(h)][:2] for h in fleet] == [["ok", "1"]] * len(fleet)
    assert serving(fleet) == ["v1"] * len(fleet)
    # Read-only tasks run on all hosts at once; their output is grouped per host,
    # in the order given.
    status = leo("status").stdout.splitlines()
    hosts_in_order = [line.split("]")[0][1:] for line in status]
    assert hosts_in_order == sorted(hosts_in_order, key=[as_deploy(h) for h in fleet].index)
    assert set(hosts_in_order) == {as_deploy(h) for h in fleet}


def test_rolling_deploy_one_host_at_a_time_drops_no_request(leo, fleet, tmp_path):
    with Load(DOMAIN, workers=4, address=LB) as load:
        result = leo(
            "deploy", "--compose", str(compose(tmp_path, "leo-test-web:v2")), "--batch", "1"
        )
    assert load.total > 100 and load.failed == 0, (load.statuses, load.errors[:5])
    text = result.stderr
    order = [text.index(f"[fleet] batch {i + 1}/3: {as_deploy(h)}") for i, h in enumerate(fleet)]
    assert order == sorted(order)
    # Host 2 started only after host 1 had recorded its release.
    assert text.index("[leo-deploy@h1] record release") < text.index("batch 2/3: leo-deploy@h2")
    assert serving(fleet) == ["v2"] * len(fleet)


def test_deploy_push_sends_every_host_its_images_before_any_host_deploys(leo, fleet, tmp_path):
    # A name no host has (the image is v1's): deploy --push must bring it.
    subprocess.run(["docker", "tag", "leo-test-web:v1", "leo-fleet-test:pushed"], check=True)
    try:
        result = leo(
            "deploy",
            "--compose",
            str(compose(tmp_path, "leo-fleet-test:pushed")),
            "--push",
            "--batch",
            "34%",  # of 3 hosts: one at a time
            "--batch-wait",
            "1",
        )
    finally:
        subprocess.run(["docker", "rmi", "leo-fleet-test:pushed"], check=False)
    text = result.stderr
    pushes = [text.index(f"[{as_deploy(h)}] push leo-fleet-test:pushed") for h in fleet]
    assert max(pushes) < text.index("upload docker-compose.yml"), text
    assert text.count("[fleet] waiting 1s before the next batch") == 2
    assert text.index("batch 1/3: leo-deploy@h1") < text.index("batch 3/3: leo-deploy@h3")
    assert serving(fleet) == ["v1"] * len(fleet)


def test_parallel_deploy_drops_no_request(leo, fleet, tmp_path):
    started = time.monotonic()
    with Load(DOMAIN, workers=4, address=LB) as load:
        result = leo("deploy", "--compose", str(compose(tmp_path, "leo-test-web:v2")))
    elapsed = time.monotonic() - started
    assert load.total > 100 and load.failed == 0, (load.statuses, load.errors[:5])
    rows = summary_rows(result.stderr)
    host_times = [float(rows[as_deploy(h)][2].rstrip("s")) for h in fleet]
    assert elapsed < sum(host_times), (elapsed, host_times)  # they overlapped
    assert serving(fleet) == ["v2"] * len(fleet)


def test_a_failed_batch_stops_the_rollout_with_later_hosts_untouched(leo, fleet, tmp_path):
    # leo-test-web:healthy exists on h1 and h3 only: h2 cannot deploy it.
    leo("push", "--image", "leo-test-web:healthy", "--host", "h1,h3")
    on("h2", "sh", "-c", "docker rmi -f leo-test-web:healthy 2>/dev/null; true")
    before = {h: (len(releases(h, APP)), container_ids(h, APP)) for h in fleet}
    result = leo(
        "deploy",
        "--compose",
        str(compose(tmp_path, "leo-test-web:healthy")),
        "--batch",
        "1",
        ok=False,
    )
    assert result.returncode == 1, result.stderr
    assert "leo: deploy failed on leo-deploy@h2; 1 not started" in result.stderr
    rows = summary_rows(result.stderr)
    assert rows["leo-deploy@h1"][0] == "ok" and rows["leo-deploy@h2"][0] == "FAILED"
    assert rows["leo-deploy@h3"][:2] == ["not", "started"]
    assert served_version(ips()[0], DOMAIN) == "healthy"
    assert served_version(ips()[1], DOMAIN) == "v2"
    assert (len(releases("h2", APP)), container_ids("h2", APP)) == before["h2"]
    assert (len(releases("h3", APP)), container_ids("h3", APP)) == before["h3"]
    assert served_version(ips()[2], DOMAIN) == "v2"


def test_rollback_on_failure_leaves_every_host_on_its_previous_release(leo, fleet, tmp_path):
    # Start from one release everywhere (v1), then a deploy that fails on h2.
    leo("deploy", "--compose", str(compose(tmp_path, "leo-test-web:v1")))
    previous = {h: releases(h, APP)[-1] for h in fleet}
    with Load(DOMAIN, workers=4, address=LB) as load:
        result = leo(
            "deploy",
            "--compose",
            str(compose(tmp_path, "leo-test-web:healthy")),
            "--batch",
            "1",
            "--rollback-on-failure",
            ok=False,
        )
    assert result.returncode == 1, result.stderr
    assert load.failed == 0, (load.statuses, load.errors[:5])
    rows = summary_rows(result.stderr)
    assert rows["leo-deploy@h1"][:3] == ["ok,", "rolled", "back"], rows
    assert serving(fleet) == ["v1"] * len(fleet)
    h1 = releases("h1", APP)[-1]
    assert h1["origin"] == previous["h1"]["origin"] and "rollback" in h1["note"]
    assert releases("h2", APP)[-1] == previous["h2"]
    assert releases("h3", APP)[-1] == previous["h3"]


def test_a_held_lock_on_the_last_host_stops_the_run_before_the_first_changes(leo, fleet, tmp_path):
    lock = f"{APPS}/{APP}/.leo/deploy.lock"
    holder = subprocess.Popen(
        [
            "docker",
            "exec",
            "leo-fleet-h3",
            "runuser",
            "-u",
            "leo-deploy",
            "--",
            "flock",
            "-n",
            lock,
            "sleep",
            "60",
        ],
    )
    try:
        time.sleep(1)
        before = {h: (releases(h, APP), container_ids(h, APP)) for h in fleet}
        result = leo("deploy", "--compose", str(compose(tmp_path, "leo-test-web:v2")), ok=False)
        assert result.returncode == 4, result.stderr
        assert "locked on leo-deploy@h3" in result.stderr
        assert "upload docker-compose.yml" not in result.stderr  # no host began
        assert {h: (releases(h, APP), container_ids(h, APP)) for h in fleet} == before
        assert serving(fleet) == ["v1"] * len(fleet)
        # The locks taken on h1 and h2 were given back.
        for host in ("h1", "h2"):
            assert "deploy lock free" in leo("lock", "--host", host).stdout
    finally:
        holder.kill()
        on("h3", "pkill", "-f", "sleep 60", ok=False)


def test_an_unreachable_host_stops_the_run_with_nothing_changed(leo, fleet, tmp_path):
    before = {h: releases(h, APP) for h in fleet}
    result = leo(
        "deploy",
        "--host",
        "h1,h2,leo-deploy@172.31.250.99",
        "--compose",
        str(compose(tmp_path, "leo-test-web:v2")),
        ok=False,
    )
    assert result.returncode == 3, result.stderr
    assert "172.31.250.99" in result.stderr
    assert {h: releases(h, APP) for h in fleet} == before


def test_one_certificate_reaches_every_host_while_the_domain_points_at_h2(leo, fleet, tmp_path):
    env = pebble_env()
    # Pebble's DNS sends the CA to h2 only: h1's and h3's copies of the
    # challenge are never fetched, and each host still ends up serving HTTPS.
    body = json.dumps({"host": DOMAIN, "addresses": [ips()[1]]}).encode()
    urllib.request.urlopen(f"{env['CHALLTESTSRV']}/add-a", data=body, timeout=5).read()
    leo(
        "letsencrypt",
        "--email",
        "ops@shop.test",
        *acme_args(env),
    )
    chain = {
        h: on(h, "cat", f"{APPS}/{APP}/letsencrypt/live/{DOMAIN}/fullchain.pem") for h in fleet
    }
    assert len(set(chain.values())) == 1 and "BEGIN CERTIFICATE" in chain["h1"]
    root = pebble_root(env, tmp_path)
    for ip in ips()[: len(fleet)]:
        context = ssl.create_default_context(cafile=str(root))
        with (
            socket.create_connection((ip, 443), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=DOMAIN) as tls,
        ):
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: close\r\n\r\n".encode())
            assert tls.recv(64).startswith(b"HTTP/1.1 200")
    report = leo("certs").stdout
    for host in fleet:
        mine = [line for line in report.splitlines() if line.startswith(f"[{as_deploy(host)}]")]
        assert any(DOMAIN in line for line in mine), report


def test_logs_come_from_every_host_and_a_follow_ends_clean_on_each(leo, fleet, home, project):
    def say(host: str, text: str) -> None:
        [web] = on(host, "docker", "ps", "-q", "--filter", "label=com.docker.compose.service=web",
                   "--filter", f"label=com.docker.compose.project={APP}").split()  # fmt: skip
        on(host, "docker", "exec", web, "sh", "-c", 'echo "$1" > /proc/1/fd/1', "sh", text)

    for host in fleet:
        say(host, f"hello from {host}")
    shown = leo("logs").stdout.splitlines()
    for host in fleet:
        assert any(
            line.startswith(f"[{as_deploy(host)}] shop-web-")
            and line.endswith(f" | hello from {host}")
            for line in shown
        ), shown
    # Without --follow each host's lines come together, in the order given.
    hosts_in_order = list(dict.fromkeys(line.split("]")[0][1:] for line in shown))
    assert hosts_in_order == [as_deploy(h) for h in fleet]

    follow = Follow(Leo(home), cwd=project)
    try:
        for host in fleet:  # the lines so far: every host's followers are running
            follow.wait_for(f" | hello from {host}")
        for host in fleet:
            say(host, f"followed on {host}")
        for host in fleet:
            follow.wait_for(f"[{as_deploy(host)}] shop-web-")
            follow.wait_for(f" | followed on {host}")
    finally:
        code, stderr = follow.interrupt()
    assert code == 0, stderr
    for host in fleet:
        left = on(host, "ps", "-ww", "-u", "leo-deploy", "-o", "args=", ok=False)
        assert "docker logs" not in left and "leo-logs" not in left, (host, left)


def test_history_dry_run_and_json_across_the_fleet(leo, fleet, tmp_path):
    # history: each of the two failed batches above is one run across the hosts, newest
    # first: with --rollback-on-failure, h1 deployed, then rolled back; h2 failed; h3 was
    # never started. Without it, h1 deployed and stayed.
    document = json.loads(leo("history", "--limit", "50", "--json").stdout)
    assert document["schema"] == "leo.history/1" and document["app"] == APP
    by_host = {e["host"]: e["records"] for e in document["hosts"]}
    assert list(by_host) == [as_deploy(h) for h in fleet]
    failed = [r for r in by_host["leo-deploy@h2"] if r["result"] == "failed"]
    assert [r["task"] for r in failed] == ["deploy", "deploy"] and all(r["error"] for r in failed)

    def run_of(record: dict) -> list[tuple[str, str, str]]:
        return [
            (h, r["task"], r["result"])
            for h in fleet
            for r in by_host[as_deploy(h)]
            if r["run"] == record["run"]
        ]

    assert run_of(failed[0]) == [
        ("h1", "rollback", "ok"),
        ("h1", "deploy", "ok"),
        ("h2", "deploy", "failed"),
    ]
    assert run_of(failed[1]) == [("h1", "deploy", "ok"), ("h2", "deploy", "failed")]

    # A dry run of a changed file: every host says what it would do; none changes.
    def state(host: str) -> tuple:
        logged = on(host, "cat", f"/home/leo-deploy/history/{APP}.jsonl")
        files = on(host, "sh", "-c", f"cd {APPS}/{APP} && cat docker-compose*.yml upstream.conf")
        return container_ids(host, APP), releases(host, APP), logged, files

    before = {h: state(h) for h in fleet}
    changed = tmp_path / "changed.yml"
    changed.write_text(
        "services:\n  web:\n    image: leo-test-web:v1\n    env_file: ./env\n"
        "    environment: {DRY_RUN_PROBE: '1'}\n"
    )
    dry = leo("deploy", "--compose", str(changed), "--dry-run", ok=False)
    assert dry.returncode == 5, dry.stdout + dry.stderr
    for host in fleet:
        assert f"[{as_deploy(host)}] docker-compose.yml: changed" in dry.stdout
        assert f"[{as_deploy(host)}] web: start 1 new" in dry.stdout
    assert {h: state(h) for h in fleet} == before

    # --json of status on every host: one document, an entry per host, nginx agreeing.
    status = json.loads(leo("status", "--json").stdout)
    assert [e["host"] for e in status["hosts"]] == [as_deploy(h) for h in fleet]
    assert all(e["ok"] and e["agree"] for e in status["hosts"])


def test_implode_removes_leo_from_every_host(leo, fleet):
    result = leo("implode", "--host", "roots", "--yes")
    rows = summary_rows(result.stderr)
    assert all(cells[0] == "ok" for cells in rows.values()) and len(rows) == len(fleet)
    for host in fleet:
        assert on(host, "id", "leo-deploy", ok=False) == ""
        assert container_ids(host, APP) == []
        assert on(host, "ls", "/etc/nginx/conf.d").strip() == ""
