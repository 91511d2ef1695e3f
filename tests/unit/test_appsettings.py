"""Per-app rotate settings from the LEO_* variables of the env file."""

from __future__ import annotations

import pytest

from leo_tasks.appsettings import AppSettings
from leo_tasks.errors import InvalidInput


def test_defaults():
    assert AppSettings.from_env({}) == AppSettings(
        health_path="/", health_timeout=60.0, drain_seconds=30.0, rotate_services=()
    )
    assert AppSettings.from_env({"UNRELATED": "x"}) == AppSettings()


def test_all_settings():
    settings = AppSettings.from_env(
        {
            "LEO_HEALTH_PATH": "/health?full=1",
            "LEO_HEALTH_TIMEOUT": "120",
            "LEO_DRAIN_SECONDS": "0.5",
            "LEO_ROTATE_SERVICES": "worker,scheduler",
        }
    )
    assert settings == AppSettings(
        health_path="/health?full=1",
        health_timeout=120.0,
        drain_seconds=0.5,
        rotate_services=("worker", "scheduler"),
    )


def test_web_service_and_port_default_to_web_and_the_image():
    settings = AppSettings.from_env({})
    assert (settings.web_service, settings.web_port) == ("web", None)


def test_web_service_and_port_settings():
    settings = AppSettings.from_env(
        {"LEO_WEB_SERVICE": " app ", "LEO_WEB_PORT": "8000", "LEO_ROTATE_SERVICES": "app,worker"}
    )
    assert (settings.web_service, settings.web_port) == ("app", 8000)
    assert settings.rotate_services == ("worker",)  # the web service is rotated anyway


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEO_WEB_PORT": "http"}, "LEO_WEB_PORT must be a TCP port number (1-65535), not 'http'"),
        ({"LEO_WEB_PORT": "0"}, "not '0'"),
        ({"LEO_WEB_PORT": "65536"}, "not '65536'"),
        ({"LEO_WEB_PORT": "-1"}, "not '-1'"),
        ({"LEO_WEB_PORT": "80.5"}, "not '80.5'"),
        ({"LEO_WEB_SERVICE": "bad name"}, "LEO_WEB_SERVICE: invalid service name 'bad name'"),
        ({"LEO_WEB_SERVICE": "-x"}, "LEO_WEB_SERVICE: invalid service name '-x'"),
    ],
)
def test_bad_web_settings_are_refused_naming_the_setting(env, message):
    with pytest.raises(InvalidInput) as info:
        AppSettings.from_env(env)
    assert message in str(info.value)


def test_env_set_refuses_a_bad_setting_but_not_a_partial_registry_login():
    from leo_tasks.appsettings import check_setting

    with pytest.raises(InvalidInput, match="LEO_WEB_PORT"):
        check_setting("LEO_WEB_PORT", "eighty")
    check_setting("LEO_WEB_PORT", "8080")
    check_setting("LEO_REGISTRY", "registry.example.com")  # the other two come next
    check_setting("ANYTHING", "goes")


@pytest.mark.parametrize(
    ("raw", "services"),
    [
        ("", ()),
        ("worker", ("worker",)),
        (" worker , scheduler ", ("worker", "scheduler")),
        ("worker,,worker,", ("worker",)),
        ("web", ()),  # web is rotated anyway
        ("web,worker,web", ("worker",)),
        ("b,a,b", ("b", "a")),
    ],
)
def test_rotate_services_trimmed_deduplicated_in_order(raw, services):
    assert AppSettings.from_env({"LEO_ROTATE_SERVICES": raw}).rotate_services == services


def test_rotate_services_refuses_a_bad_name():
    with pytest.raises(InvalidInput, match=r"^LEO_ROTATE_SERVICES: invalid service name 'a b'"):
        AppSettings.from_env({"LEO_ROTATE_SERVICES": "worker,a b"})


@pytest.mark.parametrize(("raw", "path"), [("", "/"), ("  ", "/"), (" /up ", "/up")])
def test_health_path_blank_means_root_and_is_trimmed(raw, path):
    assert AppSettings.from_env({"LEO_HEALTH_PATH": raw}).health_path == path


@pytest.mark.parametrize("raw", ["health", "http://x/health", "/a b", "/a\tb", "/a\nb"])
def test_health_path_refused(raw):
    with pytest.raises(InvalidInput, match="LEO_HEALTH_PATH must be a URL path like /health"):
        AppSettings.from_env({"LEO_HEALTH_PATH": raw})


@pytest.mark.parametrize("name", ["LEO_HEALTH_TIMEOUT", "LEO_DRAIN_SECONDS"])
@pytest.mark.parametrize(
    ("raw", "value"), [("0", 0.0), ("3600", 3600.0), ("1.5", 1.5), (" 7 ", 7.0), ("1e2", 100.0)]
)
def test_seconds(name, raw, value):
    settings = AppSettings.from_env({name: raw})
    field = "health_timeout" if name == "LEO_HEALTH_TIMEOUT" else "drain_seconds"
    assert getattr(settings, field) == value


@pytest.mark.parametrize("name", ["LEO_HEALTH_TIMEOUT", "LEO_DRAIN_SECONDS"])
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("ten", "must be a number of seconds, not 'ten'"),
        ("10s", "must be a number of seconds, not '10s'"),
        ("-1", "must be between 0 and 3600 seconds"),
        ("3601", "must be between 0 and 3600 seconds"),
        ("nan", "must be between 0 and 3600 seconds"),
        ("inf", "must be between 0 and 3600 seconds"),
    ],
)
def test_seconds_refused(name, raw, message):
    with pytest.raises(InvalidInput) as info:
        AppSettings.from_env({name: raw})
    assert str(info.value) == f"{name} {message}"


# ---- registry login: the credentials are never shown ------------------------------

SECRET = "hunter2-Zq9"
REGISTRY = {
    "LEO_REGISTRY": "registry.example.com",
    "LEO_REGISTRY_USER": "ci",
    "LEO_REGISTRY_PASSWORD": SECRET,
}


def test_registry_login():
    login = AppSettings.from_env(REGISTRY).registry
    assert (login.registry, login.username, login.password) == (
        "registry.example.com",
        "ci",
        SECRET,
    )
    assert SECRET not in repr(AppSettings.from_env(REGISTRY))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"LEO_REGISTRY_USER": ""},
            "registry login needs all of LEO_REGISTRY, LEO_REGISTRY_USER, "
            "LEO_REGISTRY_PASSWORD; missing LEO_REGISTRY_USER",
        ),
        (
            {"LEO_REGISTRY": "", "LEO_REGISTRY_USER": ""},
            "registry login needs all of LEO_REGISTRY, LEO_REGISTRY_USER, "
            "LEO_REGISTRY_PASSWORD; missing LEO_REGISTRY, LEO_REGISTRY_USER",
        ),
        ({"LEO_REGISTRY": f"x {SECRET}"}, "LEO_REGISTRY cannot contain spaces or start with '-'"),
        ({"LEO_REGISTRY": f"-{SECRET}"}, "LEO_REGISTRY cannot contain spaces or start with '-'"),
        ({"LEO_REGISTRY_USER": f"ci {SECRET}"}, "LEO_REGISTRY_USER cannot contain spaces"),
        # Another setting's error, with the credentials set: only that setting is shown.
        (
            {"LEO_HEALTH_TIMEOUT": "ten"},
            "LEO_HEALTH_TIMEOUT must be a number of seconds, not 'ten'",
        ),
    ],
)
def test_registry_errors_name_the_setting_never_a_credential(changes, message):
    with pytest.raises(InvalidInput) as info:
        AppSettings.from_env({**REGISTRY, **changes})
    assert str(info.value) == message
    assert "hunter" not in str(info.value)
