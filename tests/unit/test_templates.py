"""nginx configs rendered from nginx_templates/ (Jinja2 with StrictUndefined)."""

from __future__ import annotations

import re

import jinja2
import pytest

from leo_tasks import templates
from leo_tasks.layout import AppPaths

SHOP = AppPaths("shop")


def _directives(text: str) -> list[str]:
    """The config without comments and blank lines, one stripped line each."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


def test_upstream_with_no_address_is_a_valid_placeholder():
    text = templates.upstream(SHOP, [])
    assert _directives(text) == [
        "upstream leo_shop {",
        "server 127.0.0.1:9 down;",
        "keepalive 16;",
        "}",
    ]
    assert '# Web containers of "shop".\n' in text
    assert text.startswith("# Managed by leo")
    assert text.endswith("}\n")


def test_upstream_with_two_addresses():
    text = templates.upstream(
        SHOP, ["172.20.0.2", "172.20.0.3"], ["shop-web-1 (681d8912997e)", "shop-web-2"]
    )
    assert _directives(text) == [
        "upstream leo_shop {",
        "server 172.20.0.2:5000;",
        "server 172.20.0.3:5000;",
        "keepalive 16;",
        "}",
    ]
    assert '# Web containers of "shop": shop-web-1 (681d8912997e), shop-web-2.\n' in text
    assert "down" not in text


def test_upstream_is_deterministic():
    # leo rewrites upstream.conf only when it differs: same input, same bytes.
    args = (SHOP, ["10.0.0.2"], ["shop-web-1"])
    assert templates.upstream(*args) == templates.upstream(*args)


@pytest.mark.parametrize(
    "domains", [["shop"], ["shop.example.com", "www.shop.example.com", "*.shop.example.com"]]
)
def test_app_site(domains):
    text = templates.app_site(SHOP, domains)
    directives = _directives(text)
    assert directives[0] == "include /home/leo-deploy/apps/shop/upstream.conf;"
    assert f"server_name {' '.join(domains)};" in directives
    assert "listen 80;" in directives
    assert "listen [::]:80;" in directives
    assert "proxy_pass http://leo_shop;" in directives
    acme = text.index("location ^~ /.well-known/acme-challenge/ {")
    block = text[acme : text.index("}", acme)]
    assert "root /home/leo-deploy/apps/shop/letsencrypt/webroot;" in block
    assert "try_files $uri =404;" in block
    # nginx variables pass through untouched (Jinja does not own `$`).
    assert "proxy_set_header Host $host;" in directives
    assert text.count("{") == text.count("}")


def test_app_site_names_only_this_app():
    text = templates.app_site(AppPaths("blog_2"), ["blog.example.org"])
    assert "leo_blog_2" in text
    assert "/apps/blog_2/" in text
    assert not re.search(r"\bshop\b", text)


def test_leo_conf_includes_every_app_site():
    text = templates.leo_conf(http_catch_all=False, https_catch_all=False)
    assert _directives(text) == ["include /home/leo-deploy/apps/*/nginx.conf;"]
    assert "/etc/nginx/conf.d/leo.conf" in text


def test_leo_conf_catch_alls_answer_nothing_for_unknown_host_names():
    text = templates.leo_conf()
    directives = _directives(text)
    assert directives[0] == "include /home/leo-deploy/apps/*/nginx.conf;"
    assert "listen 80 default_server;" in directives and "return 444;" in directives
    assert "listen 443 ssl default_server;" in directives
    assert "ssl_reject_handshake on;" in directives
    assert text.count("{") == text.count("}")
    http_only = _directives(templates.leo_conf(https_catch_all=False))
    assert "ssl_reject_handshake on;" not in http_only and "return 444;" in http_only


@pytest.mark.parametrize("name", ["upstream.conf.j2", "app_site.conf.j2", "leo.conf.j2"])
def test_a_missing_variable_is_an_error_not_an_empty_string(name):
    template = templates._env.get_template(name)
    with pytest.raises(jinja2.UndefinedError):
        template.render()


def test_environment_is_strict():
    assert templates._env.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        templates._env.from_string("server {{ adress }};").render(address="10.0.0.2")
