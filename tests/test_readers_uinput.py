# SPDX-License-Identifier: GPL-3.0-or-later
"""The HID reader against a real kernel input device made with /dev/uinput, where there is one.

Everything here is also covered through the fake device (test_readers_hid.py); this checks
the same paths against the kernel: grab, ENODEV on removal, and finding the device again.
"""

from __future__ import annotations

import os

import pytest
from evdev import UInput, ecodes

from readers import keys
from tests.fixtures.fake_input import typed
from tests.waiting import wait_for

pytestmark = pytest.mark.skipif(
    not os.access("/dev/uinput", os.R_OK | os.W_OK), reason="needs a writable /dev/uinput"
)

CODES = sorted({*keys.KEYMAP, *keys.ENTER, *keys.SHIFT})


def make_device(name: str) -> UInput:
    return UInput({ecodes.EV_KEY: CODES}, name=name, vendor=0x1D6B, product=0x0104)


def type_on(device: UInput, text: str) -> None:
    for event in typed(text):
        if event.type == ecodes.EV_KEY:
            device.write(ecodes.EV_KEY, event.code, event.value)
            device.syn()


def test_real_device_is_grabbed_read_and_found_again_after_removal(run_reader):
    name = f"releasestation test reader {os.getpid()}"
    device = make_device(name)
    try:
        reader, swipes = run_reader(
            "real", {"type": "hid", "name": name, "convert": "regex:^0x(.*)$, hex2dec"}
        )
        assert wait_for(lambda: reader.grabs == 1)
        type_on(device, "0x00BC614E")
        assert swipes.next(timeout=3).value == "12345678"
        device.close()  # the kernel removes the device: ENODEV for the reader
        assert wait_for(lambda: reader.health.state == "retrying")
        device = make_device(name)
        assert wait_for(lambda: reader.grabs == 2, timeout=2.5)
        type_on(device, "4711")
        assert swipes.next(timeout=3).value == "4711"
    finally:
        device.close()
