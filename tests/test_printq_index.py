# SPDX-License-Identifier: GPL-3.0-or-later
"""The held-job index against a real private cupsd: complete at the moment of the question,
or it says it cannot vouch (None) and the swipe (HeldJobs) asks cupsd the slow way."""

from __future__ import annotations

import contextlib
import pwd
import threading
import time
from collections.abc import Iterator

import cups
import pytest

from releasestation.config import CupsSettings
from releasestation.demo.private_cups import PrivateCups
from releasestation.owner_names import OwnerMatcher
from releasestation.printq import HELD, PrintServer
from releasestation.printq.index import REBUILD_PAUSE, SWIPE_ASKS, HeldIndex
from releasestation.printq.jobs import printer_uri
from releasestation.release import HeldJobs
from tests.waiting import wait_for

ALICE = ["alice", "CORP\\alice"]
STATION = "daemon"  # an account of every Debian system, not in cupsd's SystemGroup


@pytest.fixture
def index(print_server: PrintServer) -> Iterator[HeldIndex]:
    """An index of Secure (built, no helper thread: each test drives it)."""
    made = HeldIndex(print_server, ["Secure"], rebuild_pause=0)
    assert made.build(), made.stale_reason
    yield made
    made.stop()


@contextlib.contextmanager
def index_on(
    cupsd: PrivateCups, queues=("Secure",), user: str | None = None, **options
) -> Iterator[HeldIndex]:
    """An index of `queues` on `cupsd` (not built), on a print server of its own acting as
    `user`; both stopped and closed afterwards."""
    server = PrintServer(CupsSettings(server=cupsd.socket, user=user, timeout_seconds=5))
    made = HeldIndex(server, list(queues), **{"rebuild_pause": 0, **options})
    try:
        yield made
    finally:
        made.stop()
        server.close()


def ids(jobs) -> list[int]:
    return [job.id for job in jobs]


def subscriptions(cupsd: PrivateCups) -> list[int]:
    conn = cups.Connection(host=cupsd.socket)
    try:
        return [s["notify-subscription-id"] for s in conn.getSubscriptions("ipp://localhost/")]
    except cups.IPPError:  # "no subscriptions"
        return []


def test_the_index_finds_each_owners_held_jobs_like_cupsd_does(cups_clean, print_server):
    mine = [cups_clean.submit(owner, "x") for owner in ("alice", "CORP\\alice", "ALICE")]
    bob = cups_clean.submit("bob", "x")
    cups_clean.submit("alice", "on another hold queue", queue="Secure2")
    index = HeldIndex(print_server, ["Secure"])
    assert index.held_for(["Secure"], ALICE) is None  # not built: cannot vouch
    assert index.build() and index.trusted
    assert ids(index.held_for(["Secure"], ["alice", "CORP\\alice"])) == mine
    assert ids(index.held_for(["Secure"], ["bob"])) == [bob]
    for names in (["alic"], ["*"], [""], [], ["carol"], ["CORP\\"]):
        assert index.held_for(["Secure"], names) == [], names
    assert index.held_for(["Secure2"], ALICE) is None  # not a queue it keeps
    index.stop()


def test_a_job_sent_just_before_the_swipe_is_found(cups_clean, index):
    assert index.held_for(["Secure"], ALICE) == []
    job = cups_clean.submit("CORP\\alice", "sent a moment ago")  # no poll in between
    [found] = index.held_for(["Secure"], ALICE)
    assert (found.id, found.owner, found.state, found.queue) == (job, "CORP\\alice", HELD, "Secure")


def test_many_jobs_sent_at_the_swipe_are_left_to_the_helper(cups_clean, print_server, index):
    jobs = cups_clean.submit_many([("alice", f"n{n}") for n in range(SWIPE_ASKS + 1)])
    assert index.held_for(["Secure"], ALICE) is None  # the slow way is cheaper now
    assert index.trusted
    assert ids(print_server.held_jobs_for(["Secure"], ALICE)) == jobs
    index.keep_up()  # the helper's round asks about them
    assert ids(index.held_for(["Secure"], ALICE)) == jobs
    more = cups_clean.submit_many([("CORP\\alice", f"m{n}") for n in range(SWIPE_ASKS)])
    assert ids(index.held_for(["Secure"], ALICE)) == jobs + more


def test_released_cancelled_and_held_again_jobs_follow_cupsd(cups_clean, print_server, index):
    jobs = [cups_clean.submit("alice", f"chapter {n}") for n in range(3)]
    cups_clean.stop_printer("Secure")  # released jobs wait, so one can be held again
    try:
        for job in print_server.held_jobs_for(["Secure"], ["alice"]):
            print_server.release(job)
        assert index.held_for(["Secure"], ALICE) == []
        conn = cups.Connection(host=cups_clean.socket)
        conn.setJobHoldUntil(jobs[1], "indefinite")  # held again by an administrator
        assert ids(index.held_for(["Secure"], ALICE)) == [jobs[1]]
        print_server.cancel(jobs[1])
        assert index.held_for(["Secure"], ALICE) == []
    finally:
        cups_clean.start_printer("Secure")


def test_a_job_moved_into_or_out_of_the_hold_queue_is_followed(cups_clean, index):
    job = cups_clean.submit("alice", "moved in", queue="Secure2")
    assert index.held_for(["Secure"], ALICE) == []
    conn = cups.Connection(host=cups_clean.socket)
    conn.moveJob(job_id=job, job_printer_uri=printer_uri("Secure"))
    [found] = index.held_for(["Secure"], ALICE)
    assert (found.id, found.queue) == (job, "Secure")
    conn.moveJob(job_id=job, job_printer_uri=printer_uri("Secure2"))
    assert index.held_for(["Secure"], ALICE) == []


def test_a_purged_job_is_dropped_with_the_others_kept(cups_clean, print_server, index):
    jobs = [cups_clean.submit("alice", f"n{n}") for n in range(3)]
    assert ids(index.held_for(["Secure"], ALICE)) == jobs
    print_server.cancel(jobs[0], purge=True)
    assert ids(index.held_for(["Secure"], ALICE)) == jobs[1:]
    assert index.trusted
    # Asked about by id, cupsd refuses a whole batch when one of the jobs is gone; the
    # index then asks about each on its own.
    assert set(index._fetch([jobs[0], jobs[1], jobs[2]])) == {jobs[1], jobs[2]}


def test_lost_events_make_the_index_say_so_until_it_is_rebuilt(cups_clean, print_server, index):
    # cupsd keeps the last 100 events of a subscription (MaxEvents); 120 new jobs between
    # two looks lose the first ones, and with them, perhaps, someone's job.
    first = cups_clean.submit("alice", "lost among many")
    cups_clean.submit_many([(f"user{n}", "x") for n in range(120)])
    assert index.held_for(["Secure"], ALICE) is None
    assert not index.trusted and "lost" in index.stale_reason
    assert ids(print_server.held_jobs_for(["Secure"], ALICE)) == [first]  # the slow way
    assert index.build()
    assert ids(index.held_for(["Secure"], ALICE)) == [first]


def test_a_cupsd_restart_makes_the_index_say_so(cups_clean, print_server, index):
    job = cups_clean.submit("alice", "before the restart")
    assert ids(index.held_for(["Secure"], ALICE)) == [job]
    cups_clean.restart()
    assert index.held_for(["Secure"], ALICE) is None
    assert not index.trusted
    assert ids(print_server.held_jobs_for(["Secure"], ALICE)) == [job]
    assert index.build()
    assert ids(index.held_for(["Secure"], ALICE)) == [job]


def test_a_subscription_cancelled_behind_its_back_makes_it_say_so(cups_clean, index):
    cups_clean.submit("alice", "x")
    conn = cups.Connection(host=cups_clean.socket)
    for number in subscriptions(cups_clean):
        conn.cancelSubscription(number)
    assert index.held_for(["Secure"], ALICE) is None
    assert "subscription" in index.stale_reason


def test_the_service_builds_keeps_up_and_cleans_up(cups_clean, print_server):
    before = subscriptions(cups_clean)
    job = cups_clean.submit("alice", "x")
    index = HeldIndex(print_server, ["Secure"], poll_seconds=0.05)
    held = HeldJobs(print_server, ["Secure"], lambda: OwnerMatcher(("CORP",)), index=index)
    index.start()
    try:
        wait_for(lambda: index.trusted, timeout=10, step=0.02)
        assert index.trusted and index.builds == 1
        assert len(subscriptions(cups_clean)) == len(before) + 1
        # the helper thread keeps up: more than MaxEvents over time lose nothing
        for n in range(6):
            cups_clean.submit_many([(f"user{n}", "x")] * 40)
            time.sleep(0.3)
        later = cups_clean.submit("CORP\\alice", "y")
        answered = index.answered
        assert ids(held.owned_by_name("alice")) == [job, later]
        assert index.answered == answered + 1, "the swipe's answer came from the index"
        assert index.trusted and index.builds == 1
    finally:
        index.stop()
    assert index.held_for(["Secure"], ALICE) is None, "stopped: it no longer vouches"
    assert ids(held.owned_by_name("alice")) == [job, later]  # cupsd answers
    assert subscriptions(cups_clean) == before


def test_a_stale_index_is_rebuilt_by_the_service_after_the_pause(cups_clean, print_server):
    index = HeldIndex(print_server, ["Secure"], poll_seconds=0.05, rebuild_pause=0.5)
    assert index.build()
    cups_clean.restart()
    index.keep_up()  # the helper's round: notices the restart
    assert not index.trusted
    index.keep_up()  # within the pause: no listing yet
    assert not index.trusted and index.builds == 1
    time.sleep(0.6)
    index.keep_up()
    assert index.trusted and index.builds == 2
    index.stop()


# -- what the review of the index found -----------------------------------------------------


class TunedCups(PrivateCups):
    """A private cupsd with `extra` lines at the end of its cupsd.conf."""

    def __init__(self, extra: str, **options):
        super().__init__(**options)
        self.extra = extra

    def _cupsd_conf(self) -> str:
        return super()._cupsd_conf() + self.extra


def test_a_cupsd_that_keeps_no_events_is_not_trusted():
    # it accepts subscriptions but keeps no events
    with TunedCups("MaxEvents 0\n") as cupsd:
        cupsd.add_hold_queue("Secure")
        with index_on(cupsd) as index:
            assert not index.build()
            assert "MaxEvents" in index.stale_reason
            assert index.held_for(["Secure"], ALICE) is None


@pytest.fixture(scope="module")
def cupsd_for_daemon() -> Iterator[PrivateCups]:
    """The shipped policy for a station account that is not one of cupsd's SystemGroup
    (as on a real server): the hold queue's policy shows it owners, cupsd's DefaultPolicy
    (what a request about the whole server is judged by) does not."""
    pwd.getpwnam(STATION)
    with PrivateCups(station_user=STATION) as cupsd:
        cupsd.add_hold_queue("Secure")
        yield cupsd


def test_a_station_outside_the_system_group_finds_jobs_sent_after_the_build(cupsd_for_daemon):
    cupsd = cupsd_for_daemon
    with index_on(cupsd, user=STATION) as index:
        first = cupsd.submit("alice", "before the build")
        assert index.build(), index.stale_reason
        later = cupsd.submit("alice", "after the build")
        assert ids(index.held_for(["Secure"], ALICE)) == [first, later]


def test_a_station_outside_the_system_group_sees_new_jobs_owners(cupsd_for_daemon):
    # The job watcher's poll (owners resolved, visitors served as jobs arrive) asks each
    # hold queue too, not the whole server.
    cupsd = cupsd_for_daemon
    server = PrintServer(CupsSettings(server=cupsd.socket, user=STATION, timeout_seconds=5))
    try:
        job = cupsd.submit("visitor@example.org", "arrives")
        [seen] = [j for j in server.held_since(job, ["Secure"]) if j.id == job]
        assert seen.owner == "visitor@example.org"
    finally:
        server.close()


def test_owners_hidden_from_the_station_make_the_index_refuse(cups_default_clean):
    # CUPS's stock policy shows owners only to the owner and @SYSTEM. (A local owner: a
    # non-local one crashes Debian's cupsd 2.4.2-3+deb12u10 at Send-Document there.)
    cups_default_clean.submit("games", "whose?")
    with index_on(cups_default_clean, user=STATION) as index:
        assert not index.build()
        assert "hides the owner" in index.stale_reason
        assert index.held_for(["Secure"], ALICE) is None


def test_owner_names_match_as_cupsd_matches_them(cups_clean, print_server, index):
    # cupsd compares owners ignoring ASCII case only; so do the index, the print server
    # and the swipe's HeldJobs whichever of the two answers.
    kelvin = cups_clean.submit("\u212aarl", "Kelvin sign, not K")
    strasse = cups_clean.submit("stra\u00dfe", "sharp s")
    assert print_server.held_jobs_for(["Secure"], ["karl", "KARL"]) == []
    assert ids(print_server.held_jobs_for(["Secure"], ["\u212aARL"])) == [kelvin]
    for server_index in (index, None):
        held = HeldJobs(print_server, ["Secure"], OwnerMatcher, index=server_index)
        answered = index.answered
        assert held.owned_by_name("karl") == held.owned_by_name("KARL") == []
        assert held.owned_by_name("STRASSE") == held.owned_by_name("strasse") == []
        assert ids(held.owned_by_name("\u212aARL")) == [kelvin]
        assert ids(held.owned_by_name("STRA\u00dfE")) == [strasse]
        assert index.answered == answered + (6 if server_index else 0)


def test_a_swipe_does_not_wait_long_for_the_helper(index):
    # The helper holds the index while it asks cupsd about a burst of new jobs; a swipe
    # waits a moment, then asks cupsd the slow way.
    taken, release = threading.Event(), threading.Event()

    def helper_round() -> None:
        with index._lock:
            taken.set()
            release.wait(5)

    busy = threading.Thread(target=helper_round)
    busy.start()
    try:
        assert taken.wait(5)
        started = time.monotonic()
        assert index.held_for(["Secure"], ALICE) is None
        assert time.monotonic() - started < 1
        assert index.trusted
    finally:
        release.set()
        busy.join()
    assert index.held_for(["Secure"], ALICE) == []


# -- what the second review found ------------------------------------------------------------


class AllPrivateCups(PrivateCups):
    """CUPS's stock policy with every job attribute private (`JobPrivateValues all`): to a
    station outside SystemGroup cupsd shows neither a held job's owner nor its state."""

    def _cupsd_conf(self) -> str:
        conf = super()._cupsd_conf()
        assert "JobPrivateValues default" in conf
        return conf.replace("JobPrivateValues default", "JobPrivateValues all")


def test_owner_and_state_both_hidden_make_the_index_refuse():
    pwd.getpwnam(STATION)
    with AllPrivateCups(policy="default", station_user=STATION) as cupsd:
        cupsd.add_hold_queue("Secure")
        cupsd.submit("games", "whose, and in what state?")  # local: see above
        with index_on(cupsd, user=STATION) as index:
            assert not index.build()
            assert "hides the owner" in index.stale_reason


def test_a_lease_cut_short_by_cupsd_is_renewed_in_time():
    with TunedCups("MaxLeaseDuration 3\n") as cupsd:
        cupsd.add_hold_queue("Secure")
        with index_on(cupsd, poll_seconds=0.2, rebuild_pause=REBUILD_PAUSE) as index:
            index.start()
            wait_for(lambda: index.trusted, timeout=10, step=0.02)
            assert index.trusted
            time.sleep(5)  # longer than the lease cupsd grants
            assert index.trusted, index.stale_reason
            assert index._lease == 3
            assert index.builds == 1


def test_jobs_on_the_other_hold_queues_are_found_when_the_first_is_deleted():
    with PrivateCups() as cupsd:
        cupsd.add_hold_queue("Secure")
        cupsd.add_hold_queue("Secure2")
        with index_on(cupsd, ("Secure", "Secure2")) as index:
            assert index.build()
            cupsd._run("lpadmin", "-x", "Secure")
            job = cupsd.submit("alice", "on the queue that is left", queue="Secure2")
            assert ids(index.held_for(["Secure", "Secure2"], ALICE)) == [job]


def test_the_index_is_listed_again_now_and_then_even_when_all_is_well(cups_clean, print_server):
    index = HeldIndex(print_server, ["Secure"], resync_seconds=0.3)
    try:
        assert index.build() and index.builds == 1
        index.keep_up()
        assert index.builds == 1
        time.sleep(0.4)
        index.keep_up()
        assert index.trusted and index.builds == 2
    finally:
        index.stop()


def test_failed_builds_wait_longer_each_time(print_server):
    index = HeldIndex(print_server, ["NoSuchQueue"], rebuild_pause=10, lease_seconds=900)
    assert not index.build() and not index.build() and not index.build()
    assert index._pause() == 40  # 10, then 20, then 40
    index.stop()
