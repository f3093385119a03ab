# SPDX-License-Identifier: GPL-3.0-or-later
"""Fill a private slapd with many users, fast, for benchmarks of the card lookup.

Users go in offline with `slapadd -q` into the stopped server's mdb database, which is
far faster than adding them over LDAP. User i is `uid=bench<i>` under ou=people with
employeeNumber `bench_card(i)` and a mail address.

    python -m bench.ldap_seed --users 100000 --lookups 2000

seeds a fresh server, starts it, and times `LdapDirectory.user_by_card` on random users.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.servers.slapd import SlapdServer
from bench.servers.slapd_data import PEOPLE_DN, ldif_entry
from releasestation.directory.ldap import LdapDirectory


def bench_card(i: int) -> str:
    """The card number of bench user i (ten digits starting with 9: no seeded card does)."""
    return f"9{i:09d}"


def bench_uid(i: int) -> str:
    return f"bench{i:07d}"


def write_users_ldif(path: Path, count: int, first: int = 0) -> None:
    with path.open("w") as out:
        for i in range(first, first + count):
            uid = bench_uid(i)
            attributes = {
                "objectClass": "inetOrgPerson",
                "uid": uid,
                "cn": f"Bench User {i}",
                "sn": "User",
                "mail": f"{uid}@example.org",
                "employeeNumber": bench_card(i),
            }
            out.write(ldif_entry(f"uid={uid},{PEOPLE_DN}", attributes))


def seed_users(server: SlapdServer, count: int, first: int = 0) -> float:
    """Load `count` bench users into the stopped `server`; returns the seconds it took."""
    started = time.monotonic()
    path = server.workdir / "bench-users.ldif"
    write_users_ldif(path, count, first)
    server.load_ldif(path)
    path.unlink()
    return time.monotonic() - started


def time_lookups(server: SlapdServer, users: int, lookups: int) -> list[float]:
    """Seconds per `user_by_card` for `lookups` random bench users, after one warm-up."""
    with LdapDirectory(server.settings()) as directory:
        directory.user_by_card(bench_card(0))
        timings = []
        for i in random.sample(range(users), min(lookups, users)):
            started = time.perf_counter()
            user = directory.user_by_card(bench_card(i))
            timings.append(time.perf_counter() - started)
            if user is None or user.username != bench_uid(i):
                raise SystemExit(f"bench user {i} not found by card")
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ldap_seed", description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users: at least 1")
    server = SlapdServer.create()
    try:
        seconds = seed_users(server, args.users)
        print(f"seeded {args.users} users in {seconds:.1f} s")
        server.start()
        timings = sorted(time_lookups(server, args.users, args.lookups))
    finally:
        server.destroy()
    p50 = statistics.median(timings) * 1000
    p99 = timings[int(len(timings) * 0.99) - 1 if len(timings) > 1 else 0] * 1000
    print(f"user_by_card over {len(timings)} lookups: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
