# SPDX-License-Identifier: GPL-3.0-or-later
"""Card-number conversion steps and chains: tables of examples, then properties."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import readers
from readers.conversion import Chain, Step

CASES = [
    # (chain, raw, expected)
    ("", "  0012345678 ", "0012345678"),
    ("trim", "1234", "1234"),
    ("trim:;?", ";1234?", "1234"),
    ("trim:%", "%%1234%", "1234"),
    ("regex:^0x(.*)$", "0x00BC614E", "00BC614E"),
    ("regex:^0x(.*)$, hex2dec", "0x00BC614E", "12345678"),
    ("regex:[0-9]+", "ID:4711;", "4711"),
    ("regex:(?P<fac>\\d{3}):(?P<card>\\d+)", "123:4567", "4567"),
    ("regex:^(\\d{2,4})$, pad:6", "123", "000123"),
    ("hex2dec", "00BC614E", "12345678"),
    ("hex2dec", "00bc614e", "12345678"),
    ("hex2dec", "0", "0"),
    ("dec2hex", "12345678", "BC614E"),
    ("dec2hex, pad:8", "12345678", "00BC614E"),
    ("reverse_bytes", "4E61BC00", "00BC614E"),
    ("reverse_bytes", "ABC", "BC0A"),
    ("reverse_bytes, hex2dec, pad:10", "4E61BC00", "0012345678"),
    ("pad:10", "12345678", "0012345678"),
    ("pad:4", "12345678", "12345678"),
    ("strip_zeros", "0012345678", "12345678"),
    ("strip_zeros", "0000", "0"),
    ("width:4", "0012345678", "5678"),
    ("width:12", "0012345678", "0012345678"),
    ("prefix:FAC", "FAC123", "123"),
    ("prefix:FAC", "123", "123"),
    ("suffix:X", "123X", "123"),
    ("suffix:X", "123", "123"),
    ("upper", "00bc614e", "00BC614E"),
    ("lower", "00BC614E", "00bc614e"),
    ("HEX2DEC , Pad:10", "FF", "0000000255"),
]

FAILS = [
    ("hex2dec", "12G4"),
    ("hex2dec", "0x12"),
    ("dec2hex", "12A"),
    ("dec2hex", "-5"),
    ("dec2hex", "١٢٣"),  # Arabic-Indic digits are digits to Python, not to a card reader
    ("reverse_bytes", "XYZ"),
    ("regex:^0x(.*)$", "00BC614E"),
    ("regex:^0x(.*)$", "0x"),
    ("prefix:ABC", "ABC"),
    ("hex2dec", "   "),
    ("", ""),
    ("hex2dec", "F" * 300),
    ("bits:1:16", "12G4"),
]

BAD_SPECS = [
    ("hexdec", "unknown conversion step 'hexdec' (did you mean 'hex2dec'?)"),
    ("pad", "pad: needs an argument"),
    ("pad:x", "pad: needs a whole number"),
    ("pad:0", "pad:0: must be between 1 and 256"),
    ("width:-1", "width:-1: must be between"),
    ("bits:1", "bits: needs OFFSET:LENGTH"),
    ("bits:0:0", "bits:0:0: offset or length out of range"),
    ("hex2dec:4", "hex2dec: takes no argument"),
    ("prefix:", "prefix: needs an argument"),
    ("regex:([0-9]", "regex:([0-9]:"),
]


@pytest.mark.parametrize(("spec", "raw", "expected"), CASES)
def test_chain_converts(spec, raw, expected):
    assert Chain.parse(spec).apply(raw) == expected


@pytest.mark.parametrize(("spec", "raw"), FAILS)
def test_value_a_step_cannot_handle_gives_none(spec, raw):
    assert Chain.parse(spec).apply(raw) is None


@pytest.mark.parametrize(("spec", "message"), BAD_SPECS)
def test_bad_spec_names_the_step(spec, message):
    with pytest.raises(ValueError, match=None) as info:
        Chain.parse(spec)
    assert message in str(info.value)


def test_reader_settings_report_a_bad_chain_with_section_and_key():
    with pytest.raises(readers.SettingsError) as info:
        readers.reader_settings(
            "reader:door", {"type": "serial", "port": "/dev/ttyS0", "convert": "hex2dex"}
        )
    assert info.value.problems == [
        "[reader:door] convert: unknown conversion step 'hex2dex' (did you mean 'hex2dec'?)"
    ]


def test_spec_text_round_trips():
    spec = "regex:^0x(.{2,8})$, reverse_bytes, hex2dec, pad:10, prefix:00"
    chain = Chain.parse(spec)
    assert str(chain) == spec
    assert len(chain) == 5
    assert [s.name for s in chain.steps] == ["regex", "reverse_bytes", "hex2dec", "pad", "prefix"]


def h10301(facility: int, card: int) -> int:
    """The 26 bits of a HID Prox H10301 card: even parity, 8-bit facility, 16-bit card, odd."""
    data = facility << 16 | card
    even = bin(data >> 12).count("1") % 2
    odd = 1 - bin(data & 0xFFF).count("1") % 2
    return even << 25 | data << 1 | odd


@pytest.mark.parametrize(
    ("reader_sends", "spec"),
    [
        ("2F623AE", "bits:1:16"),  # hex of all 26 bits, parity included
        ("7B11D7", "width:4, hex2dec"),  # hex of the 24 data bits: facility 7B, card 11D7
        ("8065495", "dec2hex, width:4, hex2dec"),  # decimal of the 24 data bits
        ("04567", "strip_zeros"),  # decimal card number, zero-padded
    ],
)
def test_hid_prox_26_bit_card_read_four_ways_gives_one_number(reader_sends, spec):
    # The worked example of docs/readers.md: facility 123, card 4567.
    assert format(h10301(123, 4567), "X") == "2F623AE"
    assert Chain.parse(spec).apply(reader_sends) == "4567"
    assert Chain.parse("bits:17:8").apply("2F623AE") == "123"


hex_text = st.text("0123456789ABCDEF", min_size=1, max_size=24)
dec_text = st.from_regex(r"[1-9][0-9]{0,20}", fullmatch=True)


@given(dec_text)
def test_dec2hex_then_hex2dec_is_identity(number):
    assert Chain.parse("dec2hex, hex2dec").apply(number) == number


@given(hex_text)
def test_hex2dec_then_dec2hex_loses_only_leading_zeros(value):
    assert Chain.parse("hex2dec, dec2hex").apply(value) == (value.lstrip("0") or "0")


@given(hex_text.filter(lambda v: len(v) % 2 == 0))
def test_reverse_bytes_twice_is_identity(value):
    assert Chain.parse("reverse_bytes, reverse_bytes").apply(value) == value


@given(hex_text)
def test_reverse_bytes_keeps_the_number_of_bytes(value):
    result = Chain.parse("reverse_bytes").apply(value)
    assert result is not None and len(result) == len(value) + len(value) % 2


@given(st.text("0123456789", min_size=1, max_size=30), st.integers(1, 40))
def test_pad_then_strip_zeros_is_strip_zeros(value, width):
    padded = Chain.parse(f"pad:{width}").apply(value)
    assert padded is not None and len(padded) == max(width, len(value))
    assert Chain.parse("strip_zeros").apply(padded) == Chain.parse("strip_zeros").apply(value)


@given(st.text("0123456789ABCDEF", min_size=1, max_size=30), st.integers(1, 40))
def test_width_keeps_the_tail(value, width):
    kept = Chain.parse(f"width:{width}").apply(value)
    assert kept == value[-width:]


@given(st.text(min_size=0, max_size=40))
def test_apply_never_raises_and_never_returns_empty(value):
    for spec in ("hex2dec", "dec2hex", "reverse_bytes", "strip_zeros", "regex:(\\d+)", ""):
        result = Chain.parse(spec).apply(value)
        assert result is None or (isinstance(result, str) and result)


step_text = st.sampled_from(
    ["trim", "hex2dec", "dec2hex", "reverse_bytes", "strip_zeros", "upper", "lower", "pad:10",
     "width:8", "prefix:0x", "suffix:X", "regex:^(\\d{1,3},?\\d*)$"]
)  # fmt: skip


@given(st.lists(step_text, max_size=5), st.text("0123456789abcdefx", max_size=12))
def test_parse_of_str_is_the_same_chain(steps, value):
    chain = Chain.parse(", ".join(steps))
    again = Chain.parse(str(chain))
    assert again == chain
    assert again.apply(value) == chain.apply(value)


def test_steps_compare_by_name_and_argument():
    assert Step.parse("pad:10") == Step.parse(" PAD : 10 ")
    assert Step.parse("pad:10") != Step.parse("pad:8")


def doc_examples(heading: str) -> list[list[str]]:
    """The first backticked value of each cell of the table under `heading` in the docs."""
    text = (Path(__file__).parent.parent / "docs" / "readers.md").read_text()
    section = text.split(heading, 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[first_code(cell) for cell in row.strip("|").split("|")] for row in rows]


def first_code(cell: str) -> str:
    found = re.findall(r"`([^`]*)`", cell)
    return found[0] if found else ""


def test_the_documented_examples_hold():
    more = doc_examples("### More examples")
    worked = doc_examples("### Worked example")
    assert len(more) == 5 and len(worked) == 4
    for sent, held, spec in more:
        assert Chain.parse(spec).apply(sent) == held, spec
    for sent, _, spec in worked:
        assert Chain.parse(spec).apply(sent) == "4567", spec
