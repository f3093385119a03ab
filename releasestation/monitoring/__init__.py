# SPDX-License-Identifier: GPL-3.0-or-later
"""Monitoring: the station's metrics, health checks, alert mails and status at a glance.

`settings` is `[monitoring]`; `metrics` the Prometheus metrics on a registry owned by one
station; `probe` the cached checks of cupsd, the store, the directory and the readers that
/readyz, the metrics and the alerts share; `server` the small HTTP server for /metrics,
/livez and /readyz; `alerts` the mailing service; `status` the one-screen report.
docs/monitoring.md says what each serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from readers import Reader
    from releasestation.monitoring.metrics import StationMetrics


class Watched(Protocol):
    """What monitoring watches of a running station (releasestation.daemon.Station)."""

    @property
    def readers(self) -> Sequence[Reader]: ...
    @property
    def metrics(self) -> StationMetrics | None: ...

    def alive(self) -> bool: ...
    def stuck(self) -> bool: ...
    def troubles(self) -> list[str]: ...
