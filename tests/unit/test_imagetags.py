"""Release image tags: always a valid docker reference, one app's never another's."""

from __future__ import annotations

import fnmatch
import random
import re

import pytest

from leo_tasks import validate
from leo_tasks.imagetags import component, release_tag, release_tag_filter

# docker's reference grammar (github.com/distribution/reference, regexp.go), written
# out: Go's \w is ASCII only, hence the explicit classes.
ALPHANUMERIC = r"[a-z0-9]+"
SEPARATOR = r"(?:[._]|__|[-]+)"
PATH_COMPONENT = rf"{ALPHANUMERIC}(?:{SEPARATOR}{ALPHANUMERIC})*"
DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
DOMAIN_NAME = rf"{DOMAIN_COMPONENT}(?:\.{DOMAIN_COMPONENT})*"
HOST = rf"(?:{DOMAIN_NAME}|\[[a-fA-F0-9:]+\])"
DOMAIN = rf"{HOST}(?::[0-9]+)?"
NAME = rf"(?:{DOMAIN}/)?{PATH_COMPONENT}(?:/{PATH_COMPONENT})*"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
REFERENCE = re.compile(rf"(?P<name>{NAME})(?::(?P<tag>{TAG}))?(?:@(?P<digest>{DIGEST}))?")
NAME_TOTAL_LENGTH_MAX = 255


def assert_valid_reference(tag: str) -> None:
    match = REFERENCE.fullmatch(tag)
    assert match, tag
    assert len(match["name"]) <= NAME_TOTAL_LENGTH_MAX, tag


def docker_reference_match(pattern: str, reference: str) -> bool:
    """Go's path.Match, as docker's `--filter reference=` uses it: `*` never crosses `/`.

    Matching component by component with fnmatch gives the same answer for the
    patterns leo uses (`*` and literal text).
    """
    parts, names = pattern.split("/"), reference.split("/")
    return len(parts) == len(names) and all(
        fnmatch.fnmatchcase(name, part) for part, name in zip(parts, names, strict=True)
    )


def test_ordinary_names_read_naturally():
    assert release_tag("shop", "web", 3) == "leo/shop/web:release-3"
    assert release_tag("my_app-2", "worker.v2", 12) == "leo/my_app-2/worker.v2:release-12"
    assert release_tag_filter("shop") == "leo/shop/*:release-*"


def test_names_that_collided_get_different_tags():
    assert release_tag("shop", "api-web", 1) != release_tag("shop-api", "web", 1)


def test_one_apps_filter_never_matches_anothers_tags():
    pattern = release_tag_filter("shop")
    assert docker_reference_match(pattern, release_tag("shop", "api-web", 1))
    assert docker_reference_match(pattern, release_tag("shop", "Worker", 7))
    assert not docker_reference_match(pattern, release_tag("shop-api", "web", 1))
    assert not docker_reference_match(pattern, release_tag("shop_", "web", 1))
    # The old scheme's filter (`leo-shop-*`) matched shop-api's old tag too.
    assert docker_reference_match("leo-shop-*:release-*", "leo-shop-api-web:release-1")


@pytest.mark.parametrize(
    ("app", "service"),
    [
        ("shop", "Worker"),
        ("shop_", "web"),
        ("shop", "a..b"),
        ("shop", "a._b"),
        ("shop", "a-"),
        ("a__b", "x___y"),
        ("0", "WEB"),
        ("a" * 40, "B" * 63),
    ],
)
def test_names_compose_accepts_give_valid_references(app, service):
    tag = release_tag(app, service, 1)
    assert_valid_reference(tag)
    assert docker_reference_match(release_tag_filter(app), tag)


@pytest.mark.parametrize(("a", "b"), [("a..b", "a-b"), ("Web", "web"), ("WEB", "Web"), ("a_", "a")])
def test_similar_names_stay_apart(a, b):
    assert component(a) != component(b)


def test_mapping_is_deterministic():
    assert component("Worker") == component("Worker")
    assert re.fullmatch(r"worker-[0-9a-f]{8}", component("Worker"))


def _random_name(rng: random.Random, first: str, rest: str, longest: int) -> str:
    # Short names with many separators, where the invalid components are.
    length = rng.choice([0, 0, 1, 1, 2, 3, 5, 8, longest - 1])
    return rng.choice(first) + "".join(rng.choice(rest) for _ in range(length))


def test_random_valid_app_and_service_names_give_valid_distinct_tags():
    # Small alphabets from validate.APP_NAME and SERVICE_NAME, heavy on separators.
    rng = random.Random(20240601)
    apps = {_random_name(rng, "abc01", "ab1_-_-", 40) for _ in range(300)}
    services = {_random_name(rng, "aAbB1", "aAbB1._-.._-", 63) for _ in range(300)}
    assert len(apps) > 150 and len(services) > 150
    for app in apps:
        assert validate.APP_NAME.fullmatch(app), app
        assert_valid_reference(release_tag(app, "web", 1))
    for service in services:
        assert validate.SERVICE_NAME.fullmatch(service), service
        assert_valid_reference(release_tag("shop", service, 1))
    assert len({component(app) for app in apps}) == len(apps)
    assert len({component(service) for service in services}) == len(services)
    pairs = [(app, service) for app in sorted(apps) for service in sorted(services)[:40]]
    tags = {}
    for app, service in pairs:
        tag = release_tag(app, service, 9)
        assert_valid_reference(tag)
        tags[tag] = (app, service)
    assert len(tags) == len(pairs)  # no two (app, service) pairs share a tag
    for app in sorted(apps)[:60]:
        pattern = release_tag_filter(app)
        matched = {pair for tag, pair in tags.items() if docker_reference_match(pattern, tag)}
        assert matched == {pair for pair in pairs if pair[0] == app}


def test_release_tags_of_one_app_are_told_apart():
    from leo_tasks.imagetags import is_release_tag

    assert is_release_tag("leo/shop/web:release-3", "shop")
    assert not is_release_tag("leo/shop-api/web:release-3", "shop")
    assert not is_release_tag("leo-shop-web:0123456789ab", "shop")
    assert not is_release_tag("postgres:16", "shop")
