# SPDX-License-Identifier: GPL-3.0-or-later
"""The held-job lifecycle around the swipe: expiry, visitors on arrival, the reconciliation
of crash-safe claims, and audit retention.

Two of the daemon's background services live here (releasestation.daemon.build_services):
housekeeping (settles unfinished releases at start, then expiry and retention on a
schedule) and the job watcher (owners and visitors as jobs arrive).
"""
