# SPDX-License-Identifier: GPL-3.0-or-later
"""Swipe-to-release latency at site scale, and the daemon's memory.

Sets up a private cupsd holding `--held` jobs (10,000 by default), a private slapd with
`--users` people (100,000), and a station whose PaperCut reader dials a real TCP terminal.
The held jobs belong to groups of owners who will swipe (`--mix`, by default 500 owners
with 1 job each, 500 with 2 and 500 with 10) and to other owners who fill the queue up to
`--held`; half of each owner's jobs are owned as `CORP\\user`. The terminal then swipes
`--swipes` owners of each group, alternating, one after another. After each swipe (and
outside the measurement) as many new jobs of other owners arrive as were released, so
cupsd holds `--held` jobs at every swipe, as at a site where jobs keep coming.

Latency is measured from the moment the reader has the line (the Swipe's timestamp) to
the moment cupsd has answered the release of the last of that user's jobs ("released"),
and, as a second figure, to the moment the station has also written their audit rows
("audited"). The next swipe comes once cupsd has printed the last one's jobs, as the next
person at a printer arrives after the last one's pages came out. The bench's printer
throws each job away after `--print-ms` (50 ms by default; a real printer takes seconds
over a job). With a printer that finished each job at once (`--print-ms 0`), cupsd would
be finishing a person's first job, and starting the next, while the station is still
releasing the others: work that no real printer brings into a swipe's few milliseconds.

    python -m bench.release_bench [--held 10000 --mix 1:500,2:500,10:500 --swipes 500]
                                  [--print-ms 50] [--no-index | --compare] [--stock-cupsd]

cupsd runs as the shipped systemd/cups.service.d/releasestation.conf runs a station's
cupsd: with its heap in transparent huge pages (glibc.malloc.hugetlb=1), which makes its
walk over every unfinished job after each release cheaper. `--stock-cupsd` runs it as a
distribution's cups.service does, for comparison. The bench prints how much of cupsd's
memory ended up in huge pages (none where the kernel's THP setting is `never`).

Prints p50, p90, p99 and max of both latencies for each group; the CPU time each swipe
cost cupsd (its own process, not the backend it starts for the printer) and this process
(the station's threads, and the bench's terminal, which only sends the line); and the
resident memory of the station (this process: the daemon's code running in-process; cupsd
and slapd are separate). The station runs its held-job index (releasestation.printq.index),
as the daemon does, and the swipes start once it is built. The bench swipes every few
milliseconds where a real station sees a swipe every few seconds, so before each swipe it
lets the index take in the jobs that arrived since the last one, as the index's helper
thread (every half second) would have by then. `--no-index` measures without the index,
when each owner-name form the station asks about costs a walk over every unfinished job;
`--compare` alternates rounds of swipes with and without it, so that both figures come
from the same minutes of a machine whose speed varies. Each release costs cupsd such a
walk in any case, so the latency of a swipe grows with the number of jobs it releases and
with the number of jobs held (see docs/cups.md).
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
from bench.servers.slapd import SlapdServer
from bench.servers.terminal import Terminal
from releasestation.app import App
from releasestation.config import CupsSettings, DatabaseSettings, StationSettings, parse_text
from releasestation.config import replace as replace_config
from releasestation.daemon import build_station, settle_memory
from releasestation.demo.private_cups import PrivateCups
from releasestation.demo.private_setup import CUPSD_GLIBC_TUNABLES
from releasestation.printq import PrintServer
from releasestation.printq.index import HeldIndex


def cpu_ms(pid: int | None) -> float | None:
    """Time process `pid` has spent on a CPU, in ms (Linux schedstat, in ns); None when
    the kernel does not tell."""
    if pid is None:
        return None
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6
    except (OSError, ValueError, IndexError):
        return None


def proc_mib(path: str) -> dict[str, float]:
    """The "Name:  N kB" fields of a /proc file, in MiB; empty when it cannot be read."""
    fields = {}
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if value.strip().endswith(" kB"):
                fields[name] = int(value.split()[0]) / 1024
    except (OSError, ValueError):
        return {}
    return fields


def cupsd_memory(pid: int | None) -> str:
    """How much of cupsd's memory is resident, and how much of that in huge pages."""
    fields = proc_mib(f"/proc/{pid}/smaps_rollup") if pid is not None else {}
    if "Rss" not in fields:
        return "not known"
    huge = fields.get("AnonHugePages", 0)
    return f"{fields['Rss']:.0f} MiB resident, {huge:.0f} MiB of it in huge pages"


def rss_mib() -> float:
    return proc_mib("/proc/self/status").get("VmRSS", float("nan"))


def parse_mix(text: str) -> list[tuple[int, int]]:
    """ "2:3000,10:1000" -> [(2, 3000), (10, 1000)]: (jobs per owner, owners)."""
    try:
        mix = [tuple(int(n) for n in part.split(":")) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--mix: {text!r} is not JOBS:OWNERS,...") from None
    if not mix or any(len(m) != 2 or min(m) < 1 for m in mix):
        raise argparse.ArgumentTypeError(f"--mix: {text!r} is not JOBS:OWNERS,...")
    return [(m[0], m[1]) for m in mix]


def owner_groups(mix: list[tuple[int, int]]) -> list[list[int]]:
    """The bench user numbers of each group of owners, in `mix` order."""
    groups, first = [], 0
    for _, owners in mix:
        groups.append(list(range(first, first + owners)))
        first += owners
    return groups


def owned_as(i: int, n: int) -> str:
    """The owner name of bench user `i`'s `n`th job: every other one as CORP\\user."""
    return bench_uid(i) if n % 2 else f"CORP\\{bench_uid(i)}"


def spread(base: list, extra: list) -> list:
    """`extra` spread evenly through `base`, each list keeping its own order."""
    keyed = [(k / len(base), 0, item) for k, item in enumerate(base)]
    keyed += [(k / len(extra), 1, item) for k, item in enumerate(extra)]
    return [item for _, _, item in sorted(keyed, key=lambda key: key[:2])]


class Arrivals:
    """Jobs of owners who never swipe: the fill-up to `--held`, and the new jobs that
    arrive after each swipe. Each has 2 jobs, one owned as CORP\\user."""

    def __init__(self, cups: PrivateCups, first_user: int, users: int):
        self.cups = cups
        self.next_job = 0
        self.first_user = first_user
        self.users = users

    def jobs(self, count: int) -> list[tuple[str, str]]:
        pairs = []
        for _ in range(count):
            n = self.next_job
            self.next_job += 1
            i = self.first_user + (n // 2) % (self.users - self.first_user)
            pairs.append((owned_as(i, n), f"arrival {n}"))
        return pairs

    def submit(self, count: int) -> None:
        if count > 0:
            self.cups.submit_many(self.jobs(count), queue="Secure")


def load_jobs(cups: PrivateCups, mix: list[tuple[int, int]], arrivals: Arrivals, held: int):
    """Submit each owner's jobs, interleaved across owners as real arrivals would be, and
    others' jobs up to `held`."""
    started = time.monotonic()
    pairs = []
    for (per_owner, _), users in zip(mix, owner_groups(mix), strict=True):
        for round_ in range(per_owner):
            for i in users:
                pairs.append((owned_as(i, round_), f"document {round_} of {i}"))
    pairs = spread(pairs, arrivals.jobs(max(0, held - len(pairs))))
    cups.submit_many(pairs, queue="Secure")
    owners = {owner.rpartition("\\")[2] for owner, _ in pairs}
    return time.monotonic() - started, len(pairs), len(owners)


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


def queued(printq: PrintServer) -> int:
    """Jobs cupsd has not finished on the bench's queue (held ones included)."""
    attrs = printq.queue_attributes("Secure", ["queued-job-count"]) or {}
    return int(attrs.get("queued-job-count", 0))


def printed_all(printq: PrintServer, held: int, timeout: float = 60) -> None:
    """Wait until cupsd has printed every released job: only `held` jobs are left queued.
    A real station's next person arrives after the last one's pages came out; released
    jobs piling up in cupsd would make every later release slower (cupsd walks all of its
    unfinished jobs after each one)."""
    deadline = time.monotonic() + timeout
    while True:
        left = queued(printq)
        if left <= held:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"cupsd still has {left - held} released job(s) unprinted")
        time.sleep(0.005)


def percentile(sorted_values: list[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def cpu_summary(swipes: list[tuple[float | None, float]]) -> str:
    """p50 and p90 of cupsd's and the station's CPU time per swipe; cupsd's is left out
    when the kernel does not tell it."""

    def p50_p90(ms: list[float]) -> str:
        ms = sorted(ms)
        return f"p50 {statistics.median(ms):.1f} ms, p90 {percentile(ms, 90):.1f} ms"

    parts = []
    cupsd = [c for c, _ in swipes if c is not None]
    if len(cupsd) == len(swipes):
        parts.append(f"cupsd {p50_p90(cupsd)}")
    parts.append(f"station {p50_p90([s for _, s in swipes])}")
    return "; ".join(parts)


def summary(seconds: list[float]) -> str:
    ms = sorted(v * 1000 for v in seconds)
    return (
        f"p50 {statistics.median(ms):.1f} ms, p90 {percentile(ms, 90):.1f} ms, "
        f"p99 {percentile(ms, 99):.1f} ms, max {ms[-1]:.1f} ms"
    )


def run(args: argparse.Namespace) -> int:
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="rs-bench-", dir=shm) as tmp:
        root = Path(tmp)
        slapd = SlapdServer.create()
        try:
            seconds = seed_users(slapd, args.users)
            print(f"slapd: {args.users} users loaded in {seconds:.1f} s")
            slapd.start()
            with PrivateCups(root / "cups", stock=args.stock_cupsd) as cups:
                cups.add_hold_queue("Secure", discard=True, print_seconds=args.print_ms / 1000)
                swiping = sum(owners for _, owners in args.mix)
                arrivals = Arrivals(cups, first_user=swiping, users=args.users)
                seconds, jobs, owners = load_jobs(cups, args.mix, arrivals, args.held)
                print(f"cupsd: {jobs} held jobs from {owners} owners in {seconds:.1f} s")
                tunables = "stock environment" if args.stock_cupsd else CUPSD_GLIBC_TUNABLES
                print(f"cupsd ({tunables}): {cupsd_memory(cups.pid)}")
                print(f"the printer takes {args.print_ms:g} ms over each job")
                return measure(args, root, cups, slapd, arrivals, jobs)
        finally:
            slapd.destroy()


def index_built(index: HeldIndex, timeout: float) -> bool:
    """Whether the held-job index vouches for itself within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not index.trusted:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def measure(
    args, root: Path, cups: PrivateCups, slapd: SlapdServer, arrivals: Arrivals, held: int
) -> int:
    terminal = Terminal()
    app = make_app(root, cups, slapd, terminal)
    done: queue.Queue = queue.Queue()
    index = app.held_index  # the one the swipe's HeldJobs asks first
    station = build_station(app, services=[] if args.no_index else [index])
    station.listeners.append(
        lambda swipe, outcome: done.put((swipe, outcome, time.time(), station.last_release))
    )
    started = time.monotonic()
    station.start()
    terminal.wait_connections(1)
    if not args.no_index:
        if not index_built(index, timeout=600):
            raise SystemExit("the held-job index was never built")
        print(f"held-job index built in {time.monotonic() - started:.1f} s")
    settle_memory()  # as `releasestation run` does once started
    groups = owner_groups(args.mix)
    # (group, how the swipe found its jobs) -> latencies to the last release / to the audit
    released: dict[tuple[int, str], list[float]] = {}
    audited: dict[tuple[int, str], list[float]] = {}
    # CPU time each swipe cost cupsd and the station (all of this process's threads)
    cpu: dict[tuple[int, str], list[tuple[float | None, float]]] = {}
    least_held = held
    probe = PrintServer(app.config.cups)  # the bench's own connection, not the station's
    taken = 0  # jobs the last swipe released
    tried = from_index = 0  # swipes meant to use the index; those it answered
    try:
        for n in range(args.swipes):
            use_index = not args.no_index and (not args.compare or n % 2 == 0)
            how = "index" if use_index else "walks"
            app.held_jobs.index = index if use_index else None
            for g, users in enumerate(groups):
                i = users[n]
                # the last person's jobs are out
                printed_all(probe, held - taken, 60 + taken * args.print_ms / 1000)
                arrivals.submit(taken)  # and as many new jobs have come in
                if not args.no_index:  # over the seconds between two people at a printer
                    index.keep_up()  # the index's helper has taken them in
                least_held = min(least_held, queued(probe))
                check = n < 3  # the first few: every job of the user is gone from the queue
                before = app.releaser.held_jobs_for(bench_uid(i)) if check else None
                answered = index.answered
                cupsd_before, station_before = cpu_ms(cups.pid), time.process_time()
                terminal.swipe(bench_card(i))
                swipe, outcome, finished, result = done.get(timeout=30)
                cupsd_after, station_after = cpu_ms(cups.pid), time.process_time()
                if use_index:
                    tried += 1
                    from_index += index.answered > answered
                if outcome != "released" or result is None or result.released_at is None:
                    raise SystemExit(f"swipe of {bench_uid(i)}: outcome {outcome}")
                released.setdefault((g, how), []).append(result.released_at - swipe.at)
                audited.setdefault((g, how), []).append(finished - swipe.at)
                cupsd_cpu = None
                if cupsd_before is not None and cupsd_after is not None:
                    cupsd_cpu = cupsd_after - cupsd_before
                station_cpu = (station_after - station_before) * 1000
                cpu.setdefault((g, how), []).append((cupsd_cpu, station_cpu))
                taken = len(result.released)
                if before is not None and (
                    len(before) != args.mix[g][0] or app.releaser.held_jobs_for(bench_uid(i))
                ):
                    raise SystemExit(f"swipe of {bench_uid(i)}: not every job released")
    finally:
        probe.close()
        station.stop()
        terminal.close()
        app.close()
    print(f"held jobs at each swipe: {held} (fewest seen before a swipe: {least_held})")
    if tried:
        print(f"swipes answered from the held-job index: {from_index} of {tried}")
    found = {"index": "from the held-job index", "walks": "by asking cupsd (no index)"}
    for (g, how), done_at in released.items():
        print(f"{len(done_at)} swipes releasing {args.mix[g][0]} jobs each, found {found[how]}:")
        print(f"  released {summary(done_at)}")
        print(f"  audited  {summary(audited[(g, how)])}")
        print(f"  CPU time {cpu_summary(cpu[(g, how)])}")
    if len(args.mix) > 1:  # the groups together, as the swipes of one site
        for how in dict.fromkeys(how for _, how in released):
            every = [t for (_, h), done_at in released.items() if h == how for t in done_at]
            print(f"all {len(every)} swipes, found {found[how]}: released {summary(every)}")
    print(f"station RSS: {rss_mib():.1f} MiB")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.release_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--held", type=int, default=10_000, help="jobs held at every swipe")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix("1:500,2:500,10:500"))
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--swipes", type=int, default=500, help="per group of owners")
    parser.add_argument(
        "--print-ms", type=float, default=50, help="how long the printer takes over each job"
    )
    parser.add_argument(
        "--stock-cupsd",
        action="store_true",
        help="cupsd without the glibc tunables of systemd/cups.service.d/releasestation.conf",
    )
    found = parser.add_mutually_exclusive_group()
    found.add_argument(
        "--no-index",
        action="store_true",
        help="without the held-job index: cupsd walks its jobs once per owner-name form",
    )
    found.add_argument(
        "--compare",
        action="store_true",
        help="every other round of swipes without the index; figures for both",
    )
    args = parser.parse_args(argv)
    owners = sum(owners for _, owners in args.mix)
    if not 0 < args.swipes <= min(owners for _, owners in args.mix) or owners > args.users:
        parser.error("need 0 < swipes <= the owners of each group, and owners <= users")
    if not 0 <= args.print_ms <= 60_000:
        parser.error("--print-ms must be between 0 and 60000")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
