# SPDX-License-Identifier: GPL-3.0-or-later
"""Linux key codes to characters, as a US-layout keyboard wedge types them.

Evdev reports keys, not characters: `KEY_B` with a shift key held is "B". The table covers
what card readers and PIN pads type: digits, letters, the keypad, and the punctuation that
card formats use. Enter and keypad Enter end a read.
"""

from __future__ import annotations

from evdev import ecodes

# code -> (unshifted, shifted)
KEYMAP: dict[int, tuple[str, str]] = {}

for _digit, _shifted in zip("1234567890", "!@#$%^&*()", strict=True):
    KEYMAP[getattr(ecodes, f"KEY_{_digit}")] = (_digit, _shifted)
    KEYMAP[getattr(ecodes, f"KEY_KP{_digit}")] = (_digit, _digit)
for _letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    KEYMAP[getattr(ecodes, f"KEY_{_letter}")] = (_letter.lower(), _letter)

KEYMAP.update(
    {
        ecodes.KEY_MINUS: ("-", "_"),
        ecodes.KEY_EQUAL: ("=", "+"),
        ecodes.KEY_SEMICOLON: (";", ":"),
        ecodes.KEY_APOSTROPHE: ("'", '"'),
        ecodes.KEY_COMMA: (",", "<"),
        ecodes.KEY_DOT: (".", ">"),
        ecodes.KEY_SLASH: ("/", "?"),
        ecodes.KEY_BACKSLASH: ("\\", "|"),
        ecodes.KEY_LEFTBRACE: ("[", "{"),
        ecodes.KEY_RIGHTBRACE: ("]", "}"),
        ecodes.KEY_GRAVE: ("`", "~"),
        ecodes.KEY_SPACE: (" ", " "),
        ecodes.KEY_KPDOT: (".", "."),
        ecodes.KEY_KPMINUS: ("-", "-"),
        ecodes.KEY_KPPLUS: ("+", "+"),
        ecodes.KEY_KPASTERISK: ("*", "*"),
        ecodes.KEY_KPSLASH: ("/", "/"),
    }
)

DIGITS: dict[int, str] = {code: chars[0] for code, chars in KEYMAP.items() if chars[0].isdigit()}
ENTER = frozenset({ecodes.KEY_ENTER, ecodes.KEY_KPENTER})
SHIFT = frozenset({ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT})
BACKSPACE = ecodes.KEY_BACKSPACE
ESCAPE = ecodes.KEY_ESC

KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2  # the value of an EV_KEY event


class ShiftState:
    """Tracks whether a shift key is held, from key-down and key-up events."""

    def __init__(self) -> None:
        self._held: set[int] = set()

    def update(self, code: int, value: int) -> bool:
        """Record `code` going down or up; True when it was a shift key."""
        if code not in SHIFT:
            return False
        if value == KEY_UP:
            self._held.discard(code)
        else:
            self._held.add(code)
        return True

    @property
    def held(self) -> bool:
        return bool(self._held)

    def reset(self) -> None:
        self._held.clear()


def char_for(code: int, shifted: bool) -> str | None:
    """The character `code` types, or None for a key that types nothing we use."""
    chars = KEYMAP.get(code)
    if chars is None:
        return None
    return chars[1] if shifted else chars[0]


def codes_for(char: str) -> tuple[int, bool]:
    """The key code typing `char` and whether shift is needed (the inverse of char_for)."""
    for code, (plain, shifted) in KEYMAP.items():
        if char == plain:
            return code, False
        if char == shifted:
            return code, True
    raise ValueError(f"no key types {char!r}")
