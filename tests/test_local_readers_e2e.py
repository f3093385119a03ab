# SPDX-License-Identifier: GPL-3.0-or-later
"""A hex card read by a USB HID, a serial and an HTTP reader, each converted to the
directory's decimal number, releases that directory user's held jobs through the daemon."""

from __future__ import annotations

import queue
import urllib.parse
import urllib.request

import pytest

import readers
from releasestation.daemon import build_station
from tests.fixtures.fake_input import typed
from tests.fixtures.serial_port import PtyPort
from tests.fixtures.station import ldap_section

BY_ID = "/dev/input/by-id/usb-RFIDeas_USB_Keyboard-event-kbd"
TOKEN = "reader-t0ken"


def build(name: str, values: dict[str, str], emit, **kwargs):
    settings = readers.reader_settings(f"reader:{name}", values)
    return readers.reader_class(settings.type)(name, settings, emit, **kwargs)


@pytest.fixture
def station(write_config, make_app, slapd, tmp_path, cups_clean):
    app = make_app(write_config(directory=ldap_section(slapd, tmp_path)))
    outcomes: queue.Queue = queue.Queue()
    st = build_station(app, readers=[], services=[])
    st.listeners.append(lambda swipe, outcome: outcomes.put((swipe.reader, outcome)))
    st.outcomes = outcomes  # type: ignore[attr-defined]
    yield st
    st.stop()


def expect_carol_printed(station, cups, job: int, reader: str) -> None:
    assert station.outcomes.get(timeout=5) == (reader, "released")
    assert [p.job_id for p in cups.wait_printed(1)] == [job]


def test_hid_reader_hex_card(station, cups_clean, fake_input):
    node = fake_input.plug(BY_ID)
    values = {"type": "hid", "device": BY_ID, "convert": "regex:^0x(.*)$, hex2dec"}
    hid = build("usb", values, station.queue.put, opener=fake_input.open,
                lister=fake_input.list_devices)  # fmt: skip
    station.readers.append(hid)
    station.start()
    assert node.wait_grabbed()
    job = cups_clean.submit("carol", "via hid")
    cups_clean.submit("alice", "not carol's")
    node.emit(typed("0x00BC614E"))
    expect_carol_printed(station, cups_clean, job, "usb")


def test_serial_reader_hex_card(station, cups_clean, tmp_path):
    port = PtyPort(tmp_path / "usb-FTDI_serial-if00-port0")
    try:
        values = {"type": "serial", "port": str(port.link), "convert": "hex2dec"}
        station.readers.append(build("desk-serial", values, station.queue.put))
        station.start()
        job = cups_clean.submit("carol", "via serial")
        for _ in range(100):  # until the reader has the port open
            port.send(b"00BC614E\r\n")
            try:
                expect_carol_printed(station, cups_clean, job, "desk-serial")
                break
            except queue.Empty:
                continue
        else:
            pytest.fail("the serial reader never delivered")
    finally:
        port.unplug()


def test_http_reader_hex_card(station, cups_clean):
    values = {"type": "http", "host": "127.0.0.1", "port": "0", "allow": "127.0.0.1",
              "token": TOKEN, "convert": "hex2dec"}  # fmt: skip
    http = build("copier", values, station.queue.put)
    station.readers.append(http)
    station.start()
    for _ in range(200):
        if http.bound_port:
            break
        station.stopped.wait(0.01)
    job = cups_clean.submit("carol", "via http")
    query = urllib.parse.urlencode({"card": "00BC614E", "token": TOKEN})
    url = f"http://127.0.0.1:{http.bound_port}/swipe?{query}"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
    expect_carol_printed(station, cups_clean, job, "copier")
