# SPDX-License-Identifier: GPL-3.0-or-later
"""Line framing and the card-number plausibility check, as plain data."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readers.framing import LineFramer, decode_line, plausible_card
from readers.swipe import Swipe, mask


def test_lines_split_on_cr_and_lf_and_skip_empty():
    f = LineFramer()
    assert f.feed(b"001\n002\r\n\r\n\n003\r") == [b"001", b"002", b"003"]


def test_partial_lines_wait_for_their_terminator():
    f = LineFramer()
    assert f.feed(b"0012") == []
    assert f.feed(b"345\n") == [b"0012345"]


def test_overlong_line_is_dropped_whole():
    f = LineFramer(max_len=16)
    assert f.feed(b"9" * 10_000 + b"\n42\n") == [b"42"]
    assert f.overruns == 1


@pytest.mark.parametrize("line", [b"*", b"*)(uid=*", b"\xff\xfe", b"12 34", b"a" * 65, b"\x00"])
def test_implausible_card_numbers_are_refused(line):
    assert decode_line(line) is None


@given(st.binary(max_size=300))
def test_framer_never_yields_terminators_or_overlong(data):
    f = LineFramer(max_len=64)
    for line in f.feed(data):
        assert b"\n" not in line and b"\r" not in line
        assert 0 < len(line) <= 64


@given(st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=64))
def test_hex_and_digits_are_plausible(text):
    assert plausible_card(text)


def test_swipe_never_shows_its_value():
    s = Swipe(reader="door", value="0012345678")
    assert "0012345678" not in repr(s) and "0012345678" not in str(s)
    assert s.masked() == "******5678"
    assert mask("1234") == "**34"
    assert mask("") == "<empty>"


def test_a_pin_shows_nothing_of_itself():
    s = Swipe(reader="pad", value="97531", kind="pin")
    assert s.masked() == "<pin>"
    assert "31" not in repr(s) and "97531" not in str(s)
