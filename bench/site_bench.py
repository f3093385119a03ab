# SPDX-License-Identifier: GPL-3.0-or-later
"""A site of many stations: N real `releasestation run` processes on one PostgreSQL, one
directory and one central cupsd.

Sets up a private cupsd holding `--jobs` jobs (20,000) of `--owners` owners (2,000; from 1
to 19 jobs each, loaded with release_bench's code: half of each owner's jobs owned as
`CORP\\user`, titles with spaces), a private slapd with those owners, a fresh schema on the
PostgreSQL server of the tests (database `test`; dropped afterwards) and `--stations`
station processes (8), each with a PaperCut reader that dials a terminal of its own. The
stations share the site secret and the database; their printer is cupsd's `tally` backend,
which appends a line for every job that comes out (a job printed twice is counted twice)
at the cost of a shell, as a real printer's backend costs cupsd's machine little.

People then swipe at `--rate` swipes a second (10) across the site for `--seconds`, each
at a station picked at random; a share of them (`--double`, 10 %) swipe their card at a
second station within the same second. A PIN guesser moves from station to station, one
wrong PIN every `--guess-every` seconds. Once every swipe is in, the bench waits for cupsd
to print what was released and reports:

- swipe to release, p50 / p99 / max, per station and overall: from the reader having the
  line to cupsd's answer to the release of that person's last job, as the station logs it
  (`… job(s) released N ms after the swipe`), the measure of release_bench;
- the jobs printed exactly once: every job of every person who swiped came out once (none
  twice, none lost), and no job of anyone else came out;
- how many guesses were checked before the site-wide lockout refused the guesser;
- the database connections the stations held (pg_stat_activity, sampled), cupsd's CPU
  time, and each station's CPU time and resident memory.

    python -m bench.site_bench [--stations 8] [--rate 10] [--seconds 60]
                               [--jobs 20000] [--owners 2000] [--double 0.1]

Loading 20,000 jobs into cupsd takes minutes; every station then lists them once to build
its held-job index. On a 2-core machine eight stations, cupsd, slapd and PostgreSQL share
the cores: say how busy the machine was when quoting a run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.ldap_seed import bench_card, bench_uid, seed_users
from bench.release_bench import Arrivals, cpu_ms, load_jobs, percentile, proc_mib
from bench.servers.postgres import pg_schema_url
from bench.servers.slapd import SlapdServer
from bench.servers.terminal import Terminal
from releasestation import config as config_mod
from releasestation.app import App
from releasestation.config import CupsSettings
from releasestation.demo.private_cups import PrivateCups
from releasestation.printq import PrintServer

REPO = Path(__file__).resolve().parents[1]
PIN_DIGITS = 6
RELEASED = re.compile(r"(\d+) job\(s\) released ([\d.]+) ms after the swipe")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
INDEX_BUILT = "held-job index: "
APP_NAME = "rs-site-bench"


class SiteCups(PrivateCups):
    """The site's central cupsd, set up as docs/site.md tells a site to: keeping
    `max_events` job events per subscription (`MaxEvents`, 100 by default: every station's
    held-job index subscribes, and at 2 swipes a second a default cupsd already drops
    events — each released job makes four to six —, so each index distrusts itself and
    lists every held job again, docs/cups.md) and writing job states to disk every
    `dirty_clean` seconds (`DirtyCleanInterval`, 30 by default; None keeps cupsd's)."""

    def __init__(self, root: Path, max_events: int, dirty_clean: int | None):
        super().__init__(root)
        self.max_events = max_events
        self.dirty_clean = dirty_clean

    def _cupsd_conf(self) -> str:
        extra = f"MaxEvents {self.max_events}\n" if self.max_events else ""
        if self.dirty_clean is not None:
            extra += f"DirtyCleanInterval {self.dirty_clean}\n"
        return super()._cupsd_conf() + extra


@dataclass
class Station:
    """One `releasestation run` process and the terminal its reader dials."""

    number: int
    root: Path
    terminal: Terminal = field(default_factory=Terminal)
    proc: subprocess.Popen[bytes] | None = None
    printer: str | None = None  # its own follow-me printer, else the hold queue prints

    @property
    def name(self) -> str:
        return f"st{self.number}"

    @property
    def log(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def ini(self) -> Path:
        return self.root / f"{self.name}.ini"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "releasestation", "-c", str(self.ini), "run"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
            )  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.terminal.close()

    def lines(self) -> list[str]:
        return self.log.read_text("utf-8", "replace").splitlines()


def station_ini(
    station: Station, root: Path, url: str, cups: PrivateCups, slapd, timeout: float
) -> str:
    directory = slapd.settings()
    password = root / "bind.pw"
    password.write_text(directory.bind_password + "\n")
    password.chmod(0o600)
    return f"""[station]
name = {station.name}
hold_queues = Secure
secret_file = {root}/secret
owner_domains = CORP
pin_max_digits = {PIN_DIGITS}
{f"printer = {station.printer}" if station.printer else ""}
[cups]
server = {cups.socket}
timeout_seconds = {timeout:g}
[directory]
type = ldap
uri = {", ".join(directory.uri)}
bind_dn = {directory.bind_dn}
bind_password_file = {password}
base_dn = {directory.base_dn}
card_attributes = {", ".join(directory.card_attributes)}
ca_file = {directory.ca_file}
[database]
url = {url}
[monitoring]
listen = 127.0.0.1:0
[logging]
level = debug
[reader:door]
type = papercut
host = 127.0.0.1
port = {station.terminal.port}
"""


def job_mix(jobs: int, owners: int) -> list[tuple[int, int]]:
    """(jobs per owner, owners): owners spread evenly over 1 to 19 jobs each (10 on
    average), scaled so that about `jobs` jobs of `owners` owners are held."""
    per_group = max(1, owners // 19)
    scale = jobs / (owners * 10)
    return [(max(1, round(n * scale)), per_group) for n in range(1, 20)]


@dataclass
class Swipe:
    at: float  # seconds from the start of the swipes
    station: int
    value: str
    kind: str  # card | double | guess


def schedule(args, people: list[int], stations: int, rng: random.Random) -> list[Swipe]:
    """Card swipes at `--rate` a second (a double swipe counts twice) and the guesser's
    PINs, by time."""
    swipes: list[Swipe] = []
    t, gap = 0.0, 1 / args.rate
    for i in people:
        if t >= args.seconds:
            break
        first = rng.randrange(stations)
        swipes.append(Swipe(t, first, bench_card(i), "card"))
        t += gap
        if rng.random() < args.double:
            other = (first + rng.randrange(1, stations)) % stations if stations > 1 else first
            swipes.append(Swipe(t - gap + rng.uniform(0.05, 0.95), other, bench_card(i), "double"))
            t += gap
    guess_at = 0.5
    for n in range(int(args.seconds / args.guess_every)):
        value = f"{rng.randrange(10**PIN_DIGITS):0{PIN_DIGITS}d}"
        swipes.append(Swipe(guess_at + n * args.guess_every, n % stations, value, "guess"))
    return sorted(swipes, key=lambda s: s.at)


def send(swipes: list[Swipe], stations: list[Station]) -> float:
    """Send every swipe at its time; returns how late the latest one went out, in s."""
    started, late = time.monotonic(), 0.0
    for swipe in swipes:
        wait = started + swipe.at - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        late = max(late, -wait)
        stations[swipe.station].terminal.swipe(swipe.value)
    return late


class ConnectionCount:
    """Samples how many connections the stations hold on PostgreSQL."""

    def __init__(self, url: str):
        self.engine = create_engine(url)
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def count(self) -> int:
        query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"
        with self.engine.connect() as conn:
            return int(conn.execute(text(query), {"a": APP_NAME}).scalar_one())

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):
                self.samples.append(self.count())

    def __enter__(self) -> ConnectionCount:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.engine.dispose()


def process_cpu_ms(pid: int) -> float:
    """CPU time of process `pid` and all its threads (user and system), in ms."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def stamp(line: str) -> dt.datetime | None:
    found = STAMP.match(line)
    return dt.datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S,%f") if found else None


def wait_for(condition, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def summary(ms: list[float]) -> str:
    if not ms:
        return "no releases"
    ms = sorted(ms)
    return (
        f"p50 {statistics.median(ms):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
        f"max {ms[-1]:.1f} ms ({len(ms)} releases)"
    )


def by_time(timed: list[tuple[dt.datetime, float]], width: float = 10) -> str:
    """p50/p99 of the releases in each `width` seconds from the first: does the site
    keep up, or fall behind as the swipes go on?"""
    if not timed:
        return "no releases"
    start = min(at for at, _ in timed)
    slices: dict[int, list[float]] = {}
    for at, ms in timed:
        slices.setdefault(int((at - start).total_seconds() // width), []).append(ms)
    return "; ".join(
        f"{n * width:g}-{(n + 1) * width:g} s p50 {statistics.median(ms):.0f} / "
        f"p99 {percentile(sorted(ms), 99):.0f} ms"
        for n, ms in sorted(slices.items())
    )


def held_by_owner(cups: PrivateCups) -> dict[str, list[int]]:
    """Every held job's id, by owner (CORP\\user counted as user)."""
    server = PrintServer(CupsSettings(server=cups.socket, timeout_seconds=120))
    try:
        jobs = server.held_jobs(["Secure"])
    finally:
        server.close()
    owned: dict[str, list[int]] = {}
    for job in jobs:
        owned.setdefault(job.owner.rpartition("\\")[2].lower(), []).append(job.id)
    return owned


def guesses(stations: list[Station]) -> tuple[int, int, int, bool]:
    """(guesses checked before the site lockout first refused one, refused by the site
    lockout, refused by a reader's own lockout, whether a station locked the site), from
    the stations' logs in time order."""
    seen = []
    for station in stations:
        for line in station.lines():
            if "denied pin" in line:
                seen.append((stamp(line), line))
    checked = site = reader = 0
    locked = any("site-locked" in line for s in stations for line in s.lines())
    for _, line in sorted(seen, key=lambda s: s[0] or dt.datetime.min):
        if "across the site" in line:
            site += 1
        elif "at this reader" in line:
            reader += 1
        elif not site:
            checked += 1
    return checked, site, reader, locked


def run(args: argparse.Namespace) -> int:
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="rs-bench-", dir=shm) as tmp:
        root = Path(tmp)
        slapd = SlapdServer.create()
        urls = pg_schema_url()
        try:
            url = next(urls) + f"&application_name={APP_NAME}"
            mix = job_mix(args.jobs, args.owners)
            owners = sum(n for _, n in mix)
            seed_users(slapd, owners)
            slapd.start()
            with SiteCups(root / "cups", args.max_events, args.dirty_clean) as cups:
                cups.add_hold_queue("Secure", tally=True)
                arrivals = Arrivals(cups, first_user=owners, users=owners + 1)
                seconds, jobs, _ = load_jobs(cups, mix, arrivals, 0)
                print(f"cupsd: {jobs} held jobs of {owners} owners loaded in {seconds:.1f} s")
                return site(args, root, url, cups, slapd, owners)
        finally:
            slapd.destroy()
            with contextlib.suppress(StopIteration):
                next(urls)


def prepare_store(ini: Path) -> None:
    """The schema migrated and the site secret made and recorded once, before the stations
    start (each would otherwise make a secret of its own)."""
    app = App(config_mod.load(str(ini)))
    try:
        app.store.upgrade()
        app.record_secret()
    finally:
        app.close()


def site(args, root: Path, url: str, cups: PrivateCups, slapd, owners: int) -> int:
    owned = held_by_owner(cups)
    stations = [Station(n + 1, root) for n in range(args.stations)]
    if args.printers:
        for station in stations:
            station.printer = f"Printer{station.number}"
            cups.add_printer(station.printer, tally=True)
    for station in stations:
        station.ini.write_text(station_ini(station, root, url, cups, slapd, args.cups_timeout))
    prepare_store(stations[0].ini)
    rng = random.Random(args.seed)
    people = list(range(owners))
    rng.shuffle(people)
    swipes = schedule(args, people, len(stations), rng)
    started = time.monotonic()
    try:
        if args.start_together:  # as after a power cut: every station at once
            for station in stations:
                station.start()
            for station in stations:
                wait_built(station)
        else:
            for station in stations:  # one after another
                station.start()
                wait_built(station)
        how = "together" if args.start_together else "one after another"
        print(
            f"{len(stations)} stations started {how}, indexes built, in "
            f"{time.monotonic() - started:.1f} s"
        )
        time.sleep(5)  # the job watchers' first walk over the held jobs
        return measure(args, stations, swipes, cups, owned, url)
    finally:
        for station in stations:
            station.stop()
        if args.logs:
            Path(args.logs).mkdir(parents=True, exist_ok=True)
            for station in stations:
                if station.log.exists():
                    shutil.copy(station.log, args.logs)


def wait_built(station: Station) -> None:
    """Wait until `station`'s reader dialled its terminal and its held-job index is built.
    At start a station lists every held job three times (the index, housekeeping, the job
    watcher): `--start-together` shows what eight of them at once cost cupsd."""
    station.terminal.wait_connections(1, timeout=600)

    def built() -> bool:
        return any(INDEX_BUILT in line and "built in" in line for line in station.lines())

    if not wait_for(built, 600):
        raise SystemExit(f"{station.name} never built its held-job index")


def printing(cups: PrivateCups, wanted: int, still: float = 30, limit: float = 900) -> None:
    """Wait until `wanted` jobs came out, or none came out for `still` seconds (a job
    left then is counted as not printed), or `limit` seconds passed."""
    deadline = time.monotonic() + limit
    count, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(cups.tallied())
        if now >= wanted:
            return
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since > still:
            return
        time.sleep(1)


def measure(args, stations, swipes, cups, owned, url) -> int:
    pids = {s.name: s.proc.pid for s in stations if s.proc is not None}
    cpu_before = {name: process_cpu_ms(pid) for name, pid in pids.items()}
    cupsd_before = cpu_ms(cups.pid) or 0.0
    with ConnectionCount(url.replace(f"&application_name={APP_NAME}", "")) as conns:
        late = send(swipes, stations)
        swiped = {int(s.value[1:]) for s in swipes if s.kind != "guess"}
        wanted = sorted(j for i in swiped for j in owned.get(bench_uid(i), []))
        printing(cups, len(wanted))
        time.sleep(5)  # anything printed twice, or late, comes out meanwhile
        idle = conns.count()
    cupsd_cpu = (cpu_ms(cups.pid) or 0.0) - cupsd_before
    cpu = {name: process_cpu_ms(pid) - cpu_before[name] for name, pid in pids.items()}
    rss = {name: proc_mib(f"/proc/{pid}/status").get("VmRSS", float("nan"))
           for name, pid in pids.items()}  # fmt: skip
    printed = Counter(job_id for job_id, _ in cups.tallied())
    cards = sum(s.kind != "guess" for s in swipes)
    doubles = sum(s.kind == "double" for s in swipes)
    print(
        f"{cards} card swipes ({doubles} of them a second swipe at another station within "
        f"the second) and {len(swipes) - cards} wrong PINs in {args.seconds:g} s; "
        f"the latest went out {late * 1000:.0f} ms late"
    )
    everyone: list[float] = []
    timed: list[tuple[dt.datetime, float]] = []
    for station in stations:
        ms = []
        for line in station.lines():
            if m := RELEASED.search(line):
                ms.append(float(m[2]))
                if (at := stamp(line)) is not None:
                    timed.append((at, float(m[2])))
        everyone += ms
        print(f"  {station.name}: released {summary(ms)}")
    print(f"site: released {summary(everyone)}")
    print(f"site, by time: {by_time(timed)}")
    twice = sorted(j for j, n in printed.items() if n > 1)
    lost = sorted(set(wanted) - set(printed))
    stray = sorted(set(printed) - set(wanted))
    print(
        f"jobs: {len(wanted)} of the people who swiped, {len(printed)} printed; "
        f"printed twice: {len(twice)}, not printed: {len(lost)}, of someone else: {len(stray)}"
    )
    checked, site_refused, reader_refused, locked = guesses(stations)
    print(
        f"guesser: {checked} wrong PINs checked before the site lockout refused one; then "
        f"{site_refused} refused across the site ({reader_refused} by a reader's own lockout);"
        f" the site {'was' if locked else 'was never'} locked"
    )
    peak = max(conns.samples, default=0)
    print(f"PostgreSQL connections of the stations: at most {peak}, {idle} idle at the end")
    total = sum(cpu.values())
    print(
        f"CPU over the swipes: cupsd {cupsd_cpu / 1000:.1f} s, stations {total / 1000:.1f} s "
        f"together ({', '.join(f'{n} {c / 1000:.1f}' for n, c in cpu.items())})"
    )
    print(
        f"station RSS: {min(rss.values()):.1f} to {max(rss.values()):.1f} MiB "
        f"({sum(rss.values()):.0f} MiB for {len(rss)} stations)"
    )
    ok = not (twice or lost or stray)
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.site_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stations", type=int, default=8)
    parser.add_argument("--rate", type=float, default=10, help="card swipes a second, site-wide")
    parser.add_argument("--seconds", type=float, default=60, help="how long people swipe")
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs held at the start")
    parser.add_argument("--owners", type=int, default=2_000)
    parser.add_argument("--double", type=float, default=0.1, help="share swiping twice")
    parser.add_argument("--guess-every", type=float, default=1.0, help="seconds per guess")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument(
        "--printers",
        action="store_true",
        help="each station releases to a printer of its own (follow-me) instead of the "
        "shared hold queue printing every station's jobs",
    )
    parser.add_argument(
        "--max-events",
        type=int,
        default=20_000,
        help="cupsd's MaxEvents (0: cupsd's default, 100)",
    )
    parser.add_argument(
        "--dirty-clean",
        type=int,
        default=1,
        help="cupsd's DirtyCleanInterval in seconds, as docs/site.md has a central cupsd "
        "set it (1; cupsd's own default is 30)",
    )
    parser.add_argument(
        "--cups-timeout",
        type=float,
        default=10,
        help="the stations' [cups] timeout_seconds (a listing of 20,000 held jobs can "
        "take longer than the default 10 s while other stations list theirs)",
    )
    parser.add_argument(
        "--start-together",
        action="store_true",
        help="start every station at once (as after a power cut), not one after another",
    )
    parser.add_argument("--logs", metavar="DIR", help="keep the stations' logs there")
    args = parser.parse_args(argv)
    if not 1 <= args.stations <= 64 or args.rate <= 0 or args.seconds <= 0:
        parser.error("need 1 <= stations <= 64, a rate and seconds above 0")
    if not 19 <= args.owners <= 100_000 or args.jobs < args.owners:
        parser.error("need 19 <= owners <= 100000 and at least one job an owner")
    if not 0 <= args.double <= 1 or args.guess_every <= 0:
        parser.error("--double is a share (0 to 1); --guess-every above 0")
    if args.rate * args.seconds > args.owners:
        parser.error("everyone swipes once: rate * seconds must not exceed the owners")
    # SIGTERM stops it as Ctrl-C does: stations, cupsd, slapd and the schema cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
