"""The web port: LEO_WEB_PORT, else the web image's single EXPOSEd TCP port, else 5000."""

from __future__ import annotations

import pytest

from leo_tasks.errors import InvalidInput
from leo_tasks.steps.releases import Release
from leo_tasks.steps.webport import choose, exposed_tcp_ports, kept_from_before


@pytest.mark.parametrize(
    ("text", "ports"),
    [
        ("null", []),
        ("", []),
        ("{}", []),
        ('{"8000/tcp":{}}', [8000]),
        ('{"80/tcp":{},"443/tcp":{}}', [80, 443]),
        ('{"53/udp":{},"8080/tcp":{}}', [8080]),  # nginx proxies TCP only
        ('{"3000":{}}', [3000]),
        ("not json", []),
    ],
)
def test_exposed_tcp_ports(text, ports):
    assert exposed_tcp_ports(text) == ports


def test_one_exposed_port_is_the_port():
    assert choose([8000], image="shop:1", web="app", app="shop") == (8000, "EXPOSE of shop:1")


def test_no_exposed_port_falls_back_to_5000_and_says_so():
    assert choose([], image="shop:1", web="app", app="shop") == (
        5000,
        "the default: shop:1 EXPOSEs no port",
    )


def test_several_exposed_ports_are_refused_with_how_to_choose():
    with pytest.raises(InvalidInput) as info:
        choose([80, 443], image="shop:1", web="app", app="shop")
    assert str(info.value) == (
        "the image of service app (shop:1) EXPOSEs several ports (80, 443), and leo cannot "
        "tell which one serves HTTP: set it with `leo env.set --app shop LEO_WEB_PORT=PORT`"
    )


def _release(number: int, web: dict) -> Release:
    return Release(number, "t", "me", "0" * 64, {}, web=web)


def test_an_app_last_deployed_before_expose_detection_keeps_its_port():
    assert not kept_from_before([])  # a new app: its image says
    assert kept_from_before([_release(1, {})])  # recorded by a leo that had no web settings
    assert kept_from_before([_release(1, {}), _release(2, {"port": 5000, "how": "kept"})])
    assert not kept_from_before([_release(1, {}), _release(2, {"port": 80, "how": "LEO_WEB_PORT"})])
    assert not kept_from_before([_release(1, {"port": 8000, "how": "EXPOSE"})])
