"""The app's env file (`env_file: ./env` in compose): parse and edit with exact round-trip.

leo writes every value double-quoted with backslash escapes, the one form that
Compose v2's env_file parser reads back byte for byte for any text (quotes,
`$`, `#`, backslashes, newlines; checked against `docker compose` in the e2e
tests). Lines leo does not touch (comments, hand-written entries) are kept
exactly as they were.

Error messages name the line number and, where it is known, the variable, but
never show any text of a line: values are passwords and tokens, and these
messages end up in CI logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import validate
from .errors import InvalidInput

_ENTRY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def encode_value(value: str, *, name: str | None = None) -> str:
    """The env-file form of `value`, which compose decodes to exactly `value`."""
    if "\x00" in value:
        what = f"the value of {name}" if name else "an environment value"
        raise InvalidInput(f"{what} cannot contain a NUL byte")
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def _where(line_no: int, name: str | None) -> str:
    return f"env file line {line_no} ({name})" if name else f"env file line {line_no}"


def decode_value(raw: str, *, line_no: int = 0, name: str | None = None) -> str:
    """Decode a value as compose 2.x does, for the forms people and leo write.

    Checked against `docker compose config` (tests/unit/captured). One thing is
    not reproduced: compose interpolates `${VAR}` in hand-written unescaped
    values from its own environment; leo shows such text as written.
    """
    text = raw.strip()
    if text.startswith('"'):
        out: list[str] = []
        i = 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                nxt = text[i + 1]
                if nxt in _UNESCAPES:
                    out.append(_UNESCAPES[nxt])
                elif nxt in '\\"$':
                    out.append(nxt)
                else:  # compose keeps unknown escapes (\u, \') as written
                    out.append(ch + nxt)
                i += 2
                continue
            if ch == "$" and text[i + 1 : i + 2] == "$":  # `$$` is a literal `$`
                out.append("$")
                i += 2
                continue
            if ch == '"':
                return "".join(out)
            out.append(ch)
            i += 1
        raise InvalidInput(
            f"{_where(line_no, name)}: double-quoted value does not end on the same line "
            "(leo writes newlines as \\n; edit the file to do the same)"
        )
    if text.startswith("'"):
        end = text.find("'", 1)
        if end == -1:
            raise InvalidInput(
                f"{_where(line_no, name)}: single-quoted value does not end on the same line"
            )
        return text[1:end]
    # Unquoted: an inline comment starts at " #" (a space, not a tab); `$$` is `$`.
    comment = text.find(" #")
    return (text[:comment] if comment != -1 else text).strip().replace("$$", "$")


@dataclass
class EnvFile:
    """An env file as lines; entries are looked up and replaced in place."""

    lines: list[str]

    @classmethod
    def parse(cls, text: str) -> EnvFile:
        # split("\n"), not splitlines(): values may hold U+2028 and friends.
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        env = cls(lines)
        env.values()  # refuse files we could not edit safely
        return env

    def _entries(self) -> list[tuple[int, str, str]]:
        found = []
        for index, line in enumerate(self.lines):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            match = _ENTRY.match(line)
            if not match:
                # Usually the cause is an earlier value whose quote does not end on
                # its line (a hand-written multi-line value): blame that one, by name.
                for prev_index, prev_name, prev_raw in found:
                    decode_value(prev_raw, line_no=prev_index + 1, name=prev_name)
                # Not even the part before a `=` is shown: this line may be the
                # second line of a multi-line value, i.e. the middle of a secret.
                raise InvalidInput(
                    f"env file line {index + 1} is not NAME=VALUE "
                    "(its text is not shown, it may hold a secret)"
                )
            found.append((index, match.group(1), match.group(2)))
        return found

    def values(self) -> dict[str, str]:
        """NAME -> value as the container sees it (the last assignment wins, as in compose)."""
        return {
            name: decode_value(raw, line_no=index + 1, name=name)
            for index, name, raw in self._entries()
        }

    def set(self, name: str, value: str) -> bool:
        """Set NAME; returns False when it already had exactly this value."""
        validate.env_name(name)
        line = f"{name}={encode_value(value, name=name)}"
        entries = [index for index, entry_name, _ in self._entries() if entry_name == name]
        if entries and self.values().get(name) == value and len(entries) == 1:
            return False
        if entries:
            self.lines[entries[0]] = line
            for index in reversed(entries[1:]):  # duplicates would shadow the new value
                del self.lines[index]
        else:
            self.lines.append(line)
        return True

    def delete(self, name: str) -> bool:
        validate.env_name(name)
        entries = [index for index, entry_name, _ in self._entries() if entry_name == name]
        for index in reversed(entries):
            del self.lines[index]
        return bool(entries)

    def render(self) -> str:
        return "".join(line + "\n" for line in self.lines)
