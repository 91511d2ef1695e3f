"""Reading compose YAML the way `docker compose` reads it.

Compose parses its files with Go's yaml.v3, which follows YAML 1.2's core
schema; PyYAML's safe_load follows YAML 1.1. They disagree on plain scalars
people do write in compose files: `- 3000:30` under `ports:` is the string
"3000:30" for compose but the base-60 integer 180030 for YAML 1.1, and
`DEBUG: yes` is the string "yes" for compose but True for YAML 1.1. The loader
here resolves plain scalars as yaml.v3 does, so leo checks what compose will
run.

Compose's merge tags `!reset` and `!override` (compose >= 2.24) are kept as
`Tagged` values: they change how `extends` merges a service, and `dump`
writes them back with their tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import InvalidInput

MERGE_TAGS = ("!reset", "!override")

# Plain scalars that are not strings, as yaml.v3 resolves them (it drops `_` in
# numbers, and reads a leading 0 as octal, as Go's strconv.ParseInt does).
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(
    r"^(?:[-+]?(?:0|[1-9][0-9_]*)|[-+]?0[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?0o[0-7_]+|[-+]?0b[01_]+)$"
)
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9][0-9_]*|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_NUMBER_START = list("-+.0123456789")
_RESOLVERS = [
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", _BOOL, list("tTfF")),
    ("tag:yaml.org,2002:int", _INT, _NUMBER_START),
    ("tag:yaml.org,2002:float", _FLOAT, _NUMBER_START),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"]),
]


@dataclass(frozen=True)
class Tagged:
    """A value written with one of compose's merge tags, e.g. `ports: !reset []`."""

    tag: str
    value: Any


class ComposeLoader(yaml.SafeLoader):
    """safe_load with yaml.v3's plain scalars and compose's merge tags."""

    yaml_implicit_resolvers: dict = {}  # noqa: RUF012 (PyYAML's class-level registry)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        # yaml.v3 refuses a key given twice in one mapping; PyYAML would keep the
        # last one, and leo would check a file that compose then refuses.
        if isinstance(node, yaml.MappingNode):
            seen: list[Any] = []
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` keys may be overridden: that is their point
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.append(key)
        return super().construct_mapping(node, deep=deep)


for _tag, _regexp, _first in _RESOLVERS:
    ComposeLoader.add_implicit_resolver(_tag, _regexp, _first)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits[:2] in ("0x", "0o", "0b"):
        return sign * int(digits, 0)
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)
    return sign * int(digits)


def _construct_tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Tagged:
    if isinstance(node, yaml.MappingNode):
        return Tagged(node.tag, loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Tagged(node.tag, loader.construct_sequence(node, deep=True))
    # `!override 5000` is the number 5000: resolve the scalar as if it had no tag.
    resolved = loader.resolve(yaml.ScalarNode, node.value, (not node.style, True))
    plain = yaml.ScalarNode(resolved, node.value, node.start_mark, node.end_mark, node.style)
    return Tagged(node.tag, loader.construct_object(plain, deep=True))


ComposeLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
for _tag in MERGE_TAGS:
    ComposeLoader.add_constructor(_tag, _construct_tagged)


def load(text: str, source: str = "compose file") -> Any:
    """The compose document, or InvalidInput (never a traceback) for YAML leo cannot read."""
    try:
        return yaml.load(text, Loader=ComposeLoader)  # a SafeLoader: builds no Python objects
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source} is not valid YAML: {exc}") from exc
    except (ValueError, TypeError) as exc:  # e.g. a mapping used as a mapping key
        raise InvalidInput(f"{source} cannot be read as a compose file: {exc}") from exc


class ComposeDumper(yaml.SafeDumper):
    """safe_dump that writes `Tagged` values back with their tag, and quotes every
    string that YAML 1.1 or compose's yaml.v3 would read as something else."""

    def choose_scalar_style(self) -> str:
        # A tagged number, boolean or null (`!override 5000`) is written plain, as it
        # was: quoted, compose would read the string "5000". Tagged strings carry an
        # explicit quote style (see _represent_tagged).
        if self.event.tag in MERGE_TAGS and not self.event.style:
            return ""
        return super().choose_scalar_style()


# A string that yaml.v3 reads as a number or boolean (`0o17`, `1e3`) must be quoted
# even where YAML 1.1 would not: the dumper quotes what either schema resolves.
for _tag, _regexp, _first in _RESOLVERS:
    ComposeDumper.add_implicit_resolver(_tag, _regexp, _first)


def _represent_tagged(dumper: yaml.SafeDumper, data: Tagged) -> yaml.Node:
    node = dumper.represent_data(data.value)
    if isinstance(node, yaml.ScalarNode):
        style = "'" if isinstance(data.value, str) else None
        return yaml.ScalarNode(data.tag, node.value, style=style)
    if isinstance(node, yaml.SequenceNode):
        return yaml.SequenceNode(data.tag, node.value, flow_style=node.flow_style)
    return yaml.MappingNode(data.tag, node.value, flow_style=node.flow_style)


ComposeDumper.add_representer(Tagged, _represent_tagged)


def dump(doc: Any) -> str:
    """YAML text that compose reads back as `doc` (comments are not kept)."""
    return yaml.dump(
        doc, Dumper=ComposeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )
