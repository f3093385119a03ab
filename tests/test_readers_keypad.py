# SPDX-License-Identifier: GPL-3.0-or-later
"""The PIN keypad reader, fed real evdev events through a fake device on a pipe."""

from __future__ import annotations

import logging
import queue
import time

import pytest
from evdev import ecodes

import readers
from readers.keypad import KeypadReader, PinEntry
from tests.fixtures.fake_input import press, typed

PATH = "/dev/input/by-id/usb-Keypad_Numeric-event-kbd"
PIN = "97531"


def keypad(fake_input, run_reader, **values):
    section = {"type": "keypad", "device": PATH, "rescan_seconds": "0.02", **values}
    opener, lister = fake_input.open, fake_input.list_devices
    return run_reader("pinpad", section, opener=opener, lister=lister)


def digits(text: str, keypad_keys: bool = True) -> list:
    events = []
    for char in text:
        events += press(getattr(ecodes, f"KEY_KP{char}" if keypad_keys else f"KEY_{char}"))
    return events


@pytest.fixture
def pad(fake_input, run_reader, caplog):
    caplog.set_level(logging.DEBUG)
    node = fake_input.plug(PATH, name="Numeric Keypad")
    reader, swipes = keypad(fake_input, run_reader, timeout_seconds="0.2")
    assert node.wait_grabbed()
    return node, reader, swipes


def test_digits_and_enter_give_a_pin(pad, caplog):
    node, _, swipes = pad
    node.emit(digits(PIN) + press(ecodes.KEY_KPENTER))
    swipe = swipes.next()
    assert (swipe.kind, swipe.value, swipe.reader) == ("pin", PIN, "pinpad")
    node.emit(digits("2468", keypad_keys=False) + press(ecodes.KEY_ENTER))
    assert swipes.next().value == "2468"
    assert PIN not in caplog.text and PIN not in repr(swipe)


def test_backspace_deletes_and_escape_clears(pad):
    node, _, swipes = pad
    node.emit(digits("12349") + press(ecodes.KEY_BACKSPACE) + press(ecodes.KEY_KPENTER))
    assert swipes.next().value == "1234"
    node.emit(digits("5555") + press(ecodes.KEY_ESC) + digits("8642") + press(ecodes.KEY_ENTER))
    assert swipes.next().value == "8642"


def test_a_pause_clears_the_entry(pad, caplog):
    node, _, swipes = pad
    node.emit(digits("1111"))
    time.sleep(0.35)
    node.emit(digits("2222") + press(ecodes.KEY_ENTER))
    assert swipes.next().value == "2222"
    assert "PIN entry cleared" in caplog.text and "1111" not in caplog.text


def test_too_short_and_too_long_pins_are_refused_without_showing_them(pad, caplog):
    node, reader, swipes = pad
    node.emit(digits("975") + press(ecodes.KEY_ENTER))
    node.emit(digits("975319753") + press(ecodes.KEY_ENTER))  # nine digits; at most eight
    node.emit(digits("97531975") + press(ecodes.KEY_ENTER))
    assert swipes.next().value == "97531975"
    with pytest.raises(queue.Empty):
        swipes.next(timeout=0.05)
    assert reader.health.dropped == 2
    assert "PIN shorter than 4 digits" in caplog.text
    assert "PIN longer than 8 digits" in caplog.text
    for shown in ("975", "753", "531", "*"):
        assert shown not in caplog.text


def test_letters_and_other_keys_are_ignored(pad):
    node, _, swipes = pad
    node.emit(typed("12ab34", enter=None) + press(ecodes.KEY_TAB) + press(ecodes.KEY_ENTER))
    assert swipes.next().value == "1234"


def test_unplug_and_replug(fake_input, pad):
    node, reader, swipes = pad
    node.emit(digits("123"))
    fake_input.unplug(PATH)
    node = fake_input.plug(PATH, name="Numeric Keypad")
    assert node.wait_grabbed()
    node.emit(digits("4567") + press(ecodes.KEY_ENTER))
    assert swipes.next().value == "4567"
    assert reader.grabs == 2


def test_pin_entry_bounds_its_memory():
    entry = PinEntry(max_digits=4, timeout=10)
    for _ in range(1000):
        entry.feed(ecodes.KEY_KP1, 1, 0.0)
    assert len(entry.digits) == 5 and entry.too_long
    for _ in range(2):
        entry.feed(ecodes.KEY_BACKSPACE, 1, 0.0)
    assert entry.feed(ecodes.KEY_ENTER, 1, 0.0) == "111" and not entry.too_long


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"convert": "hex2dec"}, "convert: a keypad hands on PINs as typed"),
        ({"min_digits": "6", "max_digits": "4"}, "min_digits, max_digits"),
        ({"timeout_seconds": "0"}, "timeout_seconds: must be greater than 0"),
    ],
)
def test_settings_are_checked(values, problem):
    with pytest.raises(readers.SettingsError) as info:
        readers.reader_settings("reader:pinpad", {"type": "keypad", "device": PATH, **values})
    assert problem in str(info.value)


def test_registry_builds_a_keypad_reader():
    settings = readers.reader_settings("reader:pinpad", {"type": "keypad", "usb_id": "05a4:9759"})
    assert isinstance(readers.build_reader("pinpad", settings, print), KeypadReader)
