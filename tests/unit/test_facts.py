"""Parsers over real captured output (see captured/README.md for how it was made)."""

from __future__ import annotations

import json

import pytest

from leo_tasks.errors import LeoError
from leo_tasks.facts import (
    Container,
    parse_compose_config,
    parse_default_servers,
    parse_ids,
    parse_inspect,
    parse_nginx_version,
    parse_sha256sum,
)

from .conftest import make_container

VERSIONS = "engine20.10.24-compose2.40.3"
WEB_ID = "681d8912997ed3e03b516e92551769623efa7b6f3f3d82bfd68ea5b4ff8dbbd5"
WORKER1_ID = "b06d735cff76e461d3a336e99ab4c53853b7f676f3a49c4d8aa859f4e75acb6a"
WORKER2_ID = "8249cd6d0296de033ca18a9e793afcc927b0b389c6b0f8a1ca7b7656f06f748b"


@pytest.fixture
def running(captured) -> dict[str, Container]:
    containers = parse_inspect(captured(f"inspect-running-{VERSIONS}.json"))
    return {c.name: c for c in containers}


def test_inspect_running_parses_every_container_in_order(captured):
    containers = parse_inspect(captured(f"inspect-running-{VERSIONS}.json"))
    assert [c.id for c in containers] == [WEB_ID, WORKER1_ID, WORKER2_ID]
    assert [c.name for c in containers] == ["capture-web-1", "capture-worker-1", "capture-worker-2"]


def test_inspect_web_with_healthcheck_two_networks_and_stop_grace_period(running):
    web = running["capture-web-1"]
    assert web == Container(
        id=WEB_ID,
        name="capture-web-1",
        project="capture",
        service="web",
        number=1,
        status="running",
        exit_code=0,
        health="healthy",
        created="2026-11-25T06:44:05.217175226Z",
        started_at="2026-11-25T06:44:05.792334305Z",
        networks={"capture_default": "172.20.0.2", "capture_extra": "172.19.0.2"},
        stop_timeout=7,  # stop_grace_period: 7s
        # The image *ID*, not the `leo-test-web:healthy` reference (Config.Image).
        image="sha256:2e60cbec9239dab2cb59c65d8921000a875a04362487a160ca46768590fce499",
    )
    assert web.running
    assert web.short_id == "681d8912997e"


@pytest.mark.parametrize(
    ("name", "number", "ip"),
    [("capture-worker-1", 1, "172.20.0.3"), ("capture-worker-2", 2, "172.20.0.4")],
)
def test_inspect_workers_without_healthcheck(running, name, number, ip):
    worker = running[name]
    assert worker.service == "worker"
    assert worker.project == "capture"
    assert worker.number == number
    assert worker.status == "running"
    assert worker.health is None
    assert worker.exit_code == 0
    assert worker.networks == {"capture_default": ip}
    assert worker.stop_timeout is None
    assert worker.image.startswith("sha256:6e8727af9ae4")


def test_inspect_exited_container(captured):
    (broken,) = parse_inspect(captured(f"inspect-exited-{VERSIONS}.json"))
    assert broken.id == "60bf43bfe9c2558c19c8ef59b9beea030d317a798d539c6045d769688a84e639"
    assert broken.name == "capture-broken-1"
    assert broken.service == "broken"
    assert broken.status == "exited"
    assert not broken.running
    assert broken.exit_code == 3
    assert broken.health is None
    # An exited container stays attached to its network, without an address.
    assert broken.networks == {"capture_default": ""}
    assert broken.address(["capture_default"]) is None


def test_inspect_container_whose_health_is_still_starting(captured):
    (slow,) = parse_inspect(captured(f"inspect-starting-{VERSIONS}.json"))
    assert slow.service == "slow"
    assert slow.status == "running"
    assert slow.health == "starting"
    assert slow.networks == {"capture_default": "172.20.0.5"}


@pytest.mark.parametrize(
    ("name", "preferred", "expected"),
    [
        # Two networks: the first preferred one the container is on wins.
        ("capture-web-1", ["capture_default", "capture_extra"], "172.20.0.2"),
        ("capture-web-1", ["capture_extra", "capture_default"], "172.19.0.2"),
        ("capture-web-1", ["other_default", "capture_extra"], "172.19.0.2"),
        # Preferred networks it is not on: no guessing.
        ("capture-web-1", ["other_default"], None),
        ("capture-worker-1", ["other_default"], None),
        # Nothing preferred: its only address, or nothing when it has several.
        ("capture-worker-1", [], "172.20.0.3"),
        ("capture-web-1", [], None),
    ],
)
def test_address_takes_the_first_preferred_network(running, name, preferred, expected):
    assert running[name].address(preferred) == expected


def _container(**changes) -> Container:
    return make_container(**{"id": "x" * 64, "name": "n", "project": "p", **changes})


def test_address_skips_networks_without_an_ip():
    container = _container(networks={"p_default": "", "p_extra": "10.0.0.5"})
    assert container.address(["p_default", "p_extra"]) == "10.0.0.5"
    assert container.address([]) == "10.0.0.5"


def _inspect_item(labels: dict, networks: dict) -> dict:
    return {
        "Id": "c" * 64,
        "Name": "/p-web-run-1",
        "Config": {"Labels": labels},
        "State": {"Status": "running"},
        "NetworkSettings": {"Networks": networks},
    }


def test_one_off_containers_are_marked():
    labels = {
        "com.docker.compose.project": "p",
        "com.docker.compose.service": "web",
        "com.docker.compose.oneoff": "True",
    }
    item = _inspect_item(labels, {"p_default": {"IPAddress": "172.18.0.9"}})
    service = _inspect_item({**labels, "com.docker.compose.oneoff": "False"}, {})
    oneoff, regular = parse_inspect(json.dumps([item, service]))
    assert oneoff.oneoff and not regular.oneoff


def test_ipv6_only_network_gives_the_global_ipv6_address():
    net = {"IPAddress": "", "GlobalIPv6Address": "fd00:1::5"}
    (container,) = parse_inspect(json.dumps([_inspect_item({}, {"p_v6": net})]))
    assert container.networks == {"p_v6": "fd00:1::5"}
    assert container.address(["p_v6"]) == "fd00:1::5"


def test_host_port_brackets_ipv6():
    from leo_tasks.facts import host_port

    assert host_port("172.18.0.2", 5000) == "172.18.0.2:5000"
    assert host_port("fd00:1::5", 8000) == "[fd00:1::5]:8000"


@pytest.mark.parametrize("text", ["", "[]", "[]\n"])
def test_inspect_of_nothing(text):
    # `docker container inspect` of only vanished IDs prints `[]` (and exits 1).
    assert parse_inspect(text) == []


def test_inspect_garbage_is_a_leo_error():
    with pytest.raises(LeoError, match="unexpected output from docker inspect"):
        parse_inspect("Error: No such container: abc")


def test_inspect_tolerates_missing_sections():
    (container,) = parse_inspect('[{"Id": "abc", "Config": {"Labels": null}, "State": {}}]')
    assert container.id == "abc"
    assert container.service == ""
    assert container.number == 0
    assert container.status == "unknown"
    assert container.health is None
    assert container.networks == {}
    assert container.address(["p_default"]) is None


def test_parse_ids():
    text = f"{WEB_ID}\n\n  {WORKER1_ID}  \n"
    assert parse_ids(text) == [WEB_ID, WORKER1_ID]
    assert parse_ids("") == []


# ---- compose config ------------------------------------------------------------


@pytest.fixture
def model(captured):
    return parse_compose_config(captured("config-compose2.40.3.json"))


def test_compose_config_services(model):
    assert sorted(model.services) == ["web", "worker"]
    assert model.services["web"]["image"] == "leo-test-web:healthy"
    assert model.services["web"]["stop_grace_period"] == "7s"


@pytest.mark.parametrize(
    ("service", "replicas"),
    [("web", 1), ("worker", 2), ("absent", 1)],
)
def test_compose_config_replicas(model, service, replicas):
    assert model.replicas(service) == replicas


@pytest.mark.parametrize(
    ("spec", "replicas"),
    [
        ({"scale": 3}, 3),
        ({"deploy": {"replicas": 4}, "scale": 3}, 4),
        ({"deploy": {"replicas": None}}, 1),
        ({"deploy": {}}, 1),
    ],
)
def test_replicas_from_scale_or_deploy(spec, replicas):
    model = parse_compose_config(json.dumps({"services": {"web": spec}}))
    assert model.replicas("web") == replicas


def test_compose_config_garbage_is_a_leo_error():
    with pytest.raises(LeoError, match="unexpected output from docker compose config"):
        parse_compose_config("yaml: line 3: mapping values are not allowed")


def test_compose_config_without_services():
    assert parse_compose_config('{"name": "x"}').services == {}


# ---- sha256sum -----------------------------------------------------------------


def test_sha256sum_captured(captured):
    # Captured from `sha256sum -- docker-compose.yml env missing-file`: the missing
    # file's complaint went to stderr, so it is simply absent.
    assert parse_sha256sum(captured("sha256sum-coreutils9.1.txt")) == {
        "docker-compose.yml": "802894219686dd31f38d30c2eb395633d5e05bb6605183826de867cf7dd9c1fe",
        "env": "f18a5d44557505f2890b6f3cee326a7596aabd820bdbd59951fad7bde8bcac1f",
    }


def test_sha256sum_keeps_spaces_in_paths_and_skips_noise():
    digest = "0" * 64
    text = f"{digest}  /srv/a b.txt\nsha256sum: /x: No such file or directory\n{'1' * 63}  /short\n"
    assert parse_sha256sum(text) == {"/srv/a b.txt": digest}


# ---- nginx -T and -v ----------------------------------------------------------------


NGINX_T = """\
# configuration file /etc/nginx/nginx.conf:
http { include /etc/nginx/conf.d/*.conf; }
# configuration file /etc/nginx/conf.d/leo.conf:
server { listen 80 default_server; listen [::]:80 default_server; return 444; }
# configuration file /etc/nginx/sites-enabled/default:
server {
    listen 8080 default;  # the old spelling
    listen 127.0.0.1:443 ssl default_server;
    # listen 9000 default_server;   (a comment)
    listen 81;
}
"""


def test_default_servers_of_the_host_leave_leos_own_file_out():
    assert parse_default_servers(NGINX_T, exclude=["/etc/nginx/conf.d/leo.conf"]) == {8080, 443}
    assert parse_default_servers(NGINX_T) == {80, 8080, 443}
    assert parse_default_servers("") == set()


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("nginx version: nginx/1.22.1\n", (1, 22, 1)),
        ("nginx version: openresty/1.21.4.2", (1, 21, 4, 2)),
        ("sh: 1: nginx: not found", ()),
    ],
)
def test_nginx_version(text, version):
    assert parse_nginx_version(text) == version


def test_parse_upstream_skips_the_placeholder():
    from leo_tasks import templates
    from leo_tasks.facts import parse_upstream
    from leo_tasks.layout import AppPaths

    paths = AppPaths("shop")
    assert parse_upstream(templates.upstream(paths, [])) == []
    assert parse_upstream(templates.upstream(paths, ["172.18.0.2", "172.18.0.3"])) == [
        "172.18.0.2",
        "172.18.0.3",
    ]
    assert parse_upstream(templates.upstream(paths, ["fd00::5"], port=8000)) == ["fd00::5"]


def test_parse_image_origins():
    from leo_tasks.facts import parse_image_origins

    text = "leo-test-web:v1\t0\nnosuch:x\tmissing\nregistry.example/app:1\t1\n"
    assert parse_image_origins(text) == {
        "leo-test-web:v1": "local",
        "nosuch:x": "missing",
        "registry.example/app:1": "registry",
    }


def test_parse_image_ids(captured):
    from leo_tasks.facts import parse_image_ids

    web = "sha256:0d1cd3d75ac0c85c1fafd9516edd68e32301ef5926abcb981dd055fd9964fba4"
    assert parse_image_ids(captured("image-ids-engine20.10.24.txt")) == {
        "leo-test-web:slow": web,
        "nosuch:x": None,
        "sha256:0d1cd3d75ac0": web,
        "leo-test-worker:v2": (
            "sha256:e6e3e32401bd8dafb916d5661deac9b570481ecf773e7d706ad1880dc30a3e50"
        ),
    }
    assert parse_image_ids("") == {}


def test_parse_recreated_names_only_the_containers_compose_would_recreate():
    from leo_tasks.facts import parse_recreated

    text = (
        " DRY-RUN MODE -  Container shop-web-1  Running\n"
        " DRY-RUN MODE -  Container shop-worker-1  Recreate\n"
        " DRY-RUN MODE -  Container shop-worker-1  Recreated\n"
        " DRY-RUN MODE -  Container 3bc43294a406_shop-worker-1  Starting\n"
        " DRY-RUN MODE -  Container shop-db-1  Creating\n"
    )
    assert parse_recreated(text) == {"shop-worker-1"}


def test_a_container_action_without_the_dry_run_marker_is_caught():
    from leo_tasks.facts import not_dry

    assert not not_dry(" DRY-RUN MODE -  Container shop-web-1  Recreate")
    assert not_dry(" Container shop-web-1  Recreate")
    assert not not_dry("WARN[0000] the attribute `version` is obsolete")
