# SPDX-License-Identifier: GPL-3.0-or-later
"""HeldIndex: the held jobs of the station's hold queues by owner, kept current from
cupsd's job events, so that a swipe finds a person's jobs without cupsd walking every job.

Why: a `my-jobs` Get-Jobs makes cupsd compare the owner of every unfinished job, one walk per
owner-name form (`alice`, `CORP\\alice`, ...); with 10,000 held jobs that is about 1 ms per
form, more when cupsd's jobs are not in the CPU's caches (docs/cups.md). Looking jobs up by
id (`job-ids`) costs no walk.

How it stays complete: the index subscribes to cupsd's job events (an `ippget` pull
subscription: job-created, job-state-changed, job-config-changed, job-completed), then
lists every held job once. After that, the events keep it current: a job an event says is
no longer held (released, printing, done, cancelled) leaves it at once, and a job that is
held and new on a hold queue, held again, or moved is asked about by id, for its owner. A
helper thread does this every POLL_SECONDS; a swipe does it too, just before it looks, so
a job sent a moment before the swipe is found. When more than SWIPE_ASKS jobs arrived since
the helper's last round, the swipe asks cupsd the slow way instead (it costs less then), and
the helper catches up.

When the index cannot vouch for being complete it says so (`held_for` returns None) and
the swipe asks cupsd the slow way; nobody's job is left behind. That is the case:
- until the first listing is done;
- when events were lost: cupsd keeps the last `MaxEvents` (default 100) per subscription,
  and each catch-up asks again for the last event it has already seen, which must still be
  there, followed by consecutive ones;
- when cupsd was restarted (its events are kept in memory only): the index's own connection
  to cupsd was re-opened, or the subscription is gone, or the last event seen is gone;
- when cupsd keeps fewer than MIN_EVENTS events, or hides from the station the owner of a
  job on a hold queue;
- when a request fails.
It then lists every held job again after `rebuild_pause` seconds, twice as long after each
failed build in a row (a listing of 10,000 held jobs keeps cupsd busy for a while), and,
as a safety net, every `resync_seconds` even when all is well.

The subscription has a lease of LEASE_SECONDS, renewed while the station runs, and is
cancelled when it stops, so a station that dies leaves nothing behind in cupsd for long.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import operator
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import cups

from releasestation.errors import PrintServerError
from releasestation.owner_names import fold
from releasestation.printq import ipp
from releasestation.printq.jobs import (
    HELD,
    JOB_ATTRIBUTES,
    HeldJob,
    from_attributes,
    printer_uri,
    queue_of,
)
from releasestation.service import BackgroundService

if TYPE_CHECKING:
    from releasestation.printq.server import PrintServer

log = logging.getLogger(__name__)

SERVER_URI = "ipp://localhost/"
# job-config-changed: CUPS-Move-Job, and Set-Job-Attributes (a release among them)
EVENTS = ("job-created", "job-state-changed", "job-config-changed", "job-completed")
# Jobs a swipe asks cupsd about by id before it answers from the index; with more (many
# jobs sent in the same moment), the swipe asks cupsd the slow way, which then costs less.
SWIPE_ASKS = 4
# A swipe waits at most this long for the helper's round in progress (a burst of jobs to
# ask about), then asks cupsd the slow way.
SWIPE_WAIT = 0.05
MIN_EVENTS = 10  # cupsd's MaxEvents below this: events cannot be relied on
LEASE_SECONDS = 900
POLL_SECONDS = 0.5
REBUILD_PAUSE = 60.0
RESYNC_SECONDS = 3600.0  # listed again this often even when nothing went wrong
FETCH_BATCH = 200  # job ids per Get-Jobs


_FIELDS = tuple(field.name for field in dataclasses.fields(HeldJob))
_OWNER = _FIELDS.index("owner")
_fields_of = operator.attrgetter(*_FIELDS)


class Stale(Exception):
    """The index cannot vouch for being complete (the reason is the message)."""


# What a request of the index may raise when cupsd cannot answer as asked.
FAILURES = (Stale, PrintServerError, ipp.IppError, OSError)


class HeldIndex(BackgroundService):
    """Held jobs on `queues` by owner name (case-insensitive); a daemon service."""

    def __init__(
        self,
        server: PrintServer,
        queues: Sequence[str],
        poll_seconds: float = POLL_SECONDS,
        rebuild_pause: float = REBUILD_PAUSE,
        lease_seconds: int = LEASE_SECONDS,
        resync_seconds: float = RESYNC_SECONDS,
    ):
        # A round that raises (a bug: cupsd's failures only make the index stale) is retried
        # after a pause that grows to rebuild_pause, so a bug that repeats is not a storm.
        max_backoff = max(poll_seconds, rebuild_pause)
        super().__init__("held-job index", "held-index", poll_seconds, max_backoff, 10)
        self.server = server
        self.queues = tuple(queues)
        self.rebuild_pause = rebuild_pause
        self.resync_seconds = resync_seconds
        self._failed_builds = 0
        self.lease_seconds = lease_seconds
        self._wanted = {q.casefold() for q in queues}
        s = server.settings
        self._client = ipp.IppClient(s.server, s.encryption, s.timeout_seconds, s.ca_file)
        self._lock = threading.RLock()  # the client, the jobs and the subscription state
        # Each job as a plain tuple of HeldJob's fields: tens of thousands of them stay
        # out of the garbage collector's way (tuples of strings and numbers are untracked)
        # and take half the memory of HeldJob instances.
        self._jobs: dict[int, tuple[Any, ...]] = {}
        self._by_owner: dict[str, set[int]] = {}
        self._unknown: set[int] = set()  # held jobs events named, not yet asked about
        self._subscription: int | None = None
        self._seen = 0  # sequence number of the last event taken in (0: none yet)
        self._connects = 0  # the client's connection the index was built on
        self._renewed = 0.0
        self._lease = lease_seconds  # as cupsd granted it (MaxLeaseDuration may cut it)
        self._last_build: float | None = None
        self.trusted = False
        self.stale_reason = "not built yet"
        self.builds = 0
        self.answered = 0  # questions answered from the index (the rest asked cupsd)

    # -- service ----------------------------------------------------------------------------
    @property
    def poll_seconds(self) -> float:
        """How often the helper thread takes in cupsd's events."""
        return self.interval

    def start(self) -> None:
        """Build in the background and keep up; `held_for` answers once it is built
        (releasestation.release.held asks cupsd the slow way until then)."""
        super().start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the helper, cancel the subscription and close the connection."""
        super().stop(timeout)
        with self._lock:
            self._cancel_subscription()
            self.trusted = False
            self._client.close()

    def step(self) -> None:
        try:
            self.keep_up()
        except Exception:
            with self._lock:
                self._distrust("unexpected failure")
            raise

    @property
    def problem(self) -> str | None:
        """Why swipes ask cupsd directly now (None while the index answers them)."""
        return super().problem or (None if self.trusted else self.stale_reason)

    def keep_up(self) -> None:
        """One round of the helper thread: take in new events, renew the lease, or build
        the index again when it is stale and the pause since the last build is over."""
        with self._lock:
            now, last = time.monotonic(), self._last_build
            if self.trusted and last is not None and now - last >= self.resync_seconds:
                pass  # a safety net: listed again now and then, as the job watcher does
            elif self.trusted:
                self._catch_up_or_distrust()
                if self.trusted and now - self._renewed > self._lease / 3:
                    self._renew()
                return
            elif last is not None and now - last < self._pause():
                return
        self.build()

    def _pause(self) -> float:
        """The wait before building again: rebuild_pause, doubled after each build that
        failed in a row (a cupsd that refuses to let the station read its subscription
        would otherwise collect one unread subscription a minute), at most a lease."""
        return min(self.rebuild_pause * 2 ** max(0, self._failed_builds - 1), self.lease_seconds)

    # -- the swipe's question ----------------------------------------------------------------
    def held_for(self, queues: Iterable[str], names: Iterable[str]) -> list[HeldJob] | None:
        """Held jobs on `queues` owned by any of `names` (case-insensitive), oldest first,
        as cupsd has them now; None when the index cannot vouch for being complete (or
        covers other queues), and the caller must ask cupsd itself."""
        wanted_queues = {q.casefold() for q in queues}
        if not wanted_queues <= self._wanted:
            return None
        owners = {fold(n) for n in names if n}
        if not self._lock.acquire(timeout=SWIPE_WAIT):
            return None
        try:
            if not self.trusted:
                return None
            try:
                if not self._catch_up(SWIPE_ASKS):
                    return None
            except Exception as exc:  # whatever went wrong, the slow way is still right
                self._distrust(str(exc) or type(exc).__name__)
                return None
            jobs = [HeldJob(*self._jobs[i]) for i in self._ids_of(owners)]
            self.answered += 1
        finally:
            self._lock.release()
        return sorted((j for j in jobs if j.queue.casefold() in wanted_queues), key=lambda j: j.id)

    def summary(self) -> dict[str, tuple[int, float | None]] | None:
        """Held jobs per queue and the oldest one's time-at-creation, from the index alone
        (no request to cupsd; for the metrics); None when the index cannot vouch for it."""
        if not self._lock.acquire(timeout=SWIPE_WAIT):
            return None
        try:
            if not self.trusted:
                return None
            found: dict[str, tuple[int, float | None]] = {q: (0, None) for q in self.queues}
            for fields in self._jobs.values():
                queue, created = fields[3], fields[5]
                key = next((q for q in self.queues if q.casefold() == queue.casefold()), queue)
                count, oldest = found.get(key, (0, None))
                older = created if oldest is None or (created and created < oldest) else oldest
                found[key] = (count + 1, older)
            return found
        finally:
            self._lock.release()

    def _ids_of(self, owners: set[str]) -> set[int]:
        found: set[int] = set()
        for owner in owners:
            found |= self._by_owner.get(owner, set())
        return found

    # -- building ----------------------------------------------------------------------------
    def build(self) -> bool:
        """Subscribe (again), then list every held job; True when the index is trusted.
        Swipes meanwhile get None (the listing takes a while with many jobs held)."""
        built = self._build()
        self._failed_builds = 0 if built else self._failed_builds + 1
        return built

    def _build(self) -> bool:
        started = time.monotonic()
        with self._lock:
            self._last_build = started
            self.trusted = False
            if self.stopping:
                return False
            try:
                self._check_events_kept()
                self._cancel_subscription()
                self._subscribe()  # first: what changes during the listing becomes events
            except FAILURES as exc:
                self._distrust(f"cannot subscribe to cupsd's job events: {exc}")
                return False
        try:
            listed = self._listing()
        except FAILURES as exc:
            with self._lock:
                self._distrust(f"cannot list the held jobs: {exc}")
            return False
        with self._lock:
            if self.stopping:  # stopped while listing: the subscription is gone
                return False
            self._jobs, self._by_owner = {}, {}
            for job in listed:
                self._put(job.id, job)
            self.builds += 1
            if not self._catch_up_or_distrust():  # what changed while the listing was made
                return False
            self.trusted = True
            self.stale_reason = ""
            log.info(
                "held-job index: %d held job(s) of %d owner(s) on %s, built in %.1f s",
                len(self._jobs), len(self._by_owner), ", ".join(self.queues),
                time.monotonic() - started,
            )  # fmt: skip
            return True

    def _check_events_kept(self) -> None:
        """cupsd with `MaxEvents 0` accepts subscriptions but keeps no event: nothing would
        ever tell the index that a job arrived."""
        attrs = self.server.queue_attributes(self.queues[0], ["notify-max-events-supported"])
        kept = (attrs or {}).get("notify-max-events-supported")
        if not isinstance(kept, int) or kept < MIN_EVENTS:
            raise Stale(f"cupsd keeps {kept} job events (MaxEvents); at least {MIN_EVENTS} needed")

    def _listing(self) -> list[HeldJob]:
        """Every held job on the hold queues, asked as the station on each queue (so that
        the queue's policy shows owners); Stale when cupsd hides the owner of one."""
        jobs = []
        for queue in self.queues:
            for attrs in self.server.held_job_attributes(queue, patient=True):
                job = self._job_of(attrs)
                if job is not None:
                    jobs.append(job)
        return jobs

    def _job_of(self, attrs: dict[str, Any]) -> HeldJob | None:
        """The HeldJob of one job's attributes; Stale for a held job on a hold queue whose
        owner cupsd does not show: the index cannot know whose it is."""
        job = from_attributes(attrs)
        queue = queue_of(str(attrs.get("job-printer-uri", ""))).casefold()
        maybe_held = attrs.get("job-state") in (HELD, None)  # a policy may hide the state too
        if job is None and maybe_held and (queue in self._wanted or not queue):
            raise Stale(
                f"cupsd hides the owner of held job {attrs.get('job-id')} from the "
                f"station's account {self.server.account} (see releasestation check)"
            )
        return job

    def _subscribe(self) -> None:
        groups = self._request(
            "subscribing to job events",
            cups.IPP_OP_CREATE_PRINTER_SUBSCRIPTIONS,
            [],
            [
                (cups.IPP_TAG_KEYWORD, "notify-events", list(EVENTS)),
                (cups.IPP_TAG_KEYWORD, "notify-pull-method", "ippget"),
                (cups.IPP_TAG_INTEGER, "notify-lease-duration", self.lease_seconds),
            ],
            resend=False,  # sent twice, it would leave a subscription nobody reads
        )
        found = ipp.groups_of(groups, ipp.SUBSCRIPTION_GROUP)
        number = found[0].get("notify-subscription-id") if found else None
        if not isinstance(number, int):
            raise Stale("cupsd answered the subscription without its id")
        self._subscription, self._seen = number, 0
        self._unknown = set()
        self._connects = self._client.connects
        # cupsd tells the lease it grants (MaxLeaseDuration may cut it) only when one is
        # renewed: the helper's next round renews at once and learns it.
        self._renewed = 0.0
        self._lease = self.lease_seconds

    def _renew(self) -> None:
        try:
            groups = self._request(
                "renewing the job-event subscription",
                cups.IPP_OP_RENEW_SUBSCRIPTION,
                [(cups.IPP_TAG_INTEGER, "notify-subscription-id", self._subscription or 0)],
                [(cups.IPP_TAG_INTEGER, "notify-lease-duration", self.lease_seconds)],
            )
        except FAILURES as exc:
            self._distrust(f"the subscription could not be renewed: {exc}")
            return
        self._renewed = time.monotonic()
        granted = next(iter(ipp.groups_of(groups, ipp.SUBSCRIPTION_GROUP)), {}).get(
            "notify-lease-duration"
        )
        if isinstance(granted, int) and granted > 0:  # what MaxLeaseDuration lets it have
            self._lease = granted

    def _cancel_subscription(self) -> None:
        number, self._subscription = self._subscription, None
        if number is None:
            return
        with contextlib.suppress(*FAILURES):
            self._request(
                "cancelling the job-event subscription",
                cups.IPP_OP_CANCEL_SUBSCRIPTION,
                [(cups.IPP_TAG_INTEGER, "notify-subscription-id", number)],
            )

    # -- keeping up ----------------------------------------------------------------------------
    def _catch_up_or_distrust(self) -> bool:
        try:
            self._catch_up()
        except FAILURES as exc:
            self._distrust(str(exc))
            return False
        return True

    def _catch_up(self, ask_at_most: int | None = None) -> bool:
        """Take in the events since the last one seen; False when more than `ask_at_most`
        jobs would have to be asked about now (they are asked about later, by the helper).

        An event carries its job's state and printer but not its owner. A job an event says
        is no longer held (released, printing, done, cancelled) leaves the index at once; a
        job that is held and new on a hold queue, held again, or moved (job-config-changed)
        is asked about by id, for its owner and queue."""
        events = self._events()
        for event in events:
            if "notify-job-id" not in event:
                continue
            job_id = int(event["notify-job-id"])
            state = event.get("job-state")
            if state is None:
                self._unknown.add(job_id)
            elif state != HELD:
                self._put(job_id, None)
                self._unknown.discard(job_id)
            elif event.get("notify-subscribed-event") == "job-config-changed" or (
                job_id not in self._jobs and self._maybe_on_hold_queue(event)
            ):
                self._unknown.add(job_id)
        if events:
            self._seen = int(events[-1]["notify-sequence-number"])
        if ask_at_most is not None and len(self._unknown) > ask_at_most:
            return False
        self._refresh(self._unknown)
        self._unknown.clear()
        return True

    def _maybe_on_hold_queue(self, event: dict[str, Any]) -> bool:
        """Whether a held job's event leaves it possibly on a hold queue: the event names a
        hold queue, or no printer at all (then the job is asked about)."""
        name = event.get("printer-name")
        return not name or str(name).casefold() in self._wanted

    def _events(self) -> list[dict[str, Any]]:
        """The events after the last one seen; Stale when some may have been lost."""
        since = self._seen or 1
        try:
            groups = self._request(
                "reading job events",
                cups.IPP_OP_GET_NOTIFICATIONS,
                [
                    (cups.IPP_TAG_INTEGER, "notify-subscription-ids", [self._subscription or 0]),
                    (cups.IPP_TAG_INTEGER, "notify-sequence-numbers", [since]),
                ],
            )
        except ipp.IppError as exc:
            if exc.status == ipp.NOT_FOUND:
                raise Stale("cupsd no longer has the job-event subscription") from None
            raise
        events = [
            e
            for e in ipp.groups_of(groups, ipp.EVENT_GROUP)
            if e.get("notify-subscription-id") == self._subscription
        ]
        numbers = [int(e.get("notify-sequence-number", 0)) for e in events]
        if numbers != list(range(since, since + len(numbers))):
            raise Stale(f"job events were lost (asked from #{since}, got {numbers[:3]}...)")
        if self._seen and not numbers:
            raise Stale(f"cupsd no longer has job event #{since} (restarted?)")
        return [e for e, n in zip(events, numbers, strict=True) if n > self._seen]

    def _refresh(self, ids: set[int]) -> None:
        """Ask cupsd about `ids` by id (no walk) and keep those held on the hold queues."""
        ordered = sorted(ids)
        for start in range(0, len(ordered), FETCH_BATCH):
            batch = ordered[start : start + FETCH_BATCH]
            fresh = self._fetch(batch)
            for job_id in batch:
                self._put(job_id, fresh.get(job_id))

    def _fetch(self, ids: list[int]) -> dict[int, HeldJob]:
        try:
            groups = self._request(
                "looking jobs up by id",
                cups.IPP_OP_GET_JOBS,
                [
                    (cups.IPP_TAG_INTEGER, "job-ids", ids),
                    (cups.IPP_TAG_KEYWORD, "requested-attributes", list(JOB_ATTRIBUTES)),
                ],
                # cupsd judges what a held job shows by the policy of the printer asked
                # about (a lookup by id is not limited to it); the server's DefaultPolicy
                # may hide owners from the station, a hold queue's shows them.
                uri=printer_uri(self.queues[0]),
            )
        except ipp.IppError as exc:
            if exc.status != ipp.NOT_FOUND:
                raise
            # One of them is gone (cupsd refuses the whole request), or the hold queue asked
            # on is (deleted while the station runs): ask about each job on its own.
            found: dict[int, HeldJob] = {}
            for job_id in ids:
                job = self._fetch_one(job_id)
                if job is not None:
                    found[job_id] = job
            return found
        jobs = (self._job_of(a) for a in ipp.groups_of(groups, cups.IPP_TAG_JOB))
        return {j.id: j for j in jobs if j is not None}

    def _fetch_one(self, job_id: int) -> HeldJob | None:
        """Job `job_id` asked about by its own URI (judged by its own queue's policy); None
        when cupsd no longer has it."""
        try:
            groups = self._request(
                f"looking job {job_id} up",
                cups.IPP_OP_GET_JOB_ATTRIBUTES,
                [(cups.IPP_TAG_KEYWORD, "requested-attributes", list(JOB_ATTRIBUTES))],
                uri=f"ipp://localhost/jobs/{int(job_id)}",
                uri_name="job-uri",
            )
        except ipp.IppError as exc:
            if exc.status == ipp.NOT_FOUND:
                return None
            raise
        found = [self._job_of(a) for a in ipp.groups_of(groups, cups.IPP_TAG_JOB)]
        return next((job for job in found if job is not None), None)

    def _put(self, job_id: int, job: HeldJob | None) -> None:
        old = self._jobs.pop(job_id, None)
        if old is not None:
            key = fold(old[_OWNER])
            ids = self._by_owner.get(key)
            if ids is not None:
                ids.discard(job_id)
                if not ids:
                    del self._by_owner[key]
        if job is not None and job.state == HELD and job.queue.casefold() in self._wanted:
            self._jobs[job_id] = _fields_of(job)
            self._by_owner.setdefault(fold(job.owner), set()).add(job_id)

    def _request(
        self,
        what: str,
        operation: int,
        attributes: list[tuple[int, str, ipp.Value]],
        subscription: list[tuple[int, str, ipp.Value]] | None = None,
        uri: str = SERVER_URI,
        resend: bool = True,
        uri_name: str = "printer-uri",
    ) -> list[tuple[int, dict[str, Any]]]:
        """One request on the index's own connection; Stale when that connection had to be
        opened again since the subscription was made (cupsd may have restarted)."""
        head: list[tuple[int, str, ipp.Value]] = [
            (cups.IPP_TAG_URI, uri_name, uri),
            (cups.IPP_TAG_NAME, "requesting-user-name", self.server.account),
        ]
        groups = self._client.request(operation, head + attributes, subscription or (), resend)
        if self._subscription is not None and self._client.connects != self._connects:
            raise Stale(f"the connection to cupsd was opened again ({what})")
        return groups

    def _distrust(self, reason: str) -> None:
        if self.trusted or reason != self.stale_reason:
            log.warning("held-job index: %s; swipes ask cupsd directly until it is rebuilt", reason)
        self.trusted = False
        self.stale_reason = reason
