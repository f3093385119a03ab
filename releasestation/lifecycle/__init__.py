# SPDX-License-Identifier: GPL-3.0-or-later
"""The held-job lifecycle around the swipe: expiry, owner resolution, visitors on arrival,
crash-safe claims and their reconciliation, and audit retention.

`services(app)` is the daemon's hook (releasestation.daemon.SERVICES): the held-job index
(a swipe's jobs found by id, releasestation.printq.index), housekeeping (settles unfinished
releases at start, then expiry and retention on a schedule) and the job watcher (owners and
visitors as jobs arrive).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from releasestation.app import App
    from releasestation.daemon import Service


def services(app: App) -> list[Service]:
    from releasestation.lifecycle.housekeeping import Housekeeping
    from releasestation.lifecycle.watcher import JobWatcher

    return [app.held_index, Housekeeping(app), JobWatcher(app)]
