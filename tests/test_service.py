# SPDX-License-Identifier: GPL-3.0-or-later
"""The background-service base: prompt stop, backoff after failures, a thread that a failing
step never ends, failures logged once per streak."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from releasestation.errors import PrintServerError
from releasestation.service import BackgroundService
from tests.waiting import wait_for


class Counting(BackgroundService):
    """Counts its steps; `fail` (when set) says what the next steps raise."""

    def __init__(self, interval: float = 3600.0, max_backoff: float | None = None):
        super().__init__("counter", "counter-thread", interval, max_backoff)
        self.steps = 0
        self.fail: Callable[[], Exception] | None = None

    def step(self) -> None:
        self.steps += 1
        if self.fail is not None:
            raise self.fail()


def test_stop_wakes_a_waiting_loop_at_once():
    service = Counting(interval=3600)
    service.start()
    assert wait_for(lambda: service.steps == 1)
    assert [t.name for t in threading.enumerate()].count("counter-thread") == 1
    began = time.monotonic()
    service.stop()
    assert time.monotonic() - began < 0.5
    assert not service.running and service.steps == 1


def test_backoff_grows_is_capped_and_resets_after_a_success():
    service = Counting(interval=1, max_backoff=8)
    service.fail = lambda: PrintServerError("cupsd unreachable")
    delays = [service.run_once() for _ in range(12)]
    assert delays[0] == 1  # the first retry keeps the service's own pace
    assert 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4 and 4 <= delays[3] <= 8
    assert all(4 <= d <= 8 for d in delays[4:])
    assert len(set(delays[4:])) > 1, "jittered"
    service.fail = None
    assert service.run_once() == 1
    service.fail = lambda: PrintServerError("cupsd unreachable")
    assert service.run_once() == 1  # a new streak starts again from the interval


def test_without_a_cap_of_its_own_a_service_retries_at_its_pace():
    service = Counting(interval=2)
    service.fail = lambda: PrintServerError("cupsd unreachable")
    assert {service.run_once() for _ in range(10)} == {2}


def test_a_failing_step_never_ends_the_thread_and_is_logged_once(caplog):
    caplog.set_level(logging.DEBUG)
    service = Counting(interval=0.01)
    service.fail = lambda: RuntimeError("a bug")
    service.start()
    try:
        assert wait_for(lambda: service.steps >= 5)
        assert service.running and not service.healthy
        assert service.problem == service.last_error == "a bug"
        service.fail = None
        assert wait_for(lambda: service.healthy)
        steps = service.steps
        assert wait_for(lambda: service.steps > steps + 2), "still stepping"
    finally:
        service.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["counter: unexpected failure; carrying on"]
    assert errors[0].exc_info is not None, "a bug is logged with its traceback"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == [
        "counter: working again"
    ]
    assert service.last_error == "a bug" and service.problem is None


def test_an_expected_failure_is_one_line_per_streak(caplog):
    caplog.set_level(logging.INFO)
    service = Counting(interval=1, max_backoff=30)
    for streak in ("cupsd unreachable", "cupsd still away"):
        service.fail = lambda streak=streak: PrintServerError(streak)
        for _ in range(3):
            service.run_once()
        service.fail = None
        service.run_once()
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records] == [
        (
            "ERROR",
            "counter: cupsd unreachable (retrying after 1 s, then less often, up to every 30 s)",
            None,
        ),
        ("INFO", "counter: working again", None),
        (
            "ERROR",
            "counter: cupsd still away (retrying after 1 s, then less often, up to every 30 s)",
            None,
        ),
        ("INFO", "counter: working again", None),
    ]


def test_stop_is_idempotent_and_a_stopped_service_starts_again():
    service = Counting(interval=3600)
    service.stop()  # before start: nothing to stop
    service.start()
    service.start()  # while running: still one thread
    assert wait_for(lambda: service.steps == 1)
    service.stop()
    service.stop()
    assert not service.running and service.stopping
    service.start()
    assert wait_for(lambda: service.steps == 2) and not service.stopping
    service.stop()
    assert [t for t in threading.enumerate() if t.name == "counter-thread"] == []


def test_a_step_may_stop_its_own_service():
    service = Counting(interval=0.01)
    service.fail = lambda: (service.stop(), RuntimeError("stopped"))[1]
    service.start()
    assert wait_for(lambda: not service.running)
    assert service.steps == 1


def test_stop_waits_for_a_busy_step_only_as_long_as_asked(caplog):
    release = threading.Event()

    class Busy(Counting):
        def step(self) -> None:
            super().step()
            release.wait(10)

    service = Busy()
    service.start()
    assert wait_for(lambda: service.steps == 1)
    began = time.monotonic()
    service.stop(timeout=0.1)
    assert time.monotonic() - began < 1
    assert "counter: still busy after stop" in caplog.text
    release.set()
    assert wait_for(lambda: "counter-thread" not in [t.name for t in threading.enumerate()])
    assert service.steps == 1, "no step after stop"
