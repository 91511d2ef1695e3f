"""Rendering nginx configs from nginx_templates/ with Jinja2 (StrictUndefined: a
missing variable is an error, never an empty string in a server's config)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files

import jinja2

from .facts import host_port
from .layout import APPS_DIR, NGINX_INCLUDE, WEB_PORT, AppPaths

_env = jinja2.Environment(
    # The templates live at the repository's top (nginx_templates/) and are
    # installed as the package leo_tasks.nginx_templates: find them either way.
    loader=jinja2.FileSystemLoader(str(files("leo_tasks.nginx_templates"))),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


def _render(name: str, **values: object) -> str:
    return _env.get_template(name).render(**values)


def leo_conf(*, http_catch_all: bool = True, https_catch_all: bool = True) -> str:
    """The include of every app's site, with catch-all default servers for host names
    no site serves (left out where the host's nginx has a default server of its own)."""
    return _render(
        "leo.conf.j2",
        include_path=NGINX_INCLUDE,
        apps_dir=APPS_DIR,
        http_catch_all=http_catch_all,
        https_catch_all=https_catch_all,
    )


def app_site(paths: AppPaths, domains: Sequence[str]) -> str:
    return _render(
        "app_site.conf.j2",
        app=paths.app,
        domains=list(domains),
        upstream_conf=paths.upstream_conf,
        upstream_name=paths.upstream_name,
        webroot=paths.webroot,
        tls_conf=paths.tls_conf,
    )


def upstream(
    paths: AppPaths,
    addresses: Sequence[str],
    containers: Sequence[str] = (),
    *,
    port: int = WEB_PORT,
) -> str:
    return _render(
        "upstream.conf.j2",
        app=paths.app,
        upstream_name=paths.upstream_name,
        servers=[host_port(address, port) for address in addresses],
        containers=list(containers),
    )


def tls(paths: AppPaths, domains: Sequence[str] = (), certificate: str | None = None) -> str:
    """The site's HTTPS part; without a certificate, a placeholder comment."""
    return _render("tls.conf.j2", domains=list(domains), certificate=certificate)
