# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTTP reader, answered by real HTTP(S) requests from urllib and http.client."""

from __future__ import annotations

import http.client
import logging
import os
import queue
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import readers
from readers.http import HttpReader
from readers.settings import shown
from tests.waiting import wait_for

TOKEN = "s3cret-Tok3n"
CARD = "0012345678"


def start(run_reader, **values):
    section = {"type": "http", "host": "127.0.0.1", "port": "0", "allow": "127.0.0.1"}
    section |= {"token": TOKEN, **values}
    reader, swipes = run_reader("net", section)
    assert wait_for(lambda: reader.bound_port is not None or reader.health.failures > 0)
    return reader, swipes


def get(reader, path: str, headers=None, scheme="http", context=None) -> tuple[int, str]:
    url = f"{scheme}://127.0.0.1:{reader.bound_port}{path}"
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def query(**fields: str) -> str:
    return "/swipe?" + urllib.parse.urlencode(fields)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def test_card_and_token_in_the_query(run_reader, logs):
    reader, swipes = start(run_reader, convert="strip_zeros")
    assert get(reader, query(card=CARD, token=TOKEN)) == (200, "OK\n")
    swipe = swipes.next()
    assert (swipe.reader, swipe.value, swipe.raw, swipe.kind) == ("net", "12345678", CARD, "card")
    assert TOKEN not in logs.text and CARD not in logs.text  # not even at debug level


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (query(id=CARD), {"X-Reader-Token": TOKEN}),
        (query(badge=CARD), {"Authorization": f"Bearer {TOKEN}"}),
        (query(data=CARD, token="wrong"), {"X-Reader-Token": TOKEN}),  # the header wins
    ],
)
def test_card_field_names_and_token_headers(run_reader, path, headers):
    reader, swipes = start(run_reader)
    assert get(reader, path, headers) == (200, "OK\n")
    assert swipes.next().value == CARD


def test_post_form_and_plain_body(run_reader):
    reader, swipes = start(run_reader)
    url = f"http://127.0.0.1:{reader.bound_port}/swipe"
    form = urllib.parse.urlencode({"card": "4711", "token": TOKEN}).encode()
    with urllib.request.urlopen(url, data=form, timeout=5) as response:
        assert response.status == 200
    plain = urllib.request.Request(
        url, data=b"4712\r\n", headers={"Content-Type": "text/plain", "X-Reader-Token": TOKEN}
    )
    with urllib.request.urlopen(plain, timeout=5) as response:
        assert response.status == 200
    assert [swipes.next().value, swipes.next().value] == ["4711", "4712"]


def test_post_with_a_bad_length_gets_an_answer(run_reader):
    reader, swipes = start(run_reader)
    conn = http.client.HTTPConnection("127.0.0.1", reader.bound_port, timeout=5)
    try:
        conn.putrequest("POST", "/swipe")
        conn.putheader("Content-Length", "lots")
        conn.putheader("X-Reader-Token", TOKEN)
        conn.endheaders()
        assert conn.getresponse().status == 400
    finally:
        conn.close()
    with pytest.raises(queue.Empty):
        swipes.next(timeout=0.05)


def test_configured_card_field_and_path(run_reader):
    reader, swipes = start(run_reader, path="/rfideas", card_params="tag")
    assert get(reader, "/rfideas?" + urllib.parse.urlencode({"tag": "9", "token": TOKEN}))[0] == 200
    assert get(reader, query(card="9", token=TOKEN))[0] == 404
    assert swipes.next().value == "9"


@pytest.mark.parametrize(
    ("path", "headers", "code", "logged"),
    [
        (query(card=CARD, token="wrong"), {}, 403, "wrong token"),
        (query(card=CARD), {}, 403, "missing token"),
        (query(card=CARD), {"X-Reader-Token": TOKEN[:-1]}, 403, "wrong token"),
        (query(card=CARD), {"Authorization": "Basic eDp5"}, 403, "missing token"),
        ("/other?" + urllib.parse.urlencode({"card": CARD, "token": TOKEN}), {}, 404, ""),
        (query(token=TOKEN), {}, 400, "without a card"),
        (query(card="12 34;DROP", token=TOKEN), {}, 400, "not a card number"),
    ],
)
def test_refusals(run_reader, logs, path, headers, code, logged):
    reader, swipes = start(run_reader)
    assert get(reader, path, headers)[0] == code
    assert logged in logs.text
    assert TOKEN not in logs.text and TOKEN[:-1] not in logs.text
    with pytest.raises(queue.Empty):
        swipes.next(timeout=0.05)
    assert reader.refused == (1 if code == 403 else 0)


def test_address_outside_the_allow_list_is_refused(run_reader, logs):
    reader, swipes = start(run_reader, allow="10.0.0.0/8, 192.168.7.7")
    assert get(reader, query(card=CARD, token=TOKEN))[0] == 403
    assert "refused request from 127.0.0.1: address not in allow" in logs.text
    with pytest.raises(queue.Empty):
        swipes.next(timeout=0.05)


def test_foreign_source_address_is_refused(run_reader, logs):
    reader, swipes = start(run_reader, host="0.0.0.0", allow="127.0.0.1/32")
    conn = http.client.HTTPConnection(
        "127.0.0.1", reader.bound_port, timeout=5, source_address=("127.0.0.2", 0)
    )
    try:
        conn.request("GET", query(card=CARD, token=TOKEN))
        assert conn.getresponse().status == 403
    finally:
        conn.close()
    assert "refused request from 127.0.0.2" in logs.text
    assert get(reader, query(card=CARD, token=TOKEN))[0] == 200  # 127.0.0.1 is allowed
    assert swipes.next().value == CARD


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "station.crt", folder / "station.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_with_a_validated_certificate(run_reader, certificate):
    cert, key = certificate
    reader, swipes = start(run_reader, cert_file=str(cert), key_file=str(key))
    assert "https" in reader.health.detail
    context = ssl.create_default_context(cafile=str(cert))  # validation on, hostname checked
    assert get(reader, query(card=CARD, token=TOKEN), scheme="https", context=context)[0] == 200
    assert swipes.next().value == CARD
    with pytest.raises(urllib.error.URLError):  # an unknown certificate is refused by clients
        get(reader, query(card=CARD, token=TOKEN), scheme="https")
    with pytest.raises((http.client.HTTPException, OSError)):  # plain HTTP gets no answer
        get(reader, query(card=CARD, token=TOKEN))
    assert get(reader, query(card="77", token=TOKEN), scheme="https", context=context)[0] == 200
    assert swipes.next().value == "77"


def test_token_file_must_be_private(run_reader, tmp_path):
    token_file = tmp_path / "net.token"
    token_file.write_text(TOKEN + "\n")
    os.chmod(token_file, 0o644)
    reader, _ = start(run_reader, token="", token_file=str(token_file))
    assert wait_for(lambda: reader.health.failures > 0)
    assert "readable by others; chmod 600" in reader.health.detail
    reader.stop()
    os.chmod(token_file, 0o600)
    reader, swipes = start(run_reader, token="", token_file=str(token_file))
    assert get(reader, query(card=CARD, token=TOKEN))[0] == 200
    assert swipes.next().value == CARD


def test_connections_beyond_the_cap_are_closed_at_once(run_reader, logs, monkeypatch):
    monkeypatch.setattr(readers.http, "MAX_CLIENTS", 2)
    reader, swipes = start(run_reader)
    address = ("127.0.0.1", reader.bound_port)
    idle = [socket.create_connection(address, timeout=5) for _ in range(2)]  # send nothing
    try:
        with socket.create_connection(address, timeout=5) as extra:
            started = time.monotonic()
            assert extra.recv(1) == b"", "closed without an answer"
            assert time.monotonic() - started < readers.http.HANDSHAKE_SECONDS / 2
        assert reader.turned_away == 1
        assert "2 requests in hand; closing new connections" in logs.text
    finally:
        for conn in idle:
            conn.close()

    def swiped() -> bool:  # once the idle connections' threads are done
        try:
            return get(reader, query(card=CARD, token=TOKEN))[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    assert wait_for(swiped, 5)
    assert swipes.next().value == CARD


def test_stop_is_prompt_and_frees_the_port(run_reader):
    reader, _ = start(run_reader)
    port = reader.bound_port
    began = time.monotonic()
    reader.stop()
    assert time.monotonic() - began < 0.5
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/swipe", timeout=2)


def test_token_is_a_secret_in_shown_settings():
    settings = readers.reader_settings(
        "reader:net", {"type": "http", "token": TOKEN, "allow": "10.1.2.3"}
    )
    assert shown(settings)["token"] == "********"
    assert isinstance(readers.build_reader("net", settings, print), HttpReader)


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"allow": "10.0.0.1"}, "token, token_file: give exactly one"),
        ({"allow": "10.0.0.1", "token": "a", "token_file": "/x"}, "token, token_file"),
        ({"token": "a"}, "allow: list the addresses"),
        ({"token": "a", "allow": "10.0.0.300"}, "allow: '10.0.0.300' is not an address"),
        ({"token": "a", "allow": "10.0.0.1", "cert_file": "/c"}, "cert_file, key_file"),
        ({"token": "a", "allow": "10.0.0.1", "port": "70000"}, "port: 70000 is not a TCP port"),
        ({"token": "a", "allow": "10.0.0.1", "path": "swipe"}, "path: must start with /"),
    ],
)
def test_settings_are_checked(values, problem):
    with pytest.raises(readers.SettingsError) as info:
        readers.reader_settings("reader:net", {"type": "http", **values})
    assert problem in str(info.value)
