# SPDX-License-Identifier: GPL-3.0-or-later
"""[monitoring]: where the metrics and health checks listen, and when alerts are mailed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MonitoringSettings:
    listen: str = "127.0.0.1:9631"  # /metrics, /livez, /readyz; empty: not served
    check_cache_seconds: float = 5.0  # checks of cupsd, store, directory kept this long
    alert_to: str = ""  # comma-separated addresses; empty: no alert mails
    alert_after_seconds: float = 600.0  # a condition lasting this long is mailed once
    alert_every_seconds: float = 3600.0  # at most one mail per condition in this time
    check_every_seconds: float = 30.0  # how often the alerting service looks
    stuck_after_seconds: float = 1800.0  # a job processing longer than this is stuck

    def __post_init__(self) -> None:
        if self.listen:
            host, _, port = self.listen.rpartition(":")
            if not host or not port.isdigit() or not 0 <= int(port) < 65536:
                raise ValueError(f"listen: HOST:PORT, not {self.listen!r}")
        for key in ("check_cache_seconds", "alert_after_seconds", "alert_every_seconds"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: must not be negative")
        if self.check_every_seconds <= 0 or self.stuck_after_seconds <= 0:
            raise ValueError("check_every_seconds and stuck_after_seconds: must be positive")

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in self.alert_to.split(",") if a.strip()]
