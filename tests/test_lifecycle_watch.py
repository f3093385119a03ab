# SPDX-License-Identifier: GPL-3.0-or-later
"""Noticing new held jobs with a light poll of the real cupsd."""

from __future__ import annotations

import time

import pytest

from releasestation.errors import PrintServerError
from releasestation.printq.watch import NewJobs


@pytest.fixture
def new_jobs(cups_clean, print_server):
    return NewJobs(print_server, ["Secure"])


def test_first_everything_held_then_only_what_arrived(new_jobs, cups_clean, print_server):
    before = cups_clean.submit_many([("alice", "a"), ("bob", "b")])
    cups_clean.submit("carol", "elsewhere", queue="Secure2")  # not a queue of this watcher
    assert [j.id for j in new_jobs.poll()] == before
    assert new_jobs.poll() == []
    after = cups_clean.submit("dave", "d")
    [job] = new_jobs.poll()
    assert (job.id, job.owner, job.title, job.queue) == (after, "dave", "d", "Secure")
    print_server.release(job)
    assert new_jobs.poll() == []


def test_a_poll_is_light(new_jobs, cups_clean):
    cups_clean.submit_many([(f"user{i}", "x") for i in range(200)])
    new_jobs.poll()
    began = time.perf_counter()
    for _ in range(50):
        assert new_jobs.poll() == []
    per_poll = (time.perf_counter() - began) / 50
    assert per_poll < 0.01, f"{per_poll * 1000:.1f} ms per poll with 200 jobs held"


def test_resync_forgets_nothing_and_repeats_nothing(cups_clean, print_server):
    watch = NewJobs(print_server, ["Secure"], 0)
    first = cups_clean.submit("alice", "a")
    assert [j.id for j in watch.poll()] == [first]
    assert watch.poll() == []  # every poll is a full listing here
    second = cups_clean.submit("bob", "b")
    assert [j.id for j in watch.poll()] == [second]


def test_cupsd_away_and_back(new_jobs, cups_clean):
    first = cups_clean.submit("alice", "a")
    assert [j.id for j in new_jobs.poll()] == [first]
    cups_clean.stop()
    try:
        with pytest.raises(PrintServerError, match="unreachable"):
            new_jobs.poll()
    finally:
        cups_clean.start()
    later = cups_clean.submit("bob", "b")
    assert [j.id for j in new_jobs.poll()] == [later]
