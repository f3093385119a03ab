# SPDX-License-Identifier: GPL-3.0-or-later
"""Time `credgen batch` over many directory users, with mail off and with mail on.

Seeds a private slapd with `--users` users (bench/ldap_seed.py, offline, fast), then runs
credgen's batch against it on a fresh store and prints how long each pass took:

- mail off: every user gets a PIN (the first run of a site), then a second run in which
  everyone is up to date;
- with `--mail N` (a power of ten): the first N users, picked by `allowed_usernames`, get
  their PIN mailed to a local SMTP server (aiosmtpd on loopback, one connection reused for
  the batch, one transaction per user).

    python -m bench.credgen_bench --users 100000 --mail 100000 [--db postgres]

The store is SQLite in a temp dir (synchronous=FULL, as shipped), or with `--db postgres`
a fresh schema on the test PostgreSQL server ($RELEASESTATION_TEST_PG, else
postgresql+psycopg://postgres@127.0.0.1:5432/test), dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.servers.postgres import pg_schema_url
from bench.servers.slapd import SlapdServer
from bench.servers.smtp import Handler, SmtpServer
from credgen import run_batch
from credgen.progress import Progress
from releasestation import config
from releasestation.app import App

try:
    from bench.ldap_seed import bench_uid, seed_users
except ImportError:  # run as a file: bench/ is not a package on the path
    from ldap_seed import bench_uid, seed_users  # type: ignore[no-redef]

CONFIG = """
[station]
name = bench
hold_queues = Secure
secret_file = {root}/secret
pin_max_digits = 8
[database]
url = {url}
[credgen]
pin_length = {length}
{mail}
"""


@contextlib.contextmanager
def database(kind: str, root: Path) -> Iterator[str]:
    if kind == "postgres":
        yield from pg_schema_url()
    else:
        yield f"sqlite:///{root}/bench.db"


def make_app(root: Path, url: str, server: SlapdServer, length: int, mail: str) -> App:
    text = CONFIG.format(root=root, url=url, length=length, mail=mail)
    cfg = config.parse_text(text, "bench.ini")
    cfg = config.replace(cfg, directory=server.settings(page_size=1000))
    app = App(cfg)
    app.store.upgrade()
    return app


def timed_batch(app: App, label: str, users: int) -> float:
    started = time.monotonic()
    result = run_batch(app, progress=Progress(users, tty=False))
    seconds = time.monotonic() - started
    print(f"{label}: {seconds:.1f} s ({users / seconds:,.0f} users/s)")
    print("  " + result.summary().replace("\n", "\n  "))
    if not result.ok:
        raise SystemExit(f"{label}: the batch failed")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.credgen_bench", description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--mail", type=int, default=0, metavar="N", help="also mail N users")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args(argv)
    if args.mail and (args.mail > args.users or len(str(args.mail).rstrip("0")) != 1
                      or str(args.mail)[0] != "1"):  # fmt: skip
        parser.error("--mail: a power of ten, at most --users")
    length = 7 if args.users >= 100_000 else 6
    server = SlapdServer.create()
    try:
        print(f"seeding {args.users:,} users: {seed_users(server, args.users):.1f} s")
        server.start()
        with tempfile.TemporaryDirectory(prefix="credgen-bench-") as tmp:
            root = Path(tmp)
            with database(args.db, root) as url:
                off = make_app(root, url, server, length, "email_notifications = no")
                try:
                    timed_batch(off, "mail off, first run", args.users)
                    timed_batch(off, "mail off, nothing to do", args.users)
                finally:
                    off.close()
            if args.mail:
                bench_mail(root, args, server, length)
    finally:
        server.destroy()
    return 0


def first_users(count: int) -> str:
    """A regex for the user names of bench users 0 … count-1 (count a power of ten)."""
    digits = len(str(count)) - 1
    prefix = bench_uid(0)[: len(bench_uid(0)) - digits]
    return f"{prefix}[0-9]{{{digits}}}"


def bench_mail(root: Path, args: argparse.Namespace, server: SlapdServer, length: int) -> None:
    smtp = SmtpServer(Handler())
    try:
        mail = f"{smtp.ini()}allowed_usernames = {first_users(args.mail)}"
        (root / "mail").mkdir()
        with database(args.db, root / "mail") as url:
            app = make_app(root / "mail", url, server, length, mail)
            try:
                seconds = timed_batch(app, f"mail on, {args.mail:,} users", args.mail)
            finally:
                app.close()
        print(f"  {len(smtp.messages):,} mails over {smtp.connections} SMTP connection(s),"
              f" {1000 * seconds / max(args.mail, 1):.1f} ms per user")  # fmt: skip
    finally:
        smtp.stop()


if __name__ == "__main__":
    sys.exit(main())
