# SPDX-License-Identifier: GPL-3.0-or-later
"""`kill -9` of a real station process at random points of a release.

Each round holds a few new jobs, swipes, and SIGKILLs `releasestation run`: in half the
rounds the moment its claims are in the store (inside the release: a release takes some
10 to 50 ms, which a random point rarely hits), in the others at a random point between the
swipe and well after its release; the station is started again (it settles
what it left claimed before its reader starts) and swiped once more. At the end every job
came out of the printer exactly once, is audited "ok" exactly once, and no claim is left.
CI runs a few rounds on each database; RELEASESTATION_FAULTS=full runs 100 on each.
"""

from __future__ import annotations

import random
import time
from collections import Counter

from tests.faults.conftest import FULL, scaled
from tests.fixtures.station import add_user, audit_rows
from tests.test_crash_restart import claims_left, every_job_printed_once_and_audited_ok_once
from tests.waiting import wait_for

CARD = "55667788"


def test_kill_9_at_random_points_of_a_release_prints_every_job_once(
    daemon_for, cups_clean, db_url, make_app
):
    """Proves "crash-safe, never print twice" against a real process and cupsd: fails if
    a job killed mid-release is printed twice, never printed, audited twice, or if a
    claim is left behind after the restart."""
    rng = random.Random(scaled(1, 100))
    app = make_app()
    add_user(app, "alice", card=CARD)
    # no debounce: a round's first swipe comes within seconds of the last round's second
    daemon = daemon_for(cups_clean, db_url, station="debounce_seconds = 0\n")
    daemon.start()
    jobs: list[int] = []
    left_at_kill: Counter[bool] = Counter()  # whether a kill left claims (mid-release)
    for n in range(scaled(2, 100)):
        new = cups_clean.submit_many(
            [("alice", f"round {n} page {i}") for i in range(rng.randint(1, 8))]
        )
        jobs += new
        total = len(jobs)

        def all_out(total: int = total) -> bool:
            return len(cups_clean.printed()) >= total

        daemon.swipe(CARD)
        if rng.random() < 0.5:  # inside the release: as soon as its claims are written
            wait_for(lambda: claims_left(app), 2, step=0.001)
        else:  # anywhere from before the release to well after it
            time.sleep(rng.uniform(0.0, 0.4))
        daemon.kill()
        left_at_kill[len(claims_left(app)) > 0] += 1
        daemon.start()  # settles this station's claims before its reader starts
        assert claims_left(app) == [], "claims settled at start"
        daemon.swipe(CARD)
        assert wait_for(all_out, 20), f"round {n}: {len(cups_clean.printed())} of {total} printed"
    daemon.stop()
    time.sleep(0.5)  # a job printed twice would come out meanwhile
    print(
        f"\nkill -9: {sum(left_at_kill.values())} rounds, {len(jobs)} jobs; the kill left claims"
        f" (inside a release) in {left_at_kill[True]}, none in {left_at_kill[False]}"
    )
    every_job_printed_once_and_audited_ok_once(app, cups_clean, jobs)
    assert len(audit_rows(app, "release")) >= len(jobs)
    if FULL:  # the random points did fall inside releases, and outside them
        assert left_at_kill[True] and left_at_kill[False], left_at_kill
