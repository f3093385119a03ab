# SPDX-License-Identifier: GPL-3.0-or-later
"""Card readers and PIN pads: drivers, framing and card-number conversion.

This package knows nothing of CUPS, LDAP or the store. Each reader kind is one module; the
registry below maps a section's `type` to it. Adding a kind is one module and one line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from readers.base import Backoff, Emit, Health, Reader, ReaderError, ReaderSettings
from readers.logtext import CleanFormatter, clean
from readers.settings import SettingsError, from_section, suggest
from readers.swipe import Swipe, SwipeKind, mask

__all__ = [
    "REGISTRY",
    "Backoff",
    "CleanFormatter",
    "Emit",
    "Health",
    "Reader",
    "ReaderError",
    "ReaderSettings",
    "SettingsError",
    "Swipe",
    "SwipeKind",
    "build_reader",
    "clean",
    "mask",
    "reader_class",
    "reader_settings",
]

REGISTRY: dict[str, str] = {
    "papercut": "readers.papercut:PaperCutReader",
    "hid": "readers.hid:HidReader",
    "keypad": "readers.keypad:KeypadReader",
    "serial": "readers.serial_reader:SerialReader",
    "http": "readers.http:HttpReader",
}


def reader_class(kind: str) -> type[Reader]:
    """The Reader subclass for `kind`; KeyError names the known kinds."""
    if kind not in REGISTRY:
        raise KeyError(f"unknown reader type {kind!r}{suggest(kind, REGISTRY)}")
    module, _, attr = REGISTRY[kind].partition(":")
    cls: type[Reader] = getattr(importlib.import_module(module), attr)
    return cls


def reader_settings(section: str, values: Mapping[str, str]) -> ReaderSettings:
    """Parse a `[reader:NAME]` section into its kind's Settings; SettingsError on any problem."""
    kind = values.get("type", "").strip()
    if not kind:
        raise SettingsError([f"[{section}] type: required key is missing"])
    try:
        cls = reader_class(kind)
    except KeyError as exc:
        raise SettingsError([f"[{section}] type: {exc.args[0]}"]) from None
    except ImportError as exc:
        raise SettingsError([f"[{section}] type: {kind} readers need {exc.name}"]) from None
    settings = from_section(cls.Settings, section, {**values, "type": kind})
    from readers.conversion import Chain

    try:
        Chain.parse(settings.convert)
    except ValueError as exc:
        raise SettingsError([f"[{section}] convert: {exc}"]) from None
    return settings


def build_reader(name: str, settings: ReaderSettings, emit: Emit) -> Reader:
    return reader_class(settings.type)(name, settings, emit)
