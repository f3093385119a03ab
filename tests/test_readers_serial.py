# SPDX-License-Identifier: GPL-3.0-or-later
"""The serial reader over a real pty; a symlink plays the /dev/serial/by-id path.

Unplugging is closing the pty master and removing the link; replugging is a new pty with
the link pointed at it, as udev does when a USB-serial adapter comes back.
"""

from __future__ import annotations

import queue
import time

import pytest
import serial

import readers
from readers.serial_reader import SerialReader, StxEtxFramer
from tests.fixtures.serial_port import PtyPort
from tests.waiting import wait_for


@pytest.fixture
def port(tmp_path):
    device = PtyPort(tmp_path / "usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0")
    try:
        yield device
    finally:
        device.unplug()


def serial_reader(run_reader, port, **values):
    section = {"type": "serial", "port": str(port.link), "rescan_seconds": "0.02", **values}
    return run_reader("lobby", section)


@pytest.mark.parametrize(
    ("terminator", "data", "expected"),
    [
        ("crlf", b"0012345678\r\n4711\r\n", ["0012345678", "4711"]),
        ("crlf", b"0012345678\n4711\r", ["0012345678", "4711"]),
        ("cr", b"0012345678\r4711\r", ["0012345678", "4711"]),
        ("lf", b"0012345678\n4711\n", ["0012345678", "4711"]),
        ("stx-etx", b"\x020012345678\x03\x7f noise \x024711\r\n\x03U", ["0012345678", "4711"]),
    ],
)  # fmt: skip
def test_terminators(run_reader, port, terminator, data, expected):
    reader, swipes = serial_reader(run_reader, port, terminator=terminator)
    assert wait_for(lambda: reader.opens == 1)
    port.send(data)
    assert [swipes.next().value for _ in expected] == expected
    assert reader.health.state == "ok"


def test_conversion_is_applied(run_reader, port):
    reader, swipes = serial_reader(run_reader, port, convert="reverse_bytes, hex2dec, pad:10")
    assert wait_for(lambda: reader.opens == 1)
    port.send(b"4E61BC00\r\n")
    swipe = swipes.next()
    assert (swipe.value, swipe.raw) == ("0012345678", "4E61BC00")


def test_bad_lines_are_dropped(run_reader, port):
    reader, swipes = serial_reader(run_reader, port, max_line="16")
    assert wait_for(lambda: reader.opens == 1)
    port.send(b"1" * 40 + b"\r\n" + b"12 34\r\n" + b"\xff\xfe\r\n" + b"5678\r\n")
    assert swipes.next().value == "5678"
    assert reader.health.dropped == 3


def test_unplug_and_replug_20_times(run_reader, port, caplog):
    reader, swipes = serial_reader(run_reader, port)
    started = time.monotonic()
    for cycle in range(20):
        assert wait_for(lambda c=cycle: reader.opens == c + 1), f"not reopened after {cycle}"
        port.send(f"{cycle}000001\r\n".encode())
        assert swipes.next().value == f"{cycle}000001"
        port.send(b"99999")  # a partial line, cut off by the unplug
        port.unplug()
        port.plug()
    assert wait_for(lambda: reader.opens == 21)
    port.send(b"77\r\n")
    assert swipes.next().value == "77"
    assert swipes.values() == []  # no partial line carried over a replug
    assert caplog.text.count("failed (") == 20
    assert reader.health.failures == 0  # recovery does not go through the backoff
    assert time.monotonic() - started < 10


def test_waits_for_a_port_that_is_not_there_yet(run_reader, tmp_path):
    device = PtyPort(tmp_path / "ttyUSB-reader")
    device.unplug()
    reader, swipes = serial_reader(run_reader, device)
    try:
        assert wait_for(lambda: reader.health.state == "retrying")
        assert "waiting for" in reader.health.detail
        device.plug()
        assert wait_for(lambda: reader.opens == 1)
        device.send(b"31337\r\n")
        assert swipes.next().value == "31337"
    finally:
        device.unplug()


def test_a_port_held_by_another_program_is_an_error_that_is_retried(run_reader, port):
    holder = serial.Serial(str(port.link), exclusive=True)
    try:
        reader, _ = serial_reader(run_reader, port)
        assert wait_for(lambda: reader.health.failures > 0)
        assert "cannot open serial port" in reader.health.detail
        assert reader.health.state == "retrying"
    finally:
        holder.close()


def test_stop_is_prompt(run_reader, port):
    reader, swipes = serial_reader(run_reader, port)
    assert wait_for(lambda: reader.opens == 1)
    began = time.monotonic()
    reader.stop()
    assert time.monotonic() - began < 0.5
    assert reader.health.state == "stopped"
    port.send(b"1234\r\n")
    with pytest.raises(queue.Empty):
        swipes.next(timeout=0.05)


def test_stx_etx_framer():
    framer = StxEtxFramer(max_len=8)
    assert framer.feed(b"junk\x0212") == []
    assert framer.feed(b"34\x03\x02\x03") == [b"1234"]
    assert framer.feed(b"\x02123456789\x03\x025\x03") == [b"5"]
    assert framer.overruns == 1
    assert framer.feed(b"\x0212\x0234\x03") == [b"34"]  # a new STX restarts the frame


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, "port: required key is missing"),
        ({"port": "/dev/ttyS0", "terminator": "etx"}, "terminator: must be cr, lf, crlf"),
        ({"port": "/dev/ttyS0", "baud": "9601"}, "baud: 9601 is not a standard rate"),
        ({"port": "/dev/ttyS0", "parity": "mark"}, "parity: must be none, even or odd"),
        ({"port": "/dev/ttyS0", "baud": "fast"}, "baud: invalid literal"),
    ],
)
def test_settings_are_checked(values, problem):
    with pytest.raises(readers.SettingsError) as info:
        readers.reader_settings("reader:lobby", {"type": "serial", **values})
    assert problem in str(info.value)


def test_registry_builds_a_serial_reader():
    settings = readers.reader_settings("reader:x", {"type": "serial", "port": "/dev/ttyS0"})
    assert isinstance(readers.build_reader("x", settings, print), SerialReader)
