# SPDX-License-Identifier: GPL-3.0-or-later
"""Fuzz the IPP answer decoder (releasestation.printq.ipp) and time it.

Feeds the decoder `--inputs` inputs (100,000 by default) made from a seeded generator, in
equal shares: random bytes (half of them after a valid header), truncations of valid
answers, valid answers with one to four bytes changed, and valid answers with a name- or
value-length field made to claim more than is left (up to 64 KiB). The valid answers are
a Get-Jobs answer of 10 held jobs written by libcups (`cups.IPPRequest`), a printer
answer with what cupsd seldom sends (collections, textWithLanguage, out-of-band values,
dateTime, resolution, rangeOfInteger), a job-event answer and an error answer.

    .venv/bin/python -m bench.ipp_fuzz_bench [--inputs 100000] [--seed 1]

Prints the inputs tried and what became of them, the exceptions other than the decoder's
own (IppDecodeError, or IppError for an error status: anything else is a bug, and the
bench exits 1), the time per input (a pass without tracemalloc), and the peak memory a
single decode took above what was allocated before it (a second pass, under tracemalloc,
which makes decoding some twenty times slower: over every MEMORY_STRIDE-th input), with a
length field claiming 60 KB where 10 bytes are left as a case of its own.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

import cups

from releasestation.printq import ipp

HEAD = bytes([2, 0, 0, 0, 0, 0, 0, 1])  # IPP/2.0, successful-ok, request id 1
MEMORY_STRIDE = 5  # prime to the four kinds of input, so that each is measured


def attr(tag: int, name: str, value: bytes) -> bytes:
    raw = name.encode()
    return bytes([tag]) + struct.pack(">H", len(raw)) + raw + struct.pack(">H", len(value)) + value


def jobs_answer(count: int) -> bytes:
    """A Get-Jobs answer of `count` held jobs, as libcups writes it."""
    answer = cups.IPPRequest()
    answer.statuscode = 0
    for tag, name, value in [
        (cups.IPP_TAG_CHARSET, "attributes-charset", "utf-8"),
        (cups.IPP_TAG_LANGUAGE, "attributes-natural-language", "en"),
    ]:
        answer.add(cups.IPPAttribute(cups.IPP_TAG_OPERATION, tag, name, value))
    for job in range(1, count + 1):
        answer.addSeparator()
        for tag, name, value in [
            (cups.IPP_TAG_INTEGER, "job-id", job),
            (cups.IPP_TAG_NAME, "job-originating-user-name", f"CORP\\user{job}"),
            (cups.IPP_TAG_NAME, "job-name", f"Rapport d'été {job}.pdf"),
            (cups.IPP_TAG_URI, "job-printer-uri", "ipp://localhost/printers/Secure"),
            (cups.IPP_TAG_ENUM, "job-state", 4),
            (cups.IPP_TAG_KEYWORD, "job-state-reasons", ["job-hold-until-specified", "none"]),
            (cups.IPP_TAG_INTEGER, "time-at-creation", 1_700_000_000 + job),
            (cups.IPP_TAG_BOOLEAN, "job-preserved", False),
        ]:
            answer.add(cups.IPPAttribute(cups.IPP_TAG_JOB, tag, name, value))
    chunks: list[bytes] = []
    answer.writeIO(lambda chunk: chunks.append(bytes(chunk)) or len(chunk))
    return b"".join(chunks)


def printer_answer() -> bytes:
    member = [attr(0x4A, "", b"x-dimension"), attr(0x21, "", struct.pack(">i", 21000)),
              attr(0x4A, "", b"y-dimension"), attr(0x21, "", struct.pack(">i", 29700))]  # fmt: skip
    media_col = [attr(0x34, "media-col-default", b""), attr(0x4A, "", b"media-size"),
                 attr(0x34, "", b""), *member, attr(0x37, "", b""),
                 attr(0x4A, "", b"media-type"), attr(0x44, "", b"plain"),
                 attr(0x44, "", b"glossy"), attr(0x37, "", b""),
                 attr(0x34, "", b""), attr(0x37, "", b"")]  # fmt: skip
    return b"".join([
        HEAD, b"\x01", attr(0x47, "attributes-charset", b"utf-8"), b"\x04",
        attr(0x42, "printer-name", b"Secure"), attr(0x23, "printer-state", b"\0\0\0\3"),
        *media_col,
        attr(0x35, "printer-info", b"\x00\x02fr\x00\x05caf\xc3\xa9"),
        attr(0x13, "printer-geo-location", b""),
        attr(0x31, "printer-current-time", bytes([7, 233, 12, 3, 9, 8, 18, 0, 43, 0, 0])),
        attr(0x32, "printer-resolution-default", bytes([0, 0, 2, 88, 0, 0, 2, 88, 3])),
        attr(0x33, "copies-supported", bytes([0, 0, 0, 1, 0, 0, 0, 99])),
        attr(0x22, "printer-is-accepting-jobs", b"\x01"),
        attr(0x44, "printer-state-reasons", b"none"), attr(0x44, "", b"paused"),
        b"\x03",
    ])  # fmt: skip


def events_answer() -> bytes:
    events = [b"\x07" + attr(0x21, "notify-subscription-id", struct.pack(">i", 3))
              + attr(0x21, "notify-sequence-number", struct.pack(">i", n))
              + attr(0x44, "notify-subscribed-event", b"job-state-changed")
              + attr(0x41, "notify-text", b"Job held.")
              + attr(0x21, "job-id", struct.pack(">i", n))
              for n in range(1, 6)]  # fmt: skip
    return HEAD + b"\x01" + attr(0x47, "attributes-charset", b"utf-8") + b"".join(events) + b"\3"


def error_answer() -> bytes:
    message = attr(0x41, "status-message", b"The printer or class does not exist.")
    return HEAD[:2] + b"\x04\x06" + HEAD[4:] + b"\x01" + message + b"\x03"


def length_fields(answer: bytes) -> list[int]:
    """Offsets of the name-length and value-length fields of a well-formed answer."""
    found, pos = [], 8
    while answer[pos] != 0x03:
        if answer[pos] < 0x10:
            pos += 1
            continue
        found.append(pos + 1)
        pos += 3 + int.from_bytes(answer[pos + 1 : pos + 3], "big")
        found.append(pos)
        pos += 2 + int.from_bytes(answer[pos : pos + 2], "big")
    return found


def inputs(count: int, seed: int, valid: Sequence[bytes]) -> Iterator[tuple[str, bytes]]:
    """(kind, input) pairs, the same for the same seed."""
    rnd = random.Random(seed)
    fields = [length_fields(answer) for answer in valid]

    def random_bytes() -> bytes:
        tail = rnd.randbytes(rnd.randrange(256))
        return HEAD + tail if rnd.random() < 0.5 else tail

    def truncated() -> bytes:
        answer = rnd.choice(valid)
        return answer[: rnd.randrange(len(answer))]

    def flipped() -> bytes:
        answer = bytearray(rnd.choice(valid))
        for _ in range(rnd.randint(1, 4)):
            answer[rnd.randrange(len(answer))] = rnd.randrange(256)
        return bytes(answer)

    def oversized() -> bytes:
        which = rnd.randrange(len(valid))
        answer = bytearray(valid[which])
        at = rnd.choice(fields[which])
        left = len(answer) - at - 2
        answer[at : at + 2] = rnd.randint(min(left + 1, 0xFFFF), 0xFFFF).to_bytes(2, "big")
        return bytes(answer)

    makers: list[tuple[str, Callable[[], bytes]]] = [
        ("random bytes", random_bytes),
        ("truncated", truncated),
        ("bytes changed", flipped),
        ("length too large", oversized),
    ]
    for n in range(count):
        kind, make = makers[n % len(makers)]
        yield kind, make()


def decode(data: bytes) -> str:
    """What became of one input: "decoded", "IppDecodeError", "IppError", or a bug."""
    try:
        ipp._decode(data)
    except ipp.IppDecodeError:
        return "IppDecodeError"
    except ipp.IppError:
        return "IppError (error status)"
    except Exception as exc:  # what the bench is looking for
        return f"BUG {type(exc).__name__}: {exc}"
    return "decoded"


def timed_pass(count: int, seed: int, valid: Sequence[bytes]) -> tuple[Counter, list, float]:
    outcomes: Counter[str] = Counter()
    bugs: list[tuple[str, bytes, str]] = []
    spent = 0.0
    for kind, data in inputs(count, seed, valid):
        began = time.perf_counter()
        outcome = decode(data)
        spent += time.perf_counter() - began
        outcomes[outcome.split(":")[0]] += 1
        if outcome.startswith("BUG"):
            bugs.append((kind, data, outcome))
    return outcomes, bugs, spent


def memory_pass(count: int, seed: int, valid: Sequence[bytes]) -> tuple[int, int]:
    """The largest (peak memory above the start, input size) of one decode, under
    tracemalloc, over every MEMORY_STRIDE-th input."""
    worst = (0, 0)
    tracemalloc.start()
    try:
        for n, (_, data) in enumerate(inputs(count, seed, valid)):
            if n % MEMORY_STRIDE:
                continue
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            decode(data)
            worst = max(worst, (tracemalloc.get_traced_memory()[1] - before, len(data)))
    finally:
        tracemalloc.stop()
    return worst


def claimed_60_kb() -> tuple[str, int, float]:
    """A value-length of 60,000 with 10 bytes left: the outcome, its peak memory, its time."""
    data = HEAD + b"\x02\x21\x00\x06job-id\xea\x60" + b"x" * 10
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        outcome = decode(data)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    began = time.perf_counter()
    for _ in range(10_000):
        decode(data)
    return outcome, peak, (time.perf_counter() - began) / 10_000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ipp_fuzz_bench", description=__doc__)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.inputs < 1:
        parser.error("--inputs: at least 1")
    valid = [jobs_answer(10), printer_answer(), events_answer(), error_answer()]
    for answer in valid:
        if decode(answer) not in ("decoded", "IppError (error status)"):
            raise SystemExit("a valid answer of the bench does not decode")
    outcomes, bugs, spent = timed_pass(args.inputs, args.seed, valid)
    print(f"inputs tried: {args.inputs:,} (seed {args.seed}; valid answers of "
          f"{', '.join(str(len(a)) for a in valid)} bytes)")  # fmt: skip
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count:,}")
    print(f"exceptions other than the decoder's own: {len(bugs)}")
    for kind, data, outcome in bugs[:5]:
        print(f"  {kind}: {outcome} for {data[:80]!r}")
    print(f"time per input: {1e6 * spent / args.inputs:.1f} µs (decode only, no tracemalloc)")
    peak, size = memory_pass(args.inputs, args.seed, valid)
    measured = len(range(0, args.inputs, MEMORY_STRIDE))
    print(f"peak memory of one decode (tracemalloc, {measured:,} inputs): "
          f"{peak / 1024:.1f} KiB, for an input of {size:,} bytes")  # fmt: skip
    outcome, peak, seconds = claimed_60_kb()
    print(f"60 KB claimed, 10 bytes left: {outcome}, peak {peak:,} bytes, "
          f"{1e6 * seconds:.1f} µs")  # fmt: skip
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
