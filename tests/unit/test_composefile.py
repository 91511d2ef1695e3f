"""Compose files are checked before they reach a host, with the reason for a refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leo_tasks.composefile import check as check_any
from leo_tasks.composefile import default_compose, images_in_compose
from leo_tasks.errors import InvalidInput

from .conftest import compose_config_json, needs_compose

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


def check(text: str, *, source: str = "compose file", web: str | None = "web"):
    """The check `leo create` runs: the app's web service known (`web` unless said)."""
    return check_any(text, source=source, web=web)


def compose_config(tmp_path: Path, text: str, *profiles: str) -> dict:
    """What the real `docker compose config` makes of `text` (no engine needed)."""
    (tmp_path / "env").write_text("")
    (tmp_path / "docker-compose.yml").write_text(text)
    return compose_config_json(tmp_path, tmp_path / "docker-compose.yml", *profiles)


def test_good_file_passes_without_warnings():
    result = check(GOOD)
    assert result.services == ["web", "worker"]
    assert result.warnings == []


@pytest.mark.parametrize(
    ("web", "reasons"),
    [
        (
            "    network_mode: host\n",
            ["network_mode: host", "needs a bridge network", "Remove network_mode"],
        ),
        ("    network_mode: none\n", ["network_mode: none"]),
        ("    network_mode: 'service:db'\n", ["network_mode: service:db"]),
    ],
)
def test_refuses_what_no_override_can_fix_on_web(web, reasons):
    text = f"services:\n  web:\n    image: shop:1\n    env_file: ./env\n{web}"
    with pytest.raises(InvalidInput) as info:
        check(text, source="shop/docker-compose.yml")
    message = str(info.value)
    assert message.startswith("shop/docker-compose.yml: service web ")
    for reason in reasons:
        assert reason in message


@pytest.mark.parametrize(
    ("web", "dropped"),
    [
        ("    ports: ['8080:5000']\n", "`ports:` 8080:5000"),
        ("    ports: ['127.0.0.1:8080:5000']\n", "`ports:` 127.0.0.1:8080:5000"),
        (
            "    ports: [{target: 5000, published: 8080}]\n",
            "`ports:` {target: 5000, published: 8080}",
        ),
        # YAML 1.1 reads this as a base-60 number; compose (YAML 1.2) as "host:container".
        ("    ports: [3000:30]\n", "`ports:` 3000:30"),
        ("    ports: ['5000']\n", "`ports:` 5000"),
        ("    container_name: shop-web\n", "`container_name: shop-web`"),
    ],
)
def test_what_the_override_drops_on_web_is_said_not_refused(web, dropped):
    text = f"services:\n  web:\n    image: shop:1\n    env_file: ./env\n{web}"
    (warning,) = check(text).warnings
    assert warning.startswith(f"service web: on the host, leo's override drops {dropped}")
    assert warning.endswith("Your file stays as it is.")


def test_without_the_web_service_known_only_the_general_checks_run():
    # `leo deploy` checks the web service on the host, where the app's settings are.
    text = "services:\n  app:\n    image: x\n    network_mode: host\n    ports: ['80:80']\n"
    assert check(text, web=None).warnings == []
    with pytest.raises(InvalidInput, match="service app uses network_mode: host"):
        check(text, web="app")


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


def test_missing_web_message_says_how_to_name_it():
    with pytest.raises(InvalidInput) as info:
        check("services:\n  api:\n    image: x\n")
    assert str(info.value) == (
        "compose file has no `web` service: leo serves the app's web service through nginx "
        "(pass `--web-service NAME` to `leo create`; `leo env.set --app APP "
        "LEO_WEB_SERVICE=NAME` changes it)"
    )
    with pytest.raises(InvalidInput, match="has no `frontend` service"):
        check("services:\n  api:\n    image: x\n", web="frontend")


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
    assert web == {"image": image, "env_file": ["./env"], "restart": "unless-stopped"}


def test_default_compose_names_the_web_service_and_port_it_is_given():
    text = default_compose("shop:1", web="app", port=8000)
    assert "nginx sends requests to app on port 8000" in text
    assert check(text, web="app").services == ["app"]
    assert yaml.safe_load(text)["services"]["app"]["expose"] == ["8000"]


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


# ---- ports: a container port alone is allowed, with a warning --------------------

RANDOM_PORT = "on the host, leo's override drops `ports:`"
CONTAINER_ONLY_PORTS = [
    "[{target: 5000}]",
    "['5000']",
    "[5000]",
    "['5000/tcp']",
    "['127.0.0.1::5000']",
    "[{target: 5000, host_ip: 127.0.0.1, protocol: tcp}]",
    "[{target: 5000, published: ''}]",
]


@pytest.mark.parametrize("ports", CONTAINER_ONLY_PORTS)
def test_container_port_without_host_port_is_dropped_too(ports):
    result = check(f"services:\n  web:\n    image: x\n    env_file: ./env\n    ports: {ports}\n")
    (warning,) = result.warnings
    assert RANDOM_PORT in warning


@needs_compose
@pytest.mark.parametrize("ports", CONTAINER_ONLY_PORTS)
def test_container_only_ports_have_no_fixed_host_port_for_compose(tmp_path, ports):
    text = f"services:\n  web:\n    image: x\n    env_file: ./env\n    ports: {ports}\n"
    check(text)
    for port in compose_config(tmp_path, text)["services"]["web"]["ports"]:
        assert not port.get("published"), port


# ---- files leo cannot upload alone ---------------------------------------------------


def test_refuses_top_level_include():
    text = "include: [other.yml]\n" + GOOD
    with pytest.raises(InvalidInput) as info:
        check(text, source="c.yml")
    assert str(info.value) == (
        "c.yml has a top-level `include:`; leo uploads only this one compose file to the "
        "host, so the included files would be missing there. Copy what you need into this file."
    )


@pytest.mark.parametrize("service", ["web", "worker"])
def test_refuses_extends_from_another_file(service):
    text = GOOD.replace(
        f"  {service}:\n", f"  {service}:\n    extends: {{file: base.yml, service: app}}\n"
    )
    with pytest.raises(InvalidInput) as info:
        check(text, source="c.yml")
    assert str(info.value).startswith(
        f"c.yml: service {service} extends a service of another file (base.yml); "
        "leo uploads only this one compose file to the host"
    )


@pytest.mark.parametrize("service", ["web", "worker"])
def test_build_without_image_passes_the_check(service):
    # `leo deploy --build` builds it; without --build the host refuses it (override.plan).
    text = GOOD.replace(f"  {service}:\n    image: shop:1\n", f"  {service}:\n    build: .\n")
    assert check(text).services == ["web", "worker"]


def test_refuses_profiles_on_web():
    text = GOOD.replace("    expose:", "    profiles: [prod]\n    expose:")
    with pytest.raises(InvalidInput) as info:
        check(text, source="c.yml")
    assert str(info.value).startswith("c.yml: service web has profiles (prod); ")
    assert "does not start a service with profiles, so web would never run" in str(info.value)


def test_other_services_may_have_profiles():
    assert check(GOOD + "  debug:\n    image: x\n    profiles: [debug]\n").warnings == []


# ---- extends within the file: web is checked as compose runs it ----------------------

BASE = """\
services:
  base:
    image: shop:1
    env_file: ./env
{base}  web:
    extends: {extends}
{web}"""


def extended(base: str = "", web: str = "", extends: str = "base") -> str:
    return BASE.format(base=base, web=web, extends=extends)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (extended(base="    network_mode: host\n"), "network_mode: host"),
        (extended(base="    profiles: [dev]\n"), "has profiles (dev)"),
        (extended(base="    network_mode: host\n", extends="{service: base}"), "network_mode"),
        # Two levels: web -> mid -> base.
        (
            extended(base="    network_mode: host\n  mid:\n    extends: base\n", extends="mid"),
            "network_mode: host",
        ),
    ],
)
def test_extends_web_inherits_what_pins_it(text, reason):
    with pytest.raises(InvalidInput) as info:
        check(text, source="c.yml")
    assert str(info.value).startswith("c.yml: service web ")
    assert reason in str(info.value)


@needs_compose
def test_compose_agrees_web_inherits_from_its_base(tmp_path):
    # The control for the refusals above: compose itself gives web the base's settings.
    text = extended(
        base="    ports: ['8080:5000']\n    profiles: [dev]\n", web="    ports: ['5000']\n"
    )
    web = compose_config(tmp_path, text, "dev")["services"]["web"]
    assert web["profiles"] == ["dev"]
    assert {p.get("published") for p in web["ports"]} == {"8080", None}


ACCEPTED_EXTENDS = [
    extended(),
    extended(extends="{service: base}"),
    extended(base="    container_name: shop-base\n", web="    container_name: !reset null\n"),
    extended(base="    network_mode: host\n", web="    network_mode: bridge\n"),
    extended(base="    network_mode: host\n", web="    network_mode: !reset null\n"),
    extended(base="    ports: ['8080:5000']\n", web="    ports: !reset []\n"),
    extended(base="    ports: ['8080:5000']\n", web="    ports: !override ['5000']\n"),
    extended(base="    profiles: [dev]\n", web="    profiles: !reset []\n"),
    extended(web="    image: shop:2\n"),
]


@pytest.mark.parametrize("text", ACCEPTED_EXTENDS)
def test_extends_web_that_overrides_what_would_pin_it_is_accepted(text):
    result = check(text)
    assert result.services == ["base", "web"]
    assert all("env_file" not in w for w in result.warnings)  # inherited from base


@needs_compose
@pytest.mark.parametrize("text", ACCEPTED_EXTENDS)
def test_compose_agrees_the_accepted_extends_files_are_fine(tmp_path, text):
    web = compose_config(tmp_path, text)["services"]["web"]
    assert not web.get("container_name")
    assert web.get("network_mode") in (None, "bridge")
    assert not web.get("profiles")
    assert not [p for p in web.get("ports", []) if p.get("published")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (extended(extends="nosuch"), "c.yml: service web extends 'nosuch', which is not a service"),
        (
            extended(base="    extends: web\n"),
            "c.yml: services extend each other in a loop: ",
        ),
        (extended(extends="web"), "c.yml: services extend each other in a loop: web -> web"),
    ],
)
def test_refuses_extends_that_compose_could_not_resolve(text, message):
    with pytest.raises(InvalidInput) as info:
        check(text, source="c.yml")
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("text", "dropped"),
    [
        (extended(base="    container_name: shop\n"), "`container_name: shop`"),
        # compose concatenates ports: web's own container port does not hide the base's.
        (
            extended(base="    ports: ['8080:5000']\n", web="    ports: ['5000']\n"),
            "`ports:` 8080:5000, 5000",
        ),
        (extended(web="    ports: !override ['80:5000']\n"), "`ports:` 80:5000"),
    ],
)
def test_extends_web_inherits_what_the_override_drops(text, dropped):
    (warning,) = check(text).warnings
    assert f"leo's override drops {dropped}" in warning


def test_warnings_come_from_the_effective_web():
    # env_file and ports come from the base; both warnings still apply to web.
    text = "services:\n  base:\n    image: x\n    ports: ['5000']\n  web:\n    extends: base\n"
    warnings = check(text).warnings
    assert len(warnings) == 2
    assert RANDOM_PORT in warnings[0]
    assert "no `env_file: ./env`" in warnings[1]


@needs_compose
def test_good_file_is_valid_for_compose(tmp_path):
    assert set(compose_config(tmp_path, GOOD)["services"]) == {"web", "worker"}


@pytest.mark.parametrize(
    "text",
    [
        "services:\n  web:\n    image: x\n    image: y\n",
        "services:\n  web:\n    image: x\n  web:\n    image: y\n    ports: ['80:5000']\n",
    ],
)
def test_refuses_duplicate_keys_as_compose_does(text):
    # PyYAML keeps the last value; compose refuses the file ("already defined").
    with pytest.raises(InvalidInput, match=r"(?s)is not valid YAML: .*found duplicate key"):
        check(text, source="c.yml")


def test_merge_keys_may_be_overridden():
    text = (
        "x-web: &web\n  image: x\n  env_file: ./env\n"
        "services:\n  web:\n    <<: *web\n    image: y\n"
    )
    assert check(text).warnings == []


# ---- a file with compose's merge tags ----------------------------------------------

WITH_MERGE_TAGS = """\
x-common: &common
  restart: unless-stopped
  env_file: ./env
services:
  base:
    image: shop:1
    ports: ["8080:5000"]
    container_name: shop-base
  web:
    <<: *common
    extends: base
    ports: !reset []
    container_name: !reset null
    environment: !override
      DEBUG: yes
      MODE: 0o17
      QUOTED: "0o17"
      BIG: 1e3
      PORT: 3000:30
      EMPTY: ""
      LINES: "a\\nb"
      DOLLAR: "$$HOME"
    stop_grace_period: !override 10s
    cpu_shares: !override 512
  worker:
    <<: *common
    image: shop:1
    command: ["sh", "-c", "echo $$HOME"]
    ports:
      - 3000:30
  db:
    image: postgres:16
"""


# ---- images_in_compose: what `leo deploy --push` may send ---------------------------


def test_images_in_compose_lists_each_literal_image_once_in_file_order():
    text = """\
x-base: &base
  image: shop/base:1
services:
  web: {image: shop/web:2, env_file: ./env}
  worker: {<<: *base}
  again: {image: shop/web:2}
  built: {build: .}
  pinned: {image: !override shop/pinned:3}
  db: {image: "${DB_IMAGE:-postgres:16}"}
  cache: {image: $CACHE_IMAGE}
  escaped: {image: "redis$$"}
"""
    # `$` anywhere: compose substitutes it from the host's environment (or it is `$$`,
    # which is no image name either).
    assert images_in_compose(text) == ["shop/web:2", "shop/base:1", "shop/pinned:3"]


@pytest.mark.parametrize("text", ["services: [web]\n", "just text\n", "x: 1\n"])
def test_images_in_compose_of_a_file_without_services_is_empty(text):
    assert images_in_compose(text) == []


@needs_compose
def test_images_in_compose_agrees_with_compose(tmp_path):
    services = compose_config(tmp_path, WITH_MERGE_TAGS)["services"]
    assert set(images_in_compose(WITH_MERGE_TAGS)) == {s["image"] for s in services.values()}
