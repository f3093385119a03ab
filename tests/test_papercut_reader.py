# SPDX-License-Identifier: GPL-3.0-or-later
"""The PaperCut network reader against a real TCP terminal peer."""

from __future__ import annotations

import contextlib
import queue
import socket
import time

import pytest

from readers import SettingsError, build_reader, reader_settings


def make_reader(section: dict, out: queue.Queue):
    values = {"type": "papercut", "min_backoff_seconds": "0.02", "max_backoff_seconds": "0.1"}
    settings = reader_settings("reader:t", {**values, **section})
    return build_reader("t", settings, out.put)


def connect_reader(terminal, **extra):
    out: queue.Queue = queue.Queue()
    reader = make_reader({"host": "127.0.0.1", "port": str(terminal.port), **extra}, out)
    reader.start()
    terminal.wait_connections(1)
    return reader, out


def test_card_numbers_arrive_as_swipes(terminal):
    reader, out = connect_reader(terminal)
    try:
        terminal.swipe(b"0012345678\n\r\n00999\r\n\n")
        assert out.get(timeout=2).value == "0012345678"
        assert out.get(timeout=2).value == "00999"
        assert reader.health.state == "ok"
    finally:
        reader.stop()


def test_keepalive_cr_is_sent(terminal):
    reader, _ = connect_reader(terminal, keepalive_seconds="0.05")
    try:
        terminal.wait_received(b"\r\r", timeout=2)
    finally:
        reader.stop()


@pytest.mark.parametrize(
    "junk", [b"*\n", b"*)(uid=*\n", b"9" * 10_240 + b"\n", b"\x00\xff\xfe\x80garbage\n"]
)
def test_junk_is_dropped_and_reading_goes_on(terminal, junk, caplog):
    reader, out = connect_reader(terminal)
    try:
        terminal.swipe(junk + b"0012345678\n")
        assert out.get(timeout=2).value == "0012345678"
        assert out.empty()
        assert reader.health.dropped == 1
        assert "9999999999" not in caplog.text and "uid=*" not in caplog.text
    finally:
        reader.stop()


def test_reconnects_each_time_the_terminal_drops(terminal):
    reader, out = connect_reader(terminal)
    try:
        for n in range(2, 22):
            terminal.drop()
            terminal.wait_connections(n)
            terminal.swipe(f"card{n}")
            assert out.get(timeout=2).value == f"card{n}"
        assert reader.health.failures >= 20
    finally:
        reader.stop()


def test_retries_while_terminal_is_down():
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    out: queue.Queue = queue.Queue()
    reader = make_reader({"host": "127.0.0.1", "port": str(port)}, out)
    reader.start()
    try:
        deadline = time.monotonic() + 2
        while reader.health.failures < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reader.health.state == "retrying"
        assert "cannot connect to terminal" in reader.health.detail
    finally:
        reader.stop()


def test_stop_is_prompt(terminal):
    reader, _ = connect_reader(terminal, keepalive_seconds="60")
    started = time.monotonic()
    reader.stop()
    assert time.monotonic() - started < 1
    assert reader.health.state == "stopped"


def listen_reader(allow: str, out: queue.Queue):
    reader = make_reader({"mode": "listen", "host": "127.0.0.1", "port": "0", "allow": allow}, out)
    reader.start()
    deadline = time.monotonic() + 2
    while reader.bound_port is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return reader


def test_listen_mode_accepts_allowed_terminals():
    out: queue.Queue = queue.Queue()
    reader = listen_reader("127.0.0.0/8", out)
    try:
        with socket.create_connection(("127.0.0.1", reader.bound_port)) as term:
            term.sendall(b"0012345678\n")
            assert out.get(timeout=2).value == "0012345678"
    finally:
        reader.stop()


def test_listen_mode_refuses_others(caplog):
    out: queue.Queue = queue.Queue()
    reader = listen_reader("10.9.9.0/24", out)
    try:
        with socket.create_connection(("127.0.0.1", reader.bound_port)) as term:
            term.sendall(b"0012345678\n")
            term.settimeout(2)
            with contextlib.suppress(ConnectionResetError):  # reset: closed with data unread
                assert term.recv(10) == b""  # closed by the station
        assert out.empty()
        assert "refused terminal from 127.0.0.1" in caplog.text
    finally:
        reader.stop()


def test_bad_settings_are_reported():
    with pytest.raises(SettingsError) as err:
        reader_settings("reader:t", {"type": "papercut", "mode": "dial", "allow": "nonsense"})
    text = str(err.value)
    assert "mode: must be connect or listen" in text
