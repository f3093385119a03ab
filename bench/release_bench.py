# SPDX-License-Identifier: GPL-3.0-or-later
"""Swipe-to-release latency at site scale, and the daemon's memory.

Sets up a private cupsd holding `--jobs` held jobs from `--owners` owners (about ten each,
half of them owned as `CORP\\user`), a private slapd with `--users` people, and a station
whose PaperCut reader dials a real TCP terminal. The terminal then swipes `--swipes`
different owners' cards, one after another. Latency is measured from the moment the reader
has the line (the Swipe's timestamp) to the moment the station has released every one of
that user's jobs in cupsd and written their audit rows. Jobs are submitted so that at least
`--jobs - swipes * jobs/owner` stay held throughout (the defaults keep over 10,000).

    python -m bench.release_bench [--jobs 15000 --owners 1500 --users 100000 --swipes 500]

Prints p50, p90, p99 and max latency, jobs released, and the resident memory of the
station (this process: the daemon's code running in-process; cupsd and slapd are separate).
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.ldap_seed import bench_card, bench_uid, seed_users
from releasestation.app import App
from releasestation.config import CupsSettings, DatabaseSettings, StationSettings, parse_text
from releasestation.config import replace as replace_config
from releasestation.daemon import Station
from releasestation.printq.private import PrivateCups
from tests.fixtures.terminal import Terminal
from tests.slapd_server import SlapdServer


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_jobs(cups: PrivateCups, jobs: int, owners: int) -> float:
    started = time.monotonic()
    pairs = []
    for n in range(jobs):
        i = n % owners
        owner = bench_uid(i) if n % 2 else f"CORP\\{bench_uid(i)}"
        pairs.append((owner, f"document {n}"))
    cups.submit_many(pairs, queue="Secure")
    return time.monotonic() - started


def make_app(root: Path, cups: PrivateCups, slapd: SlapdServer, terminal: Terminal) -> App:
    reader = (
        "[station]\nhold_queues = Secure\n"
        f"[reader:bench]\ntype = papercut\nhost = 127.0.0.1\nport = {terminal.port}\n"
    )
    config = parse_text(reader, "bench")
    config = replace_config(
        config,
        station=StationSettings(
            hold_queues=("Secure",),
            name="bench",
            secret_file=str(root / "secret"),
            owner_domains=("CORP",),
            debounce_seconds=0,
        ),
        cups=CupsSettings(server=cups.socket),
        directory=slapd.settings(),
        database=DatabaseSettings(url=f"sqlite:///{root}/bench.db"),
    )
    app = App(config)
    app.store.upgrade()
    return app


def percentile(sorted_values: list[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def run(args: argparse.Namespace) -> int:
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="rs-bench-", dir=shm) as tmp:
        root = Path(tmp)
        slapd = SlapdServer.create()
        try:
            seconds = seed_users(slapd, args.users)
            print(f"slapd: {args.users} users loaded in {seconds:.1f} s")
            slapd.start()
            with PrivateCups(root / "cups") as cups:
                cups.add_hold_queue("Secure")
                seconds = load_jobs(cups, args.jobs, args.owners)
                print(f"cupsd: {args.jobs} held jobs from {args.owners} owners in {seconds:.1f} s")
                return measure(args, root, cups, slapd)
        finally:
            slapd.destroy()


def measure(args, root: Path, cups: PrivateCups, slapd: SlapdServer) -> int:
    terminal = Terminal()
    app = make_app(root, cups, slapd, terminal)
    done: queue.Queue = queue.Queue()
    station = Station(app, services=[])
    station.listeners.append(lambda swipe, outcome: done.put((swipe, outcome, time.time())))
    station.start()
    terminal.wait_connections(1)
    latencies, released = [], 0
    try:
        for i in range(args.swipes):
            before = app.releaser.held_jobs_for(bench_uid(i)) if i < 3 else None
            terminal.swipe(bench_card(i))
            swipe, outcome, finished = done.get(timeout=30)
            if outcome != "released":
                raise SystemExit(f"swipe {i}: outcome {outcome}")
            latencies.append(finished - swipe.at)
            if before is not None and app.releaser.held_jobs_for(bench_uid(i)):
                raise SystemExit(f"swipe {i}: jobs left held")
            released += args.jobs // args.owners
        held_after = len(app.printq.held_jobs(("Secure",)))
    finally:
        station.stop()
        terminal.close()
        app.close()
    ms = sorted(v * 1000 for v in latencies)
    print(f"swipes: {len(ms)}, about {released} jobs released, {held_after} still held after")
    print(
        f"swipe-to-release latency: p50 {statistics.median(ms):.1f} ms, "
        f"p90 {percentile(ms, 90):.1f} ms, p99 {percentile(ms, 99):.1f} ms, max {ms[-1]:.1f} ms"
    )
    print(f"per job: p50 {statistics.median(ms) / (args.jobs // args.owners):.2f} ms")
    print(f"station RSS: {rss_mib():.1f} MiB")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.release_bench", description=__doc__)
    parser.add_argument("--jobs", type=int, default=15_000)
    parser.add_argument("--owners", type=int, default=1_500)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--swipes", type=int, default=500)
    args = parser.parse_args(argv)
    if not 0 < args.swipes <= args.owners <= args.users or args.jobs < args.owners:
        parser.error("need 0 < swipes <= owners <= users and jobs >= owners")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
