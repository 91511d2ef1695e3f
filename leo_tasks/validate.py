"""Validation of every name that reaches a host: app, service, env var, domain.

Each check raises InvalidInput with a message naming the field and the rule,
so a typo is refused before a single command runs on a server.
"""

from __future__ import annotations

import re

from .errors import InvalidInput

# One name is used as a directory, a compose project name and (prefixed) an
# nginx upstream name; this is the intersection of what all three accept.
APP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# Compose service names: letters, digits, '.', '_', '-'.
SERVICE_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}")
# POSIX-style environment variable names (what compose's env_file parser accepts).
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _matching(pattern: re.Pattern[str], value: str, problem: str) -> str:
    if not pattern.fullmatch(value or ""):
        raise InvalidInput(problem)
    return value


def app_name(name: str) -> str:
    return _matching(
        APP_NAME,
        name,
        (
            f"invalid app name {name!r}: use 1-40 characters of a-z, 0-9, '-' or '_', "
            "starting with a letter or digit (it becomes a directory, a compose project "
            "and an nginx upstream name)"
        ),
    )


def service_name(name: str) -> str:
    return _matching(
        SERVICE_NAME,
        name,
        (
            f"invalid service name {name!r}: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        ),
    )


def env_name(name: str) -> str:
    return _matching(
        ENV_NAME,
        name,
        (f"invalid variable name {name!r}: use letters, digits and '_', not starting with a digit"),
    )


def domain(name: str) -> str:
    lowered = (name or "").lower().rstrip(".")
    labels = lowered.split(".")
    wildcard_ok = labels[0] == "*" and len(labels) > 2
    checked = labels[1:] if wildcard_ok else labels
    if len(lowered) > 253 or not all(DOMAIN_LABEL.fullmatch(label) for label in checked):
        raise InvalidInput(f"invalid domain {name!r}: expected a host name like shop.example.com")
    return lowered


# What `docker image save` takes: name[:tag] or an image ID (`sha256:` optional).
IMAGE_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,254}")


def pushed_image(reference: str) -> str:
    """An image `leo push` can copy: by name[:tag] or ID, not by digest."""
    if "@" in (reference or ""):
        raise InvalidInput(
            f"cannot push {reference!r} by digest: `docker save`/`docker load` do not carry "
            "registry digests, so the host could not find it by that name. Name it by tag or ID."
        )
    return _matching(IMAGE_REFERENCE, reference, f"invalid image reference {reference!r}")
