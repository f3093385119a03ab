# SPDX-License-Identifier: GPL-3.0-or-later
"""Connections: the station's connections to one cupsd, the base of its reads
(releasestation.printq.server) and of its releases (releasestation.printq.releases).

A reader and a writer `ipp.IppClient` per thread (libcups state is per thread, and so are
these), the helper threads a swipe's releases overlap on (`submit`), and the reads both
build on: one IPP request (`_read`) and one job as cupsd shows it now (`_job_now`).
`close` drops them all; a later call opens new ones.
"""

from __future__ import annotations

import os
import pwd
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import cups

from releasestation.config import CupsSettings, read_secret_text
from releasestation.errors import PrintServerError
from releasestation.printq import ipp
from releasestation.printq.failures import _Hidden, _NotFound
from releasestation.printq.jobs import JOB_ATTRIBUTES, HeldJob, from_attributes

T = TypeVar("T")
# Releases of one swipe in flight at once. cupsd serves one request at a time; two or three
# in flight already keep it from waiting for the station between them.
HELPERS = 4


class Connections:
    """The connections of one station to the cupsd of `settings`."""

    def __init__(self, settings: CupsSettings):
        self.settings = settings
        self.server = settings.server
        self.account = settings.user or pwd.getpwuid(os.geteuid()).pw_name
        self._password = read_secret_text(settings.password, settings.password_file, "[cups]")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._generation = 0
        self._readers: list[ipp.IppClient] = []
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Drop every connection and the helper threads; a later call opens new ones."""
        with self._lock:
            self._generation += 1
            readers, self._readers = self._readers, []
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)  # work already sent still finishes
        for reader in readers:
            reader.close()

    def submit(self, call: Callable[..., T], *args: Any) -> Future[T]:
        """Run `call(*args)` on one of the helper threads (each has its own connections to
        cupsd). On a helper thread itself, it runs at once: a helper never waits for
        another, so the few helpers cannot all end up waiting."""
        if getattr(self._local, "helper", False):
            done: Future[T] = Future()
            try:
                done.set_result(call(*args))
            except BaseException as exc:
                done.set_exception(exc)
            return done
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    HELPERS, thread_name_prefix="cupsd-request", initializer=self._helper_started
                )
            return self._pool.submit(call, *args)

    def _helper_started(self) -> None:
        self._local.helper = True

    def _read(
        self,
        what: str,
        operation: int,
        attributes: list[tuple[int, str, ipp.Value]],
        timeout: float | None = None,
    ):
        """One IPP request on this thread's reader (never authenticated: its requests stay
        those of the user they name; writes go through `_send`, on the writer); `timeout`
        instead of `[cups] timeout_seconds`."""
        try:
            return self._reader().request(operation, attributes, timeout=timeout)
        except ipp.IppError as exc:
            if exc.status == ipp.NOT_FOUND:
                raise _NotFound(what) from None
            raise PrintServerError(f"cupsd at {self.server}: {what}: {exc}") from None
        except OSError as exc:
            raise PrintServerError(f"cupsd at {self.server} unreachable ({what}): {exc}") from None
        except Exception as exc:  # malformed IPP
            raise PrintServerError(f"cupsd at {self.server}: {what}: {exc!r}") from None

    def _reader(self, writer: bool = False) -> ipp.IppClient:
        local = self._local
        kind = "writer" if writer else "reader"
        if getattr(local, f"{kind}_generation", None) != self._generation:
            s = self.settings
            client = ipp.IppClient(s.server, s.encryption, s.timeout_seconds, s.ca_file)
            setattr(local, kind, client)
            setattr(local, f"{kind}_generation", self._generation)
            with self._lock:
                self._readers.append(client)
        found: ipp.IppClient = getattr(local, kind)
        return found

    def _job_now(self, job_id: int) -> HeldJob | None:
        """Job `job_id` in any state; None if cupsd has forgotten it, _Hidden (a
        PrintServerError) when cupsd answers without the attributes a HeldJob needs."""
        try:
            groups = self._read(
                f"job {job_id}",
                cups.IPP_OP_GET_JOB_ATTRIBUTES,
                [
                    (cups.IPP_TAG_URI, "job-uri", f"ipp://localhost/jobs/{int(job_id)}"),
                    (cups.IPP_TAG_NAME, "requesting-user-name", self.account),
                    (cups.IPP_TAG_KEYWORD, "requested-attributes", list(JOB_ATTRIBUTES)),
                ],
            )
        except _NotFound:
            return None
        jobs = [from_attributes(a) for a in ipp.groups_of(groups, cups.IPP_TAG_JOB)]
        found = next((j for j in jobs if j is not None), None)
        if found is None:
            raise _Hidden(f"cupsd at {self.server}: job {job_id}: owner or state not shown")
        return found
