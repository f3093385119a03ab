# SPDX-License-Identifier: GPL-3.0-or-later
"""The release bench at toy scale: real cupsd, slapd and terminal, every figure printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import release_bench
from releasestation.demo.private_cups import PrivateCups
from releasestation.demo.private_setup import CUPSD_GLIBC_TUNABLES

SCHEDSTAT = Path("/proc/self/schedstat").exists()


def test_the_bench_keeps_the_held_count_and_prints_both_latencies(capsys, monkeypatch):
    paces = []
    add_hold_queue = PrivateCups.add_hold_queue

    def noted(self, name, discard=False, print_seconds=0):  # the real one, its pace noted
        paces.append(print_seconds)
        return add_hold_queue(self, name, discard, print_seconds)

    monkeypatch.setattr(PrivateCups, "add_hold_queue", noted)
    code = release_bench.main(
        ["--held", "60", "--mix", "1:4,3:4", "--users", "200", "--swipes", "4"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "cupsd: 60 held jobs from" in out
    assert re.search(
        rf"cupsd \({re.escape(CUPSD_GLIBC_TUNABLES)}\): \d+ MiB resident, \d+ MiB of it in huge",
        out,
    )
    assert "the printer takes 50 ms over each job" in out
    assert paces == [0.05]
    # New jobs replace the released ones before every swipe: cupsd always holds 60.
    assert "held jobs at each swipe: 60 (fewest seen before a swipe: 60)" in out
    assert re.search(r"held-job index built in [\d.]+ s", out)
    assert "swipes answered from the held-job index: 8 of 8" in out
    for per_owner in (1, 3):
        head = f"4 swipes releasing {per_owner} jobs each, found from the held-job index:"
        block = out.split(head)[1]
        assert re.search(r"released p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms", block)
        assert re.search(r"audited  p50 [\d.]+ ms", block)
        # cupsd's share is told where the kernel keeps schedstat (Linux as shipped)
        cupsd = r"cupsd p50 [\d.]+ ms, p90 [\d.]+ ms; " if SCHEDSTAT else ""
        cpu = re.search(rf"CPU time {cupsd}station p50 ([\d.]+) ms", block)
        assert cpu and float(cpu[1]) > 0, block
    assert re.search(
        r"all 8 swipes, found from the held-job index: released p50 [\d.]+ ms, "
        r"p90 [\d.]+ ms, p99 [\d.]+ ms",
        out,
    )
    assert re.search(r"station RSS: [\d.]+ MiB", out)


def test_the_bench_compares_swipes_with_and_without_the_index(capsys):
    args = ["--held", "40", "--mix", "2:4", "--users", "100", "--swipes", "4", "--compare"]
    assert release_bench.main([*args, "--print-ms", "0", "--stock-cupsd"]) == 0
    out = capsys.readouterr().out
    assert "cupsd (stock environment): " in out
    assert "the printer takes 0 ms over each job" in out
    assert "2 swipes releasing 2 jobs each, found from the held-job index:" in out
    assert "2 swipes releasing 2 jobs each, found by asking cupsd (no index):" in out
    assert "swipes answered from the held-job index: 2 of 2" in out


def test_arrivals_come_from_owners_who_never_swipe():
    arrivals = release_bench.Arrivals(cups=None, first_user=10, users=13)  # type: ignore[arg-type]
    jobs = arrivals.jobs(8)
    owners = [owner.rpartition("\\")[2] for owner, _ in jobs]
    swiping = {release_bench.bench_uid(i) for i in range(10)}
    assert not swiping & set(owners)
    assert owners[:2] == [release_bench.bench_uid(10)] * 2  # two jobs an owner
    assert jobs[0][0].startswith("CORP\\") and not jobs[1][0].startswith("CORP\\")
    assert owners[6] == release_bench.bench_uid(10), "wraps around the users there are"


def test_other_owners_jobs_are_spread_among_the_swiping_owners():
    merged = release_bench.spread(list("abcdef"), [1, 2, 3])
    assert [x for x in merged if isinstance(x, str)] == list("abcdef")
    assert [x for x in merged if isinstance(x, int)] == [1, 2, 3]
    assert merged == ["a", 1, "b", "c", 2, "d", "e", 3, "f"]
    assert release_bench.spread([], [1, 2]) == [1, 2]


def test_the_printer_pace_must_be_sane(capsys):
    for bad in ("-1", "60001", "nan"):
        small = ["--held", "20", "--mix", "1:2", "--users", "50", "--swipes", "2"]
        with pytest.raises(SystemExit):  # refused before anything starts
            release_bench.main([*small, "--print-ms", bad])
        assert "--print-ms must be between 0 and 60000" in capsys.readouterr().err
