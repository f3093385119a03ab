# SPDX-License-Identifier: GPL-3.0-or-later
"""The IPP answer decoder, strict: each malformed case with plain data, then fuzzed.

The fuzzing starts from real answers captured from the private cupsd (held jobs with every
attribute cupsd has, a printer with all of its own) and from hand-built ones holding what
cupsd seldom sends (collections, textWithLanguage). Whatever comes in, the decoder returns
groups or raises IppDecodeError naming the offset: anything else escaping is a bug.
"""

from __future__ import annotations

import getpass
import struct
import time
import tracemalloc
from collections.abc import Iterator

import cups
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from releasestation.demo.private_cups import PrivateCups
from releasestation.errors import PrintServerError
from releasestation.printq import ipp
from releasestation.printq.index import FAILURES
from releasestation.printq.jobs import printer_uri

HEAD = bytes([2, 0, 0, 0, 0, 0, 0, 1])  # IPP/2.0, successful-ok, request id 1
OPERATION, JOB, PRINTER, END = b"\x01", b"\x02", b"\x04", b"\x03"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def attr(tag: int, name: str, value: bytes) -> bytes:
    """One attribute (or, with an empty name, one more value) as IPP puts it on the wire."""
    raw = name.encode()
    return bytes([tag]) + struct.pack(">H", len(raw)) + raw + struct.pack(">H", len(value)) + value


def integer(tag: int, name: str, number: int) -> bytes:
    return attr(tag, name, number.to_bytes(4, "big", signed=True))


def text(name: str, value: str, tag: int = 0x42) -> bytes:
    return attr(tag, name, value.encode())


JOB_ANSWER = (
    HEAD
    + OPERATION
    + text("attributes-charset", "utf-8", 0x47)
    + text("attributes-natural-language", "en", 0x48)
    + JOB
    + integer(0x21, "job-id", 42)
    + text("job-originating-user-name", "alice")
    + integer(0x23, "job-state", 4)
    + attr(0x22, "job-preserved", b"\x01")
    + END
)
MEDIA_COL = (
    attr(0x34, "media-col-default", b"")
    + attr(0x4A, "", b"media-size")
    + attr(0x34, "", b"")
    + attr(0x4A, "", b"x-dimension")
    + integer(0x21, "", 21000)
    + attr(0x4A, "", b"y-dimension")
    + integer(0x21, "", 29700)
    + attr(0x37, "", b"")
    + attr(0x4A, "", b"media-type")
    + text("", "plain", 0x44)
    + text("", "glossy", 0x44)
    + attr(0x37, "", b"")
    + attr(0x34, "", b"")  # a second, empty, collection: one more value of the attribute
    + attr(0x37, "", b"")
)
PRINTER_ANSWER = (
    HEAD
    + PRINTER
    + MEDIA_COL
    + attr(0x35, "printer-info", b"\x00\x02fr\x00\x05caf\xc3\xa9")
    + attr(0x13, "printer-geo-location", b"")
    + attr(0x33, "copies-supported", bytes([0, 0, 0, 1, 0, 0, 0, 99]))
    + text("printer-state-reasons", "none", 0x44)
    + text("", "paused", 0x44)
    + END
)


def decode_error(data: bytes) -> ipp.IppDecodeError:
    with pytest.raises(ipp.IppDecodeError) as caught:
        ipp._decode(data)
    return caught.value


# -- well-formed answers ------------------------------------------------------------------


def test_a_well_formed_answer():
    assert ipp._decode(JOB_ANSWER) == [
        (1, {"attributes-charset": "utf-8", "attributes-natural-language": "en"}),
        (2, {"job-id": 42, "job-originating-user-name": "alice", "job-state": 4,
             "job-preserved": True}),
    ]  # fmt: skip


def test_collections_language_out_of_band_and_additional_values():
    [(tag, printer)] = ipp._decode(PRINTER_ANSWER)
    assert tag == 4
    assert printer == {
        "media-col-default": [
            {"media-size": {"x-dimension": 21000, "y-dimension": 29700},
             "media-type": ["plain", "glossy"]},
            {},
        ],
        "printer-info": "café",
        "printer-geo-location": None,
        "copies-supported": bytes([0, 0, 0, 1, 0, 0, 0, 99]),
        "printer-state-reasons": ["none", "paused"],
    }  # fmt: skip


def test_text_that_is_not_utf8_is_kept_with_replacement_characters():
    answer = HEAD + JOB + attr(0x42, "job-name", b"r\xe9sum\xe9") + END
    assert ipp._decode(answer) == [(2, {"job-name": "r\ufffdsum\ufffd"})]


def test_empty_groups_are_left_out():
    answer = HEAD + OPERATION + JOB + JOB + integer(0x21, "job-id", 7) + JOB + END
    assert ipp._decode(answer) == [(2, {"job-id": 7})]


def test_an_error_status_is_an_ipp_error_with_cupsd_s_message():
    answer = HEAD[:2] + b"\x04\x06" + HEAD[4:] + OPERATION
    answer += attr(0x41, "status-message", b"The printer or class does not exist.") + END
    with pytest.raises(ipp.IppError, match="does not exist") as caught:
        ipp._decode(answer)
    assert caught.value.status == ipp.NOT_FOUND
    assert not isinstance(caught.value, ipp.IppDecodeError)


def test_many_additional_values_take_linear_time():
    answer = HEAD + JOB + integer(0x21, "job-ids", 0) + integer(0x21, "", 1) * 200_000 + END
    began = time.perf_counter()
    [(_, attrs)] = ipp._decode(answer)
    assert len(attrs["job-ids"]) == 200_001
    assert time.perf_counter() - began < 5  # quadratic copying took minutes


# -- malformed answers, one case each ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem", "offset"),
    [
        (HEAD[:5], "header cut short (5 of 8 bytes)", 0),
        (b"<!DOCTYPE html>", "not an IPP answer (version 60.33)", 0),
        (HEAD, "no end-of-attributes tag", 8),
        (JOB_ANSWER[:-1], "no end-of-attributes tag", len(JOB_ANSWER) - 1),
        (HEAD + JOB + b"\x21\x00", "name-length cut short (1 of 2 bytes)", 10),
        (HEAD + JOB + b"\x21\x00\x06job", "name of 6 bytes with 3 left", 10),
        (HEAD + JOB + b"\x21\x00\x06job-id\x00", "value-length of 'job-id' cut short", 18),
        (HEAD + JOB + b"\x21\x00\x06job-id\x00\x04\x00\x00", "value of 'job-id' of 4 bytes "
         "with 2 left", 18),
        (HEAD + JOB + attr(0x21, "job-id", b"\x00\x00\x2a") + END, "'job-id': integer value of "
         "3 bytes, not 4", 18),
        (HEAD + JOB + attr(0x23, "job-state", b"\x00\x04") + END, "enum value of 2 bytes", 21),
        (HEAD + JOB + attr(0x22, "b", b"\x00\x01") + END, "boolean value of 2 bytes, not 1", 13),
        (HEAD + JOB + attr(0x22, "b", b"\x02") + END, "boolean value 2, not 0 or 1", 13),
        (HEAD + JOB + attr(0x31, "d", b"\x07") + END, "dateTime value of 1 bytes, not 11", 13),
        (HEAD + JOB + attr(0x35, "t", b"\x00\x09en\x00\x01x") + END, "language of 9 bytes", 13),
        (HEAD + JOB + attr(0x35, "t", b"\x00\x02en\x00\x09x") + END, "text of 9 bytes where 1",
         13),
        (HEAD + JOB + integer(0x21, "", 1) + END, "additional value with no attribute", 9),
        (HEAD + integer(0x21, "job-id", 1) + END, "value tag 0x21 before any group tag", 8),
        (JOB_ANSWER + b"\x00", "1 bytes after the end-of-attributes tag", len(JOB_ANSWER)),
        (HEAD + b"\x00" + END, "unknown group tag 0x00", 8),
        (HEAD + b"\x0f" + END, "unknown group tag 0x0f", 8),
        (HEAD + JOB + attr(0x7F, "x", b"") + END, "extension value tag (0x7f)", 9),
        (HEAD + JOB + attr(0x4A, "", b"m") + END, "value tag 0x4a outside a collection", 9),
        (HEAD + JOB + attr(0x37, "", b"") + END, "value tag 0x37 outside a collection", 9),
        (HEAD + JOB + attr(0x34, "c", b"") + END, "collection 'c' not closed", 15),
        (HEAD + JOB + attr(0x34, "c", b"") + integer(0x21, "", 1) + attr(0x37, "", b"") + END,
         "collection value before any member name", 15),
        (HEAD + JOB + attr(0x34, "c", b"") + attr(0x4A, "", b"m") + attr(0x37, "", b"") + END,
         "member 'm' with no value", 21),
        (HEAD + JOB + attr(0x34, "c", b"") + attr(0x4A, "", b"") + END, "empty member name",
         15),
        (HEAD + JOB + attr(0x34, "c", b"") + integer(0x21, "x", 1) + END, "attribute 'x' "
         "inside collection", 15),
    ],
)  # fmt: skip
def test_malformed_answers_name_what_was_wrong_and_where(data, problem, offset):
    error = decode_error(data)
    assert problem in error.problem
    assert error.offset == offset
    assert f"at offset {offset}" in str(error)
    assert error.status == ipp.DECODE_FAILED


def test_collections_nest_only_so_deep():
    level = attr(0x4A, "", b"m") + attr(0x34, "", b"")
    closing = attr(0x37, "", b"")
    ok = HEAD + JOB + attr(0x34, "c", b"") + level * 9 + closing * 10 + END
    assert ipp._decode(ok)
    deep = HEAD + JOB + attr(0x34, "c", b"") + level * 10 + closing * 11 + END
    assert "nested more than 10 deep" in decode_error(deep).problem


def test_a_length_claiming_more_than_is_left_fails_without_allocating():
    answer = HEAD + JOB + b"\x21\x00\x06job-id\xea\x60" + b"x" * 10  # a 60 KB value
    tracemalloc.start()
    try:
        error = decode_error(answer)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "60000 bytes with 10 left" in error.problem
    assert peak < 8192


def test_the_decode_error_is_one_every_caller_handles():
    assert issubclass(ipp.IppDecodeError, ipp.IppError)  # the print server and the index
    assert issubclass(ipp.IppDecodeError, PrintServerError)  # anything above printq
    assert issubclass(ipp.IppDecodeError, FAILURES)
    assert ipp.DECODE_FAILED != ipp.NOT_FOUND  # never taken for "no such job"


# -- fuzzing ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def answers(cupsd: PrivateCups) -> Iterator[list[bytes]]:
    """Real answers of the private cupsd: held jobs with all their attributes (owners and
    names with non-ASCII letters), a hold queue's printer attributes; and the built ones."""
    cupsd.reset()  # only these jobs, whatever tests before left held
    for owner, title in (("alice", "Rapport d'été.pdf"), ("CORP\\bob", "x"), ("zoë", "ü")):
        cupsd.submit(owner, title)
    client = ipp.IppClient(cupsd.socket, timeout=5)
    station = getpass.getuser()

    def raw(operation: int, *attributes: tuple[int, str, ipp.Value]) -> bytes:
        head = [(cups.IPP_TAG_URI, "printer-uri", printer_uri("Secure")),
                (cups.IPP_TAG_NAME, "requesting-user-name", station)]  # fmt: skip
        return client._post(ipp._encode(operation, [*head, *attributes]))

    try:
        jobs = raw(cups.IPP_OP_GET_JOBS, (cups.IPP_TAG_KEYWORD, "requested-attributes", "all"))
        printer = raw(cups.IPP_OP_GET_PRINTER_ATTRIBUTES)
    finally:
        client.close()
        cupsd.reset()
    yield [jobs, printer, JOB_ANSWER, PRINTER_ANSWER]


def test_the_real_answers_decode(answers):
    jobs, printer = ipp._decode(answers[0]), ipp._decode(answers[1])
    owners = {a["job-originating-user-name"] for a in ipp.groups_of(jobs, cups.IPP_TAG_JOB)}
    assert owners == {"alice", "CORP\\bob", "zoë"}
    assert ipp.groups_of(printer, cups.IPP_TAG_PRINTER)[0]["printer-name"] == "Secure"


def decodes_or_says_why(data: bytes) -> None:
    """The decoder's whole contract: groups, or IppDecodeError (IppError for a status)."""
    try:
        ipp._decode(data)
    except ipp.IppDecodeError as exc:
        assert 0 <= exc.offset <= len(data)
    except ipp.IppError as exc:
        assert exc.status > ipp.OK_LIMIT


@FUZZ
@given(st.data())
def test_every_truncation_of_a_real_answer_is_refused(answers, data):
    answer = data.draw(st.sampled_from(answers))
    cut = data.draw(st.integers(0, len(answer) - 1))
    decode_error(answer[:cut])


@FUZZ
@given(st.data())
def test_mutated_answers_decode_or_raise_the_decoder_s_error(answers, data):
    answer = bytearray(data.draw(st.sampled_from(answers)))
    for _ in range(data.draw(st.integers(1, 4))):
        if not answer:
            break
        at = data.draw(st.integers(0, len(answer) - 1))
        kind = data.draw(st.sampled_from(["flip", "byte", "length", "insert", "delete"]))
        if kind == "flip":
            answer[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "byte":
            answer[at] = data.draw(st.integers(0, 255))
        elif kind == "length":  # a length field claiming anything up to 64 KiB
            answer[at : at + 2] = data.draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
        elif kind == "insert":
            answer[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del answer[at : at + data.draw(st.integers(1, 8))]
    decodes_or_says_why(bytes(answer))


@FUZZ
@given(st.binary(max_size=64))
def test_random_bytes_after_a_valid_header_decode_or_raise_the_decoder_s_error(tail):
    decodes_or_says_why(HEAD + tail)
    decodes_or_says_why(tail)
