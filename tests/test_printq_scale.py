# SPDX-License-Identifier: GPL-3.0-or-later
"""The swipe hot path at scale: a cupsd holding thousands of jobs from hundreds of owners.

held_jobs_for() must ask cupsd for one owner's jobs, never the whole queue: listing every
held job costs time in proportion to the queue (seconds at 10,000 jobs), so the bound
below fails loudly if the hot path ever regresses to that. (Figures for 10,000 jobs from
1,000 owners: see docs/cups.md.)
"""

from __future__ import annotations

import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from releasestation.config import CupsSettings
from releasestation.demo.private_cups import PrivateCups
from releasestation.printq import PrintServer

JOBS, OWNERS = 2000, 200


@pytest.fixture(scope="module")
def loaded_cupsd() -> Iterator[tuple[PrivateCups, dict[str, list[int]]]]:
    # tmpfs when there is one: cupsd creates two spool files per job.
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and shutil.disk_usage(shm).free > 1 << 30 else None
    root = Path(tempfile.mkdtemp(prefix="rs-cups-scale-", dir=base))
    try:
        with PrivateCups(root=root) as cups:
            cups.add_hold_queue("Secure")
            cups.add_hold_queue("Other")
            specs = [(f"user{i % OWNERS:03d}", f"doc {i}") for i in range(JOBS)]
            ids = cups.submit_many(specs, "Secure")
            cups.submit_many([(f"user{i:03d}", "elsewhere") for i in range(OWNERS)], "Other")
            owned: dict[str, list[int]] = {}
            for (owner, _), job_id in zip(specs, ids, strict=True):
                owned.setdefault(owner, []).append(job_id)
            yield cups, owned
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_swipe_lookup_is_exact_and_does_not_scale_with_the_queue(loaded_cupsd):
    cups, owned = loaded_cupsd
    server = PrintServer(CupsSettings(server=cups.socket))
    rnd = random.Random(7)
    times = []
    try:
        for owner in rnd.sample(sorted(owned), 60):
            names = [owner, f"CORP\\{owner}", f"{owner}@corp.example.org"]
            started = time.perf_counter()
            jobs = server.held_jobs_for(["Secure"], names)
            times.append(time.perf_counter() - started)
            assert [j.id for j in jobs] == owned[owner]
        started = time.perf_counter()
        everything = server.held_jobs(["Secure"])
        full_listing = time.perf_counter() - started
    finally:
        server.close()
    assert len(everything) == JOBS
    median = statistics.median(times)
    assert median < 0.025, f"median swipe lookup {median * 1000:.1f} ms"
    assert median < full_listing / 5, (median, full_listing)
