"""Defaults for --app/--host from ./leo.yaml or the `leo:` section of Invoke's config."""

from __future__ import annotations

import pytest
from invoke import Config

from leo_tasks.errors import InvalidInput
from leo_tasks.projectconfig import project_defaults


def test_nothing_configured(tmp_path):
    assert project_defaults(None, cwd=tmp_path) == {}
    assert project_defaults(Config(), cwd=tmp_path) == {}


def test_leo_yaml(tmp_path):
    (tmp_path / "leo.yaml").write_text("app: shop\nhost: deploy@prod:2222,prod2\n")
    assert project_defaults(None, cwd=tmp_path) == {"app": "shop", "host": "deploy@prod:2222,prod2"}


def test_leo_yaml_in_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "leo.yaml").write_text("app: shop\n")
    monkeypatch.chdir(tmp_path)
    assert project_defaults(None) == {"app": "shop"}


@pytest.mark.parametrize("text", ["", "# only a comment\n", "app:\nhost: ''\n"])
def test_empty_leo_yaml(tmp_path, text):
    (tmp_path / "leo.yaml").write_text(text)
    assert project_defaults(None, cwd=tmp_path) == {}


def test_values_become_strings(tmp_path):
    (tmp_path / "leo.yaml").write_text("app: 2048\n")
    assert project_defaults(None, cwd=tmp_path) == {"app": "2048"}


def test_unknown_keys_are_refused(tmp_path):
    (tmp_path / "leo.yaml").write_text("app: shop\nhots: prod\nimage: x\n")
    with pytest.raises(InvalidInput) as info:
        project_defaults(None, cwd=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "leo.yaml") in message
    assert "unknown keys ['hots', 'image'] (known: ['app', 'host', 'hosts'])" in message


def test_unknown_non_string_keys_are_refused(tmp_path):
    (tmp_path / "leo.yaml").write_text("app: shop\n1: x\nhosts: y\n")
    with pytest.raises(InvalidInput, match="unknown keys"):
        project_defaults(None, cwd=tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app: [unclosed\n", "is not valid YAML"),
        ("- app\n- host\n", "must be a mapping like `app: shop`"),
        ("shop\n", "must be a mapping like `app: shop`"),
    ],
)
def test_bad_leo_yaml(tmp_path, text, message):
    (tmp_path / "leo.yaml").write_text(text)
    with pytest.raises(InvalidInput, match=message):
        project_defaults(None, cwd=tmp_path)


def test_invoke_config_section(tmp_path):
    config = Config(overrides={"leo": {"app": "shop", "host": "prod"}})
    assert project_defaults(config, cwd=tmp_path) == {"app": "shop", "host": "prod"}


def test_invoke_config_section_with_the_collection_defaults(tmp_path):
    # The collection configures {"leo": {"app": None, "host": None}}: None is "not set".
    config = Config(defaults={"leo": {"app": None, "host": None}})
    assert project_defaults(config, cwd=tmp_path) == {}


def test_leo_yaml_overrides_invoke_config_key_by_key(tmp_path):
    (tmp_path / "leo.yaml").write_text("app: from-file\n")
    config = Config(overrides={"leo": {"app": "from-invoke", "host": "invoke-host"}})
    assert project_defaults(config, cwd=tmp_path) == {"app": "from-file", "host": "invoke-host"}


def test_a_directory_named_leo_yaml_is_ignored(tmp_path):
    (tmp_path / "leo.yaml").mkdir()
    assert project_defaults(None, cwd=tmp_path) == {}
