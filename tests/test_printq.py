# SPDX-License-Identifier: GPL-3.0-or-later
"""PrintServer against a real private cupsd: listing, releasing, moving, recovering."""

from __future__ import annotations

import json
import re
import threading
import time

import cups
import pytest

from releasestation.config import CupsSettings
from releasestation.demo.private_cups import PrivateCups
from releasestation.errors import PrintServerError
from releasestation.printq import HELD, PrintServer
from releasestation.printq.jobs import printer_uri

ALICE = ["alice", "CORP\\alice", "alice@corp.example.org"]
OWNERS = ["alice", "CORP\\alice", "alice@corp.example.org", "ALICE", "bob"]


def submit_owners(cupsd: PrivateCups, queue: str = "Secure") -> dict[str, int]:
    return {owner: cupsd.submit(owner, f"report of {owner}", queue=queue) for owner in OWNERS}


def test_held_jobs_are_listed_per_owner(cups_clean, print_server):
    ids = submit_owners(cups_clean)
    other_queue = cups_clean.submit("alice", "elsewhere", queue="Secure2")
    jobs = print_server.held_jobs_for(["Secure"], ALICE)
    assert [j.id for j in jobs] == [ids[o] for o in OWNERS if o != "bob"]
    assert {j.owner for j in jobs} == {"alice", "CORP\\alice", "alice@corp.example.org", "ALICE"}
    first = jobs[0]
    assert (first.title, first.queue, first.state) == ("report of alice", "Secure", HELD)
    assert first.printer_uri.endswith("/printers/Secure")
    assert abs(first.created - time.time()) < 120
    assert first.size_kb == 1
    both = print_server.held_jobs_for(["Secure", "Secure2"], ["alice"])
    assert other_queue in [j.id for j in both]
    assert [j.id for j in print_server.held_jobs_for(["Secure"], ["bob"])] == [ids["bob"]]


def test_held_jobs_for_never_returns_someone_elses_job(cups_clean, print_server):
    submit_owners(cups_clean)
    cups_clean.submit("alice2", "not alice's")
    for names in (["alic"], ["*"], ["alice*"], [""], [], ["CORP\\"], ["carol"]):
        assert print_server.held_jobs_for(["Secure"], names) == [], names
    assert print_server.held_jobs_for(["Secure2"], ALICE) == []
    assert print_server.held_jobs_for(["NoSuchQueue"], ALICE) == []


def test_held_jobs_lists_every_held_job_on_the_queues(cups_clean, print_server):
    ids = submit_owners(cups_clean)
    second = cups_clean.submit("bob", "on the other queue", queue="Secure2")
    assert [j.id for j in print_server.held_jobs(["Secure"])] == sorted(ids.values())
    both = print_server.held_jobs(["Secure", "Secure2"])
    assert [j.id for j in both] == sorted([*ids.values(), second])
    assert {j.owner for j in both} == set(OWNERS)  # the station sees every owner


def test_release_prints_exactly_those_jobs(cups_clean, print_server):
    ids = submit_owners(cups_clean)
    data = b"%!PS\n% alice's secret report\nshowpage\n"
    mine = cups_clean.submit("alice", "payload", data=data)
    for job in print_server.held_jobs_for(["Secure"], ALICE):
        print_server.release(job)
    expected = sorted([*[ids[o] for o in OWNERS if o != "bob"], mine])
    printed = cups_clean.wait_printed(len(expected))
    time.sleep(0.3)  # anything else would have come out by now
    printed = cups_clean.printed()
    assert [c.job_id for c in printed] == expected
    assert {c.queue for c in printed} == {"Secure"}
    assert next(c for c in printed if c.job_id == mine).data == data
    bob = print_server.job(ids["bob"])
    assert bob is not None and bob.state == HELD


def test_moved_job_stays_held_then_prints_on_target(cups_clean, print_server):
    job_id = cups_clean.submit("alice", "follow me")
    # Move only (as release() does first), through pycups as the station.
    connection = cups.Connection(host=cups_clean.socket)
    connection.moveJob(job_id=job_id, job_printer_uri=printer_uri("Lobby"))
    moved = print_server.job(job_id)
    assert moved is not None and (moved.queue, moved.state) == ("Lobby", HELD)
    time.sleep(0.3)
    assert cups_clean.printed() == []
    print_server.release(moved)
    [captured] = cups_clean.wait_printed(1)
    assert (captured.job_id, captured.queue) == (job_id, "Lobby")


def test_release_to_printer_moves_then_prints(cups_clean, print_server):
    job_id = cups_clean.submit("alice", "follow me")
    other = cups_clean.submit("bob", "stays")
    [job] = print_server.held_jobs_for(["Secure"], ["alice"])
    print_server.release(job, "Lobby")
    [captured] = cups_clean.wait_printed(1)
    assert (captured.job_id, captured.queue, captured.user) == (job_id, "Lobby", "alice")
    assert [j.id for j in print_server.held_jobs(["Secure"])] == [other]


def test_printer_problem(cups_clean, print_server):
    assert print_server.printer_problem("Lobby") is None
    cups_clean.stop_printer("Lobby", reason="paper jam")
    problem = print_server.printer_problem("Lobby")
    assert problem is not None and "stopped" in problem and "paper jam" in problem
    assert print_server.printer_problem("NoSuchQueue") == "no such queue"
    cups_clean.start_printer("Lobby")
    assert print_server.printer_problem("Lobby") is None


def test_stopped_target_prints_nothing(cups_clean, print_server):
    cups_clean.submit("alice", "waits")
    cups_clean.stop_printer("Lobby")
    assert print_server.printer_problem("Lobby")
    time.sleep(0.2)
    assert cups_clean.printed() == []
    assert len(print_server.held_jobs_for(["Secure"], ["alice"])) == 1


def test_queue_exists_and_holds(cups_clean, print_server):
    assert print_server.queue_exists("Secure") and print_server.queue_holds("Secure")
    assert print_server.queue_exists("Lobby") and not print_server.queue_holds("Lobby")
    assert not print_server.queue_exists("Nope") and not print_server.queue_holds("Nope")


def test_cancel_and_job_lookup(cups_clean, print_server):
    kept = cups_clean.submit("alice", "cancel, keep history")
    purged = cups_clean.submit("alice", "cancel and purge")
    print_server.cancel(kept, purge=False)
    print_server.cancel(purged)
    job = print_server.job(kept)
    assert job is not None and job.state == cups.IPP_JOB_CANCELED
    assert print_server.job(purged) is None
    assert print_server.held_jobs_for(["Secure"], ["alice"]) == []


def test_errors_name_the_server_and_the_job(cups_clean, print_server):
    job_id = cups_clean.submit("alice", "x")
    [job] = print_server.held_jobs_for(["Secure"], ["alice"])
    print_server.cancel(job_id)
    with pytest.raises(PrintServerError) as caught:
        print_server.release(job)
    assert cups_clean.socket in str(caught.value) and f"job {job_id}" in str(caught.value)
    with pytest.raises(PrintServerError, match="NoSuchPrinter"):
        print_server.release(print_server_job(cups_clean, print_server), "NoSuchPrinter")


def print_server_job(cupsd, server):
    cupsd.submit("carol", "for a missing printer")
    return server.held_jobs_for(["Secure"], ["carol"])[0]


def test_cupsd_restart_is_recovered_by_the_same_print_server(cups_clean, print_server):
    first = cups_clean.submit("alice", "before restart")
    assert [j.id for j in print_server.held_jobs_for(["Secure"], ["alice"])] == [first]
    print_server.release(print_server.held_jobs_for(["Secure"], ["alice"])[0])
    cups_clean.wait_printed(1)
    second = cups_clean.submit("alice", "across restart")
    cups_clean.restart()  # both of the server's connections now point at a dead cupsd
    [job] = print_server.held_jobs_for(["Secure"], ["alice"])
    assert job.id == second
    print_server.release(job)
    assert [c.job_id for c in cups_clean.wait_printed(2)] == [first, second]


def test_cupsd_down_is_a_print_server_error(cups_clean, print_server):
    cups_clean.submit("alice", "x")
    cups_clean.stop()
    try:
        with pytest.raises(PrintServerError, match=r"unreachable|connect"):
            print_server.held_jobs_for(["Secure"], ["alice"])
        with pytest.raises(PrintServerError, match=re.escape(cups_clean.socket)):
            print_server.cancel(1)
        assert print_server.check(["Secure"])[0].startswith(f"cupsd at {cups_clean.socket}")
    finally:
        cups_clean.start()
    assert len(print_server.held_jobs_for(["Secure"], ["alice"])) == 1


def test_threads_each_use_their_own_connection(cups_clean, print_server):
    owners = [f"user{i}" for i in range(8)]
    ids = {o: cups_clean.submit(o, f"job of {o}") for o in owners}
    user_before = cups.getUser()
    errors: list[BaseException] = []

    def release(owner: str) -> None:
        try:
            for job in print_server.held_jobs_for(["Secure"], [owner]):
                print_server.release(job, "Lobby")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=release, args=(o,)) for o in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(c.job_id for c in cups_clean.wait_printed(len(owners))) == sorted(ids.values())
    assert cups.getUser() == user_before


def test_submitting_restores_the_threads_cups_user(cups_clean):
    before = cups.getUser()
    cups_clean.submit("somebody-else", "x")
    assert cups.getUser() == before


def test_close_then_use_again(cups_clean):
    server = PrintServer(CupsSettings(server=cups_clean.socket))
    cups_clean.submit("alice", "x")
    assert len(server.held_jobs_for(["Secure"], ["alice"])) == 1
    server.close()
    assert len(server.held_jobs_for(["Secure"], ["alice"])) == 1
    server.close()


def print_order(cupsd: PrivateCups) -> list[int]:
    """Job ids in the order the capture backend received them (one job at a time)."""
    metas = sorted(cupsd.captures.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    return [int(json.loads(p.read_text("utf-8"))["job_id"]) for p in metas]


def test_release_all_prints_every_job_in_the_order_sent(cups_clean, print_server):
    ids = [cups_clean.submit("alice", f"chapter {n}") for n in range(8)]
    other = cups_clean.submit("bob", "stays")
    jobs = print_server.held_jobs_for(["Secure"], ["alice"])
    assert print_server.release_all(jobs) == [None] * len(ids)
    cups_clean.wait_printed(len(ids))
    assert print_order(cups_clean) == ids
    assert [j.id for j in print_server.held_jobs(["Secure"])] == [other]


def test_release_all_to_a_printer_moves_each_job(cups_clean, print_server):
    ids = [cups_clean.submit("alice", f"chapter {n}") for n in range(4)]
    jobs = print_server.held_jobs_for(["Secure"], ["alice"])
    assert print_server.release_all(jobs, "Lobby") == [None] * 4
    printed = cups_clean.wait_printed(4)
    assert [(c.job_id, c.queue) for c in printed] == [(i, "Lobby") for i in ids]


def test_release_all_reports_each_failure_and_releases_the_rest(cups_clean, print_server):
    ids = [cups_clean.submit("alice", f"chapter {n}") for n in range(5)]
    jobs = print_server.held_jobs_for(["Secure"], ["alice"])
    print_server.cancel(ids[0])  # gone before the release: the first, released alone
    print_server.cancel(ids[3])  # and one of those released together
    errors = print_server.release_all(jobs)
    assert [e is None for e in errors] == [False, True, True, False, True]
    assert all(f"job {ids[n]}" in str(errors[n]) for n in (0, 3))
    printed = cups_clean.wait_printed(3)
    assert [c.job_id for c in printed] == [ids[1], ids[2], ids[4]]
    # the first that could be released went alone, so the order held
    assert print_order(cups_clean) == [ids[1], ids[2], ids[4]]
    assert print_server.release_all([]) == []


def test_submit_on_a_helper_runs_at_once(cups_clean, print_server):
    # Helpers that wait for other helpers could all end up waiting; a helper's own
    # submissions run in place, so even more nested requests than helpers finish.
    def nested(depth: int) -> int:
        if depth == 0:
            return len(print_server.held_jobs_for(["Secure"], ["alice", "CORP\\alice"]))
        return print_server.submit(nested, depth - 1).result(timeout=10)

    cups_clean.submit("alice", "x")
    pending = [print_server.submit(nested, 6) for _ in range(8)]
    assert [p.result(timeout=20) for p in pending] == [1] * 8
