# SPDX-License-Identifier: GPL-3.0-or-later
"""Time `releasestation backup` and `restore` of a store with a large audit trail.

    .venv/bin/python bench/backup_bench.py [--rows 100000] [--postgres] [--encrypt]

Generates the hash-chained trail of bench/report_bench.py in a fresh SQLite file (or, with
--postgres, a fresh schema on the test PostgreSQL server, bench/servers/postgres.py), backs
it up, restores it onto a second fresh store and runs `audit verify` there; prints the
seconds of each step and the archive's size.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report_bench import generate
from bench.servers.postgres import pg_schema_url
from releasestation import config as config_mod
from releasestation.app import App
from releasestation.audit import verify
from releasestation.backup import make_backup, restore_backup
from releasestation.store import Store

PASSPHRASE = b"a passphrase for the bench"


def station(root: Path, url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "releasestation.ini"
    path.write_text(
        f"[station]\nname = bench\nhold_queues = Secure\nsecret_file = {root}/secret\n"
        f"[database]\nurl = {url}\n[backup]\nstate_file = {root}/state.json\n"
    )
    return path


@contextlib.contextmanager
def database(postgres: bool, root: Path, name: str) -> Iterator[str]:
    if postgres:
        urls = pg_schema_url()
        try:
            yield next(urls)
        finally:
            urls.close()
    else:
        yield f"sqlite:///{root}/{name}.db"


def timed(what: str, call):
    began = time.perf_counter()
    result = call()
    print(f"  {what:<34} {time.perf_counter() - began:7.2f} s")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--encrypt", action="store_true")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        database(args.postgres, Path(tmp), "old") as old_url,
        database(args.postgres, Path(tmp), "new") as new_url,
    ):
        root = Path(tmp)
        old_path = station(root / "old", old_url)
        config = config_mod.load(str(old_path))
        app = App(config)
        app.store.upgrade()
        app.record_secret()
        print(f"{args.rows:,} audit rows, {'PostgreSQL' if args.postgres else 'SQLite'}")
        timed("generate", lambda: generate(app.store, args.rows))
        out = root / "station.tar.gz"
        passphrase = PASSPHRASE if args.encrypt else None
        made = timed(
            "backup",
            lambda: make_backup(config, old_path.read_text(), app.store, out, passphrase),
        )
        print(f"  {'archive':<34} {made.size / 1e6:7.1f} MB")
        new_path = station(root / "new", new_url)
        timed("restore", lambda: restore_backup(out, passphrase, str(new_path)))
        restored = Store(new_url)
        checked, bad, _why = timed("audit verify (restored)", lambda: verify(restored))
        restored.close()
        app.close()
        print(f"  {'rows verified':<34} {checked:7,}" + ("" if bad is None else f" BAD at {bad}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
