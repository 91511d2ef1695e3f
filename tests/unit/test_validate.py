"""Names that reach a host are checked first, with a message naming the rule."""

from __future__ import annotations

import pytest

from leo_tasks import validate
from leo_tasks.errors import InvalidInput


@pytest.mark.parametrize("name", ["shop", "a", "0", "my-app", "my_app", "app2", "a" * 40])
def test_app_name_ok(name):
    assert validate.app_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        None,
        "../x",
        "a/b",
        "x;rm",
        "Shop",
        "-x",
        "_x",
        "a.b",
        "a b",
        "a" * 41,
        "x\n",
        "caf\u00e9",
        "\u0131",  # dotless i: not a-z
    ],
)
def test_app_name_refused_with_the_rule(name):
    with pytest.raises(InvalidInput) as info:
        validate.app_name(name)
    message = str(info.value)
    assert message.startswith(f"invalid app name {name!r}: use 1-40 characters of a-z, 0-9")
    assert "directory, a compose project and an nginx upstream name" in message


@pytest.mark.parametrize("name", ["web", "Web", "worker.v2", "a_b-c", "0", "a" * 63])
def test_service_name_ok(name):
    assert validate.service_name(name) == name


@pytest.mark.parametrize("name", ["", "-web", ".web", "web app", "web/x", "a" * 64, "web\n"])
def test_service_name_refused(name):
    with pytest.raises(InvalidInput, match=r"invalid service name .*letters, digits"):
        validate.service_name(name)


@pytest.mark.parametrize("name", ["A", "_", "_A1", "lower", "DATABASE_URL", "A" * 255])
def test_env_name_ok(name):
    assert validate.env_name(name) == name


@pytest.mark.parametrize("name", ["", "1A", "A-B", "A.B", "A B", "A=", "\u00c4", "A" * 256, "A\n"])
def test_env_name_refused(name):
    with pytest.raises(InvalidInput, match=r"invalid variable name .*not starting with a digit"):
        validate.env_name(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("shop.example.com", "shop.example.com"),
        ("Shop.Example.COM", "shop.example.com"),
        ("shop.example.com.", "shop.example.com"),
        ("localhost", "localhost"),
        ("xn--caf-dma.example", "xn--caf-dma.example"),
        ("*.example.com", "*.example.com"),
        ("a-b.c", "a-b.c"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
    ],
)
def test_domain_ok(name, expected):
    assert validate.domain(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".",
        "a..b",
        "-a.com",
        "a-.com",
        "*.com",  # a wildcard needs at least two labels after it
        "a.*.com",
        "sh op.com",
        "shop.com;",
        "shop_1.com",
        "caf\u00e9.com",
        "a" * 64 + ".com",
        ".".join(["a" * 60] * 5),  # 304 characters
    ],
)
def test_domain_refused(name):
    with pytest.raises(InvalidInput, match=r"invalid domain .*like shop.example.com"):
        validate.domain(name)


@pytest.mark.parametrize(
    "reference",
    ["shop", "shop:1.2", "registry.example:5000/team/shop:v1-rc_2", "sha256:0d1cd3d75ac0", "0d1c"],
)
def test_pushed_image_ok(reference):
    assert validate.pushed_image(reference) == reference


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("shop@sha256:" + "0" * 64, "by digest"),
        ("", "invalid image reference ''"),
        ("-rf", "invalid image reference '-rf'"),
        ("a b", "invalid image reference"),
        ("shop;rm", "invalid image reference"),
    ],
)
def test_pushed_image_refused(reference, message):
    with pytest.raises(InvalidInput, match=message):
        validate.pushed_image(reference)


def test_a_public_key_cut_short_is_refused_before_connecting():
    from leo_tasks.steps.setup import check_pubkey, fingerprint

    good = (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop"
    )
    assert check_pubkey(good + "\n", "key") == good
    assert fingerprint(good).startswith("ssh-ed25519 SHA256:")
    with pytest.raises(InvalidInput, match="not valid base64"):
        check_pubkey("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@laptop", "key")
