"""Compose files are checked before they reach a host, with the reason for a refusal."""

from __future__ import annotations

import pytest
import yaml

from leo_tasks.composefile import check, default_compose
from leo_tasks.errors import InvalidInput

GOOD = """\
services:
  web:
    image: shop:1
    env_file: ./env
    expose: ["5000"]
  worker:
    image: shop:1
    env_file: [./env]
"""


def test_good_file_passes_without_warnings():
    result = check(GOOD)
    assert result.services == ["web", "worker"]
    assert result.warnings == []


@pytest.mark.parametrize(
    ("web", "reasons"),
    [
        (
            "    ports: ['8080:5000']\n",
            ["publishes ports", "two web containers side by side", "remove `ports:`"],
        ),
        ("    ports:\n      - 5000\n", ["publishes ports"]),
        (
            "    container_name: shop-web\n",
            ["sets container_name", "cannot share one name", "Remove container_name"],
        ),
        (
            "    network_mode: host\n",
            ["network_mode: host", "needs a bridge network", "Remove network_mode"],
        ),
        ("    network_mode: none\n", ["network_mode: none"]),
        ("    network_mode: 'service:db'\n", ["network_mode: service:db"]),
    ],
)
def test_refuses_what_pins_web_to_one_instance(web, reasons):
    text = f"services:\n  web:\n    image: shop:1\n    env_file: ./env\n{web}"
    with pytest.raises(InvalidInput) as info:
        check(text, source="shop/docker-compose.yml")
    message = str(info.value)
    assert message.startswith("shop/docker-compose.yml: service web ")
    for reason in reasons:
        assert reason in message


@pytest.mark.parametrize(
    "extra",
    ["    ports: []\n", "    network_mode: bridge\n", "    container_name: ''\n"],
)
def test_empty_or_harmless_settings_are_accepted(extra):
    assert check(f"services:\n  web:\n    image: x\n    env_file: ./env\n{extra}").warnings == []


def test_other_services_may_publish_ports():
    text = GOOD + "  db:\n    image: db\n    ports: ['5432:5432']\n    container_name: db\n"
    assert check(text).services == ["db", "web", "worker"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services:\n  worker:\n    image: x\n", "has no `web` service"),
        ("services:\n  web:\n", "has no `web` service"),  # web: null
        ("services:\n  web: shop:1\n", "has no `web` service"),
        ("services: {}\n", "has no `web` service"),
        ("services: [web]\n", "has no `services:` mapping"),
        ("version: '3'\n", "has no `services:` mapping"),
        ("", "has no `services:` mapping"),
        ("- a\n- b\n", "has no `services:` mapping"),
        ("just a string\n", "has no `services:` mapping"),
        ("services:\n  web: [unclosed\n", "is not valid YAML"),
        ("services:\n\tweb: {}\n", "is not valid YAML"),
        ("services:\n  'bad name':\n    image: x\n", "invalid service name 'bad name'"),
        ("services:\n  -web:\n    image: x\n", "invalid service name '-web'"),
    ],
)
def test_refuses_malformed_files(text, message):
    with pytest.raises(InvalidInput) as info:
        check(text, source="c.yml")
    assert message in str(info.value)


def test_missing_web_message_says_why():
    with pytest.raises(InvalidInput) as info:
        check("services:\n  api:\n    image: x\n")
    assert str(info.value) == (
        "compose file has no `web` service: leo serves the `web` service through nginx "
        "(on port 5000)"
    )


@pytest.mark.parametrize(
    "env_file",
    [
        "./env",
        "env",
        "[./env]",
        "[other.env, env]",
        "[{path: ./env, required: true}]",
        "[{path: env}]",
        # A bare mapping: compose 2.40.3 itself refuses this form
        # ("services.web.env_file must be a string"), see the report.
        "{path: ./env}",
    ],
)
def test_env_file_forms_that_read_the_app_env(env_file):
    text = f"services:\n  web:\n    image: x\n    env_file: {env_file}\n"
    assert check(text).warnings == []


@pytest.mark.parametrize(
    "env_file",
    [None, "./.env", "[]", "[other.env]", "[{path: ./other}]", "/etc/env", "./env/x"],
)
def test_warns_when_web_does_not_read_the_env_file(env_file):
    body = "" if env_file is None else f"    env_file: {env_file}\n"
    result = check(f"services:\n  web:\n    image: x\n{body}")
    assert result.warnings == [
        "service web has no `env_file: ./env`: values set with `leo env.set` will not reach it"
    ]


# ---- default compose file -----------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "shop",
        "shop:1.2.3",
        "registry.example.com:5000/team/shop:v1",
        "ghcr.io/o/shop@sha256:" + "a" * 64,
        # YAML would read these as numbers, booleans or null if they were not quoted.
        "1",
        "1.0",
        "1e3",
        "true",
        "no",
        "null",
        "0x10",
    ],
)
def test_default_compose_passes_check_and_keeps_the_image_exactly(image):
    text = default_compose(image)
    assert text.startswith("# Written by `leo create`")
    result = check(text)
    assert result.services == ["web"]
    assert result.warnings == []
    web = yaml.safe_load(text)["services"]["web"]
    assert web == {
        "image": image,
        "env_file": ["./env"],
        "restart": "unless-stopped",
        "expose": ["5000"],
    }


@pytest.mark.parametrize(
    "image",
    [
        "",
        "-x",
        ".hidden",
        "a b",
        "shop;rm -rf /",
        "$(id)",
        "shop\n",
        "shop\nports: [80]",
        "shop#tag",
        "x" * 256,
        "sh\u00f6p",
    ],
)
def test_default_compose_rejects_bad_image_refs(image):
    with pytest.raises(InvalidInput, match="invalid image reference"):
        default_compose(image)


@pytest.mark.parametrize("tag", ["!reset []", "!override ['5000']"])
def test_accepts_compose_yaml_tags(tag):
    text = f"services:\n  web:\n    image: x\n    env_file: ./env\n    expose: {tag}\n"
    assert check(text).warnings == []
