# SPDX-License-Identifier: GPL-3.0-or-later
"""`readers learn`: finding a conversion chain from (sent, held) pairs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readers import cli
from readers.conversion import Chain
from readers.learn import learn, parse_pair

CARDS = [12345678, 123456789, 1, 4711, 305419896]


def pairs_for(spec: str, raws: list[str]) -> list[tuple[str, str]]:
    chain = Chain.parse(spec)
    return [(raw, chain.apply(raw) or "") for raw in raws]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        # byte-reversed hex UID -> decimal
        ([("4E61BC00", "12345678"), ("15CD5B07", "123456789"), ("01000000", "1")],
         "reverse_bytes, hex2dec"),
        # hex with a 0x prefix -> decimal
        ([("0x00BC614E", "12345678"), ("0x075BCD15", "123456789"), ("0x00001267", "4711")],
         "prefix:0x, hex2dec"),
        # decimal -> zero-padded hex as the directory holds it
        ([("12345678", "00BC614E"), ("123456789", "075BCD15"), ("4711", "00001267")],
         "dec2hex, pad:8"),
        # already equal: the empty chain
        ([("1234", "1234"), ("5678", "5678"), ("0001", "0001")], ""),
        # decimal, padded to ten digits
        ([("12345678", "0012345678"), ("1", "0000000001"), ("4711", "0000004711")], "pad:10"),
        # lower-case hex, reversed, as upper case
        ([("4e61bc00", "00BC614E"), ("15cd5b07", "075BCD15"), ("01000000", "00000001")],
         "reverse_bytes, upper"),
    ],
)  # fmt: skip
def test_learn_finds_the_shortest_chain(pairs, expected):
    chain = learn(pairs)
    assert chain is not None
    assert str(chain) == expected
    for raw, want in pairs:
        assert chain.apply(raw) == want


def test_learn_says_none_when_no_chain_fits():
    assert learn([("4E61BC00", "99"), ("15CD5B07", "123456789"), ("01000000", "1")]) is None
    assert learn([("1", "2"), ("2", "3"), ("3", "4")]) is None


def test_learn_needs_three_pairs():
    with pytest.raises(ValueError, match="at least 3 pairs"):
        learn([("1", "1"), ("2", "2")])


def test_a_longer_chain_is_found_within_the_step_limit():
    pairs = pairs_for("prefix:ID, reverse_bytes, hex2dec, pad:10", ["ID4E61BC00", "ID15CD5B07",
                                                                     "ID01000000"])  # fmt: skip
    chain = learn(pairs)
    assert chain is not None and len(chain) == 4
    assert all(chain.apply(raw) == want for raw, want in pairs)
    assert learn(pairs, max_steps=3) is None


uid = st.integers(min_value=1, max_value=2**32 - 1)


@settings(max_examples=40, deadline=None)
@given(st.lists(uid, min_size=3, max_size=6, unique=True))
def test_learned_chain_maps_every_byte_reversed_pair(numbers):
    raws = [format(n, "08X") for n in numbers]
    pairs = pairs_for("reverse_bytes, hex2dec", raws)
    chain = learn(pairs)
    assert chain is not None and len(chain) <= 2
    assert all(chain.apply(raw) == want for raw, want in pairs)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(uid, min_size=3, max_size=6, unique=True),
    st.sampled_from(
        ["hex2dec", "dec2hex", "hex2dec, pad:10", "reverse_bytes", "lower", "strip_zeros",
         "prefix:0x, hex2dec", "dec2hex, reverse_bytes"]
    ),
    st.booleans(),
)  # fmt: skip
def test_learned_chain_is_no_longer_than_the_one_used(numbers, spec, decimal):
    prefix = "0x" if spec.startswith("prefix") else ""
    raws = [prefix + (str(n) if decimal else format(n, "08X")) for n in numbers]
    pairs = pairs_for(spec, raws)
    if any(not want for _, want in pairs):
        return  # the spec does not apply to these raws (hex into dec2hex)
    chain = learn(pairs)
    assert chain is not None
    assert len(chain) <= len(Chain.parse(spec))
    assert all(chain.apply(raw) == want for raw, want in pairs)


def test_parse_pair():
    assert parse_pair(" 0x00BC614E = 12345678 ") == ("0x00BC614E", "12345678")
    with pytest.raises(ValueError, match="RAW=WANTED"):
        parse_pair("0x00BC614E")


def test_cli_learn_prints_the_chain(capsys):
    code = cli.main(["learn", "4E61BC00=12345678", "15CD5B07=123456789", "01000000=1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "convert = reverse_bytes, hex2dec" in out


def test_cli_learn_says_when_no_chain_fits(capsys):
    code = cli.main(["learn", "1=2", "2=3", "3=4"])
    captured = capsys.readouterr()
    assert code == 1
    assert "no chain of up to 5 steps" in captured.err
    assert captured.out == ""


def test_cli_learn_reads_pairs_from_a_file(tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("# sent  held\n0x00BC614E 12345678\n0x075BCD15 123456789\n0x00001267 4711\n")
    assert cli.main(["learn", "--file", str(pairs)]) == 0
    assert "convert = prefix:0x, hex2dec" in capsys.readouterr().out


def test_cli_learn_refuses_too_few_pairs(capsys):
    assert cli.main(["learn", "1=1", "2=2"]) == 2
    assert "at least 3 pairs" in capsys.readouterr().err
