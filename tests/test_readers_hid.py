# SPDX-License-Identifier: GPL-3.0-or-later
"""The HID keyboard-wedge reader, fed real evdev events through a fake device on a pipe."""

from __future__ import annotations

import logging
import queue
import time

import pytest
from evdev import ecodes

import readers
from readers.hid import HidReader, KeyLine
from tests.fixtures.fake_input import key, press, typed
from tests.waiting import wait_for

BY_ID = "/dev/input/by-id/usb-RFIDeas_USB_Keyboard-event-kbd"


def hid(fake_input, run_reader, reader_name="door", **values):
    section = {"type": "hid", "device": BY_ID, "rescan_seconds": "0.02", **values}
    if "usb_id" in values or "name" in values:
        del section["device"]
    opener, lister = fake_input.open, fake_input.list_devices
    return run_reader(reader_name, section, opener=opener, lister=lister)


def test_worked_check_hex_card_with_shift_and_enter(fake_input, run_reader):
    node = fake_input.plug(BY_ID)
    reader, swipes = hid(fake_input, run_reader, convert="regex:^0x(.*)$, hex2dec")
    assert node.wait_grabbed()
    events = typed("0x00BC614E")
    assert any(e.code == ecodes.KEY_LEFTSHIFT for e in events)  # B, C and E are shifted
    node.emit(events)
    swipe = swipes.next()
    assert (swipe.reader, swipe.value, swipe.raw, swipe.kind) == (
        "door",
        "12345678",
        "0x00BC614E",
        "card",
    )
    assert reader.health.state == "ok" and reader.health.swipes == 1


def test_keypad_digits_and_keypad_enter(fake_input, run_reader):
    node = fake_input.plug(BY_ID)
    _, swipes = hid(fake_input, run_reader)
    assert node.wait_grabbed()
    node.emit([*press(ecodes.KEY_KP1), *press(ecodes.KEY_KP2), *press(ecodes.KEY_KP0)])
    node.emit(press(ecodes.KEY_KPENTER))
    assert swipes.next().value == "120"


def test_device_is_grabbed_so_nothing_reaches_a_console(fake_input, run_reader):
    node = fake_input.plug(BY_ID)
    console = node.open()  # another reader of the device, as a login console would be
    reader, swipes = hid(fake_input, run_reader)
    assert node.wait_grabbed()
    node.emit(typed("12345678"))
    assert swipes.next().value == "12345678"
    with pytest.raises(BlockingIOError):
        list(console.read())
    reader.stop()
    assert node.grabber is None  # released in finally
    node.emit(typed("1"))
    assert next(e.code for e in console.read() if e.type == ecodes.EV_KEY) == ecodes.KEY_1


def test_partial_read_is_dropped_after_the_inter_key_timeout(fake_input, run_reader, caplog):
    node = fake_input.plug(BY_ID)
    reader, swipes = hid(fake_input, run_reader, key_timeout_seconds="0.1")
    assert node.wait_grabbed()
    node.emit(typed("98765432", enter=None))
    assert wait_for(lambda: reader.health.dropped == 1)
    node.emit(typed("456"))
    assert swipes.next().value == "456"
    assert "98765432" not in caplog.text and "****5432" in caplog.text


def test_a_slow_key_starts_a_new_read_even_without_idle_time():
    line = KeyLine(timeout=0.5, max_length=64)
    for at, code in ((0.0, ecodes.KEY_1), (0.1, ecodes.KEY_2)):
        assert line.feed(code, 1, at) is None
    assert line.deadline() == pytest.approx(0.6)


def test_overlong_and_implausible_reads_are_dropped(fake_input, run_reader):
    node = fake_input.plug(BY_ID)
    reader, swipes = hid(fake_input, run_reader, max_length="8")
    assert node.wait_grabbed()
    node.emit(typed("123456789"))  # nine characters
    node.emit(typed("12 34"))  # a space cannot be in a card number
    node.emit(typed("A1-b2"))
    assert swipes.next().value == "A1-b2"
    assert reader.health.dropped == 2


def test_unplug_is_logged_and_replug_is_grabbed_again_20_times(fake_input, run_reader, caplog):
    caplog.set_level(logging.INFO, logger="readers")
    node = fake_input.plug(BY_ID)
    reader, swipes = hid(fake_input, run_reader)
    started = time.monotonic()
    for cycle in range(20):
        assert node.wait_grabbed(), f"not grabbed after replug {cycle}"
        node.emit(typed(f"{cycle}0000001"))
        assert swipes.next().value == f"{cycle}0000001"
        node.emit(typed("99999", enter=None))  # a partial read, cut off by the unplug
        assert wait_for(lambda: reader.line.pending)
        fake_input.unplug(BY_ID)
        node.emit(typed(f"{cycle}5555555"))  # typed while unplugged: goes nowhere
        node = fake_input.plug(BY_ID)
    assert node.wait_grabbed()
    node.emit(typed("77"))
    assert swipes.next().value == "77"
    assert swipes.values() == []  # nothing from before a reappearance, no merged partials
    assert reader.grabs == 21
    assert caplog.text.count("unplugged; waiting for it to come back") == 20
    assert reader.health.dropped == 20  # each cut-off partial read, logged masked
    assert time.monotonic() - started < 10


def test_replug_is_grabbed_within_two_seconds_at_default_rescan(fake_input, run_reader):
    node = fake_input.plug(BY_ID)
    section = {"type": "hid", "device": BY_ID}
    reader, _ = run_reader("door", section, opener=fake_input.open, lister=fake_input.list_devices)
    assert reader.settings.rescan_seconds == 0.5
    assert node.wait_grabbed()
    fake_input.unplug(BY_ID)
    time.sleep(0.3)
    assert reader.health.state == "retrying"
    appeared = time.monotonic()
    node = fake_input.plug(BY_ID)
    assert node.wait_grabbed(timeout=2.0)
    assert time.monotonic() - appeared < 2.0
    assert reader.health.state == "ok"


def test_reader_waits_for_a_device_that_is_not_there_yet(fake_input, run_reader):
    reader, swipes = hid(fake_input, run_reader)
    time.sleep(0.1)
    assert reader.health.state == "retrying"
    assert "waiting for /dev/input/by-id/" in reader.health.detail
    node = fake_input.plug(BY_ID)
    assert node.wait_grabbed()
    node.emit(typed("42424242"))
    assert swipes.next().value == "42424242"


def test_several_hid_readers_at_once_by_usb_id_and_name(fake_input, run_reader):
    first = fake_input.plug("/dev/input/event3", name="RFIDeas USB Keyboard")
    second = fake_input.plug("/dev/input/event4", name="RFIDeas USB Keyboard")
    other = fake_input.plug("/dev/input/event5", name="HID OMNIKEY", vendor=0x076B, product=1)
    fake_input.plug("/dev/input/event1", name="AT keyboard", vendor=1, product=1)
    a, swipes_a = hid(fake_input, run_reader, "a", usb_id="0c27:3bfa")
    assert first.wait_grabbed() or second.wait_grabbed()
    b, swipes_b = hid(fake_input, run_reader, "b", usb_id="0C27:3BFA")
    c, swipes_c = hid(fake_input, run_reader, "c", name="*OMNIKEY*")
    assert first.wait_grabbed() and second.wait_grabbed() and other.wait_grabbed()
    assert first.grabber is not second.grabber
    first.emit(typed("111"))
    second.emit(typed("222"))
    other.emit(typed("333"))
    pairs = {"a": (a, swipes_a), "b": (b, swipes_b), "c": (c, swipes_c)}
    got = {name: s.next().value for name, (_, s) in pairs.items()}
    assert sorted(got.values()) == ["111", "222", "333"] and got["c"] == "333"
    on_first = next(name for name, value in got.items() if value == "111")
    on_second = "b" if on_first == "a" else "a"
    fake_input.unplug("/dev/input/event3")  # one reader unplugged, the others carry on
    second.emit(typed("2222"))
    other.emit(typed("3333"))
    assert pairs[on_second][1].next().value == "2222"
    assert swipes_c.next().value == "3333"
    assert wait_for(lambda: pairs[on_first][0].health.state == "retrying")
    assert pairs[on_second][0].health.state == "ok"


def test_device_grabbed_by_another_program_is_an_error_that_is_retried(fake_input, run_reader):
    node = fake_input.plug(BY_ID)
    other = node.open()
    other.grab()
    reader, _ = hid(fake_input, run_reader)
    assert wait_for(lambda: reader.health.failures > 0)
    assert reader.health.state == "retrying"
    assert "cannot grab" in reader.health.detail


def test_stop_is_prompt_while_waiting_and_while_grabbed(fake_input, run_reader):
    reader, _ = hid(fake_input, run_reader, rescan_seconds="2")
    time.sleep(0.05)
    began = time.monotonic()
    reader.stop()
    assert time.monotonic() - began < 0.5
    node = fake_input.plug(BY_ID)
    reader, _ = hid(fake_input, run_reader)
    assert node.wait_grabbed()
    began = time.monotonic()
    reader.stop()
    assert time.monotonic() - began < 0.5
    assert reader.health.state == "stopped" and node.grabber is None


def test_key_repeat_and_key_up_do_not_type(fake_input, run_reader):
    node = fake_input.plug(BY_ID)
    _, swipes = hid(fake_input, run_reader)
    assert node.wait_grabbed()
    node.emit(key(ecodes.KEY_5, 1) + key(ecodes.KEY_5, 2) + key(ecodes.KEY_5, 0))
    node.emit(press(ecodes.KEY_ENTER))
    assert swipes.next().value == "5"
    with pytest.raises(queue.Empty):
        swipes.next(timeout=0.05)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, "device, usb_id, name: give exactly one"),
        ({"device": BY_ID, "name": "x"}, "device, usb_id, name: give exactly one"),
        ({"usb_id": "0c27-3bfa"}, "usb_id: expected vendor:product in hex"),
        ({"device": BY_ID, "key_timeout_seconds": "0"}, "key_timeout_seconds: must be greater"),
        ({"device": BY_ID, "rescan_seconds": "5"}, "rescan_seconds: must be more than 0"),
        ({"device": BY_ID, "devcie": "x"}, "devcie: unknown key (did you mean 'device'?)"),
    ],
)
def test_settings_are_checked(values, problem):
    with pytest.raises(readers.SettingsError) as info:
        readers.reader_settings("reader:door", {"type": "hid", **values})
    assert problem in str(info.value)


def test_registry_builds_a_hid_reader():
    settings = readers.reader_settings("reader:door", {"type": "hid", "name": "RFIDeas*"})
    reader = readers.build_reader("door", settings, lambda swipe: None)
    assert isinstance(reader, HidReader) and reader.kind == "hid"
