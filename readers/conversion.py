# SPDX-License-Identifier: GPL-3.0-or-later
"""Card-number conversion: an ordered chain of small, pure steps applied before lookup.

A reader section's `convert` key lists the steps, separated by commas, applied left to
right to what the reader sent (after surrounding whitespace is trimmed):

    convert = regex:^0x(.*)$, hex2dec, pad:10

Steps (NAME or NAME:ARGUMENT):

    trim           strip surrounding whitespace       " 123 "        -> "123"
    trim:CHARS     strip any of CHARS from both ends  trim:;?  ";123?" -> "123"
    regex:PATTERN  the first match's group 1 (or the whole match without groups; a group
                   named `card` wins)                 regex:^0x(.*)$  "0x00BC614E" -> "00BC614E"
    hex2dec        hexadecimal to decimal             "00BC614E"     -> "12345678"
    dec2hex        decimal to upper-case hexadecimal  "12345678"     -> "BC614E"
    reverse_bytes  reverse the byte order of hex      "4E61BC00"     -> "00BC614E"
                   (an odd length gets a leading 0)
    bits:OFF:LEN   LEN bits from bit OFF (0 = the     bits:1:16 "2F623AE" -> "4567"
                   lowest) of a hex value, as decimal (26-bit HID Prox: card number)
    pad:N          zero-pad on the left to N chars   pad:10 "12345678" -> "0012345678"
    strip_zeros    drop leading zeros (keeps one 0)   "0012345678"   -> "12345678"
    width:N        keep the last N characters         width:4 "0012345678" -> "5678"
    prefix:TEXT    remove TEXT at the start, if there prefix:FAC "FAC123" -> "123"
    suffix:TEXT    remove TEXT at the end, if there   suffix:X "123X" -> "123"
    upper, lower   change case                        "00bc614e"     -> "00BC614E"

A value a step cannot handle (non-hex into hex2dec, no regex match, an empty result) makes
`Chain.apply()` return None, and the reader drops the read. Only a regex may contain a
comma; `prefix`/`suffix` text may not. In an INI file, ` ;` and ` #` start a comment, so a
pattern must not contain either after a space.

    >>> Chain.parse("regex:^0x(.*)$, hex2dec").apply("0x00BC614E")
    '12345678'
    >>> Chain.parse("reverse_bytes, hex2dec, pad:10").apply("4E61BC00")
    '0012345678'
    >>> Chain.parse("hex2dec").apply("12G4") is None
    True
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

Convert = Callable[[str], str | None]

HEX = re.compile(r"[0-9A-Fa-f]+")
DEC = re.compile(r"[0-9]+")
MAX_DIGITS = 256  # longer numbers are not card numbers; refuse before int() does work
MAX_WIDTH = 256


def _hex2dec(value: str) -> str | None:
    if len(value) > MAX_DIGITS or not HEX.fullmatch(value):
        return None
    return str(int(value, 16))


def _dec2hex(value: str) -> str | None:
    if len(value) > MAX_DIGITS or not DEC.fullmatch(value):
        return None
    return format(int(value), "X")


def _reverse_bytes(value: str) -> str | None:
    if not HEX.fullmatch(value):
        return None
    if len(value) % 2:
        value = "0" + value
    return "".join(value[i : i + 2] for i in range(len(value) - 2, -1, -2))


def _strip_zeros(value: str) -> str:
    return value.lstrip("0") or ("0" if value else "")


def _trim(chars: str | None) -> Convert:
    return lambda value: value.strip(chars)


def _regex(pattern: str) -> Convert:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"regex:{pattern}: {exc}") from None
    group: int | str = 0
    if "card" in compiled.groupindex:
        group = "card"
    elif compiled.groups:
        group = 1

    def extract(value: str) -> str | None:
        match = compiled.search(value)
        return match.group(group) if match else None

    return extract


def _number(name: str, arg: str) -> int:
    try:
        width = int(arg)
    except ValueError:
        raise ValueError(f"{name}: needs a whole number, as in {name}:10") from None
    if not 1 <= width <= MAX_WIDTH:
        raise ValueError(f"{name}:{arg}: must be between 1 and {MAX_WIDTH}")
    return width


def _pad(arg: str) -> Convert:
    width = _number("pad", arg)
    return lambda value: value.rjust(width, "0")


def _width(arg: str) -> Convert:
    width = _number("width", arg)
    return lambda value: value[-width:]


def _bits(arg: str) -> Convert:
    offset, _, length = arg.partition(":")
    try:
        low, size = int(offset), int(length)
    except ValueError:
        raise ValueError("bits: needs OFFSET:LENGTH, as in bits:1:16") from None
    if not (0 <= low <= 4 * MAX_DIGITS and 1 <= size <= 4 * MAX_DIGITS):
        raise ValueError(f"bits:{arg}: offset or length out of range")

    def extract(value: str) -> str | None:
        if len(value) > MAX_DIGITS or not HEX.fullmatch(value):
            return None
        return str(int(value, 16) >> low & ((1 << size) - 1))

    return extract


def _text(name: str, arg: str) -> str:
    if not arg:
        raise ValueError(f"{name}: needs the text to remove, as in {name}:ABC")
    return arg


def _prefix(arg: str) -> Convert:
    text = _text("prefix", arg)
    return lambda value: value[len(text) :] if value.startswith(text) else value


def _suffix(arg: str) -> Convert:
    text = _text("suffix", arg)
    return lambda value: value[: -len(text)] if value.endswith(text) else value


# name -> (takes an argument: "no" | "optional" | "required", build(arg) -> Convert)
STEPS: dict[str, tuple[str, Callable[[str | None], Convert]]] = {
    "trim": ("optional", lambda arg: _trim(arg or None)),
    "regex": ("required", lambda arg: _regex(arg or "")),
    "hex2dec": ("no", lambda arg: _hex2dec),
    "dec2hex": ("no", lambda arg: _dec2hex),
    "reverse_bytes": ("no", lambda arg: _reverse_bytes),
    "bits": ("required", lambda arg: _bits(arg or "")),
    "pad": ("required", lambda arg: _pad(arg or "")),
    "strip_zeros": ("no", lambda arg: _strip_zeros),
    "width": ("required", lambda arg: _width(arg or "")),
    "prefix": ("required", lambda arg: _prefix(arg or "")),
    "suffix": ("required", lambda arg: _suffix(arg or "")),
    "upper": ("no", lambda arg: str.upper),
    "lower": ("no", lambda arg: str.lower),
}


@dataclass(frozen=True)
class Step:
    """One named step and its argument: `Step.parse("pad:10")`; `str(step)` gives the text."""

    name: str
    arg: str | None
    convert: Convert = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Step:
        name, colon, arg = text.strip().partition(":")
        name = name.strip().lower()
        if name not in STEPS:
            raise ValueError(f"unknown conversion step {name!r}{_suggest(name)}")
        takes, build = STEPS[name]
        if takes == "no" and colon:
            raise ValueError(f"{name}: takes no argument")
        if takes == "required" and not arg.strip():
            raise ValueError(f"{name}: needs an argument, as in {name}:...")
        value = arg.strip() if colon and arg.strip() else None
        return cls(name, value, build(value))

    def __str__(self) -> str:
        return self.name if self.arg is None else f"{self.name}:{self.arg}"


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, list(STEPS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _split(spec: str) -> list[str]:
    """Split a spec on commas, keeping commas that belong to a regex pattern."""
    parts: list[str] = []
    for piece in spec.split(","):
        head = piece.strip().partition(":")[0].strip().lower()
        if parts and parts[-1].lstrip().lower().startswith("regex:") and head not in STEPS:
            parts[-1] += "," + piece
        else:
            parts.append(piece)
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True)
class Chain:
    """An ordered list of steps; the empty chain only trims surrounding whitespace."""

    steps: tuple[Step, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> Chain:
        """Read a `convert` value; ValueError names the step that is wrong."""
        return cls(tuple(Step.parse(part) for part in _split(spec)))

    def apply(self, value: str) -> str | None:
        """The converted value, or None when a step cannot handle it or nothing is left."""
        current: str | None = value.strip()
        for step in self.steps:
            if not current:
                return None
            current = step.convert(current)
        return current or None

    def then(self, step: Step) -> Chain:
        return Chain((*self.steps, step))

    def __str__(self) -> str:
        return ", ".join(str(step) for step in self.steps)

    def __len__(self) -> int:
        return len(self.steps)
