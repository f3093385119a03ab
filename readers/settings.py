# SPDX-License-Identifier: GPL-3.0-or-later
"""Read one INI section into a frozen dataclass, reporting every bad key at once.

The dataclass is the schema: each field's type says how its text is parsed (str, int, float,
bool, tuple[str, ...] as a comma list), its default makes it optional, and
`field(repr=False, metadata={"secret": True})` masks it when shown and keeps it out of
repr. Used for reader sections and, by the core, for the station's own sections.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

TRUE_WORDS = {"1", "yes", "true", "on"}
FALSE_WORDS = {"0", "no", "false", "off"}


class SettingsError(ValueError):
    """One or more keys of a section are wrong; `problems` lists "[section] key: why"."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"expected yes/no, true/false, on/off or 1/0, got {text!r}")


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _parser(hint: Any) -> Any:
    if hint is bool:
        return parse_bool
    if hint in (int, float, str):
        return lambda text: hint(text.strip()) if hint is not str else text.strip()
    if typing.get_origin(hint) is tuple:
        return parse_list
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if len(args) == 1:  # Optional[X]: empty text means None
        inner = _parser(args[0])
        return lambda text: inner(text) if text.strip() else None
    raise TypeError(f"no parser for settings type {hint!r}")


def suggest(key: str, known: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def from_section(cls: type[T], section: str, values: Mapping[str, str], ignore=()) -> T:
    """Build `cls` from the raw `values` of `[section]`; raise SettingsError naming each key."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    problems: list[str] = []
    kwargs: dict[str, Any] = {}
    for key, text in values.items():
        if key in ignore:
            continue
        if key not in fields or not fields[key].init:
            problems.append(f"[{section}] {key}: unknown key{suggest(key, fields)}")
            continue
        try:
            kwargs[key] = _parser(hints[key])(text)
        except ValueError as exc:
            problems.append(f"[{section}] {key}: {exc}")
    for name, f in fields.items():
        missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.init and missing and name not in kwargs and name not in values:
            problems.append(f"[{section}] {name}: required key is missing")
    if not problems:
        try:
            return cls(**kwargs)
        except ValueError as exc:  # __post_init__ checks across keys
            problems.append(f"[{section}] {exc}")
    raise SettingsError(problems)


def shown(settings: Any) -> dict[str, str]:
    """The settings as text for display, with secret fields masked as ********."""
    out = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.metadata.get("secret") and value:
            out[f.name] = "********"
        elif isinstance(value, tuple):
            out[f.name] = ", ".join(map(str, value))
        else:
            out[f.name] = "" if value is None else str(value)
    return out
