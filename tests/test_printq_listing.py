# SPDX-License-Identifier: GPL-3.0-or-later
"""Listing whole hold queues, and the watcher's resynchronisation, against the real cupsd."""

from __future__ import annotations

import cups
import pytest

from releasestation.demo.private_cups import RAW
from releasestation.printq.watch import NewJobs


def submit_with_priority(cupsd, owner: str, title: str, priority: int) -> int:
    before = cups.getUser()
    try:
        conn = cups.Connection(host=cupsd.socket)
        cups.setUser(owner)
        job_id: int = conn.createJob("Secure", title, {"job-priority": str(priority)})
        conn.startDocument("Secure", job_id, title, RAW, 1)
        conn.writeRequestData(b"x\n", 2)
        conn.finishDocument("Secure")
        return job_id
    finally:
        cups.setUser(before)


def test_every_held_job_of_the_queue_once(cups_clean, print_server):
    ids = cups_clean.submit_many([(f"user{i}", f"doc {i}") for i in range(10)])
    cups_clean.submit("other", "elsewhere", queue="Secure2")
    released = print_server.job(ids[4])
    assert released is not None
    print_server.release(released)
    listed = print_server.held_jobs(["Secure"])
    assert [job.id for job in listed] == [i for i in ids if i != ids[4]]
    assert {job.owner for job in listed} == {f"user{i}" for i in range(10) if i != 4}


def test_jobs_of_mixed_priority_are_all_listed_in_id_order(cups_clean, print_server):
    # cupsd lists active jobs by priority first, the station oldest first.
    ids = [
        submit_with_priority(cups_clean, f"user{i}", f"doc {i}", 90 if i % 3 == 0 else 20)
        for i in range(8)
    ]
    assert [job.id for job in print_server.held_jobs(["Secure"])] == ids


def test_watcher_lists_everything_after_cupsd_was_away(cups_clean, print_server):
    watch = NewJobs(print_server, ["Secure"])
    first = cups_clean.submit("alice", "a")
    assert [job.id for job in watch.poll()] == [first]
    watch.next_id = first + 1000  # as if cupsd came back without its job cache: ids reused
    cups_clean.stop()
    try:
        with pytest.raises(Exception, match="unreachable"):
            watch.poll()
    finally:
        cups_clean.start()
    later = cups_clean.submit("bob", "b")
    assert later < watch.next_id
    assert [job.id for job in watch.poll()] == [later]
    assert watch.poll() == []
