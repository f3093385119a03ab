# SPDX-License-Identifier: GPL-3.0-or-later
"""Find a conversion chain from examples: what a reader sent, and what the directory holds.

Given three or more pairs, `learn()` searches chains of conversion steps breadth first, so
the first chain found is one of the shortest that maps every pair. Arguments are taken from
the examples themselves: `pad:N` and `width:N` for the lengths of the wanted values,
`prefix:`/`suffix:` for text that every current value shares. Two chains that produce the
same values for every example are the same state, so the search stays small.

    >>> str(learn([("4E61BC00", "12345678"), ("15CD5B07", "123456789"), ("01000000", "1")]))
    'reverse_bytes, hex2dec'

Regex steps are never guessed: write those by hand (see docs/readers.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from readers.conversion import Chain, Step
from readers.framing import plausible_card

MIN_PAIRS = 3
MAX_AFFIX = 8  # longest prefix or suffix tried

# Steps without arguments, in the order a person would reach for them.
PLAIN = ("hex2dec", "dec2hex", "reverse_bytes", "strip_zeros", "upper", "lower")

Values = tuple[str, ...]


def learn(pairs: Sequence[tuple[str, str]], max_steps: int = 5) -> Chain | None:
    """The shortest chain (up to `max_steps` steps) mapping every raw value to its wanted one.

    ValueError when fewer than three pairs are given: fewer fit too many chains by chance.
    """
    if len(pairs) < MIN_PAIRS:
        raise ValueError(f"give at least {MIN_PAIRS} pairs (got {len(pairs)})")
    start: Values = tuple(raw.strip() for raw, _ in pairs)
    wanted: Values = tuple(want.strip() for _, want in pairs)
    if start == wanted:
        return Chain()
    seen = {start}
    frontier: list[tuple[Chain, Values]] = [(Chain(), start)]
    for _ in range(max_steps):
        following: list[tuple[Chain, Values]] = []
        for chain, values in frontier:
            for step in candidates(values, wanted):
                result = _apply(step, values)
                if result is None or result in seen:
                    continue
                if result == wanted:
                    return chain.then(step)
                seen.add(result)
                following.append((chain.then(step), result))
        frontier = following
    return None


def _apply(step: Step, values: Values) -> Values | None:
    out = []
    for value in values:
        result = step.convert(value)
        if not result:
            return None
        out.append(result)
    return tuple(out)


def candidates(values: Values, wanted: Values) -> Iterator[Step]:
    """Steps worth trying on `values`: plain ones, then prefix/suffix, then pad/width."""
    for name in PLAIN:
        yield Step.parse(name)
    for text in _affixes(_common_start(values)):
        yield Step.parse(f"prefix:{text}")
    for text in _affixes(_common_start([v[::-1] for v in values])[::-1], from_end=True):
        yield Step.parse(f"suffix:{text}")
    for length in sorted({len(w) for w in wanted}):
        yield Step.parse(f"pad:{length}")
        yield Step.parse(f"width:{length}")


def _common_start(values: Sequence[str]) -> str:
    first, last = min(values), max(values)
    size = 0
    while size < len(first) and first[size] == last[size]:
        size += 1
    return first[:size]


def _affixes(common: str, from_end: bool = False) -> Iterator[str]:
    """Non-empty pieces of `common` that can be written in a chain, shortest first."""
    for size in range(1, min(len(common), MAX_AFFIX) + 1):
        text = common[-size:] if from_end else common[:size]
        if plausible_card(text):
            yield text


def parse_pair(text: str) -> tuple[str, str]:
    """Read `RAW=WANTED` (as given on the command line); ValueError when malformed."""
    raw, equals, wanted = text.partition("=")
    if not equals or not raw.strip() or not wanted.strip():
        raise ValueError("a pair is written RAW=WANTED, as in 0x00BC614E=12345678")
    return raw.strip(), wanted.strip()
