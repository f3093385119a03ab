# SPDX-License-Identifier: GPL-3.0-or-later
"""/metrics, /livez and /readyz on `[monitoring] listen`: a small HTTP server thread of the
daemon (http.server; one short-lived thread per request).

/livez: 200 while the process and its release worker live and the worker is not stuck on
one swipe. /readyz: 200 when cupsd, the store and the directory answer and at least one
reader is connected; else 503. Both answer one line per part that fails (`cupsd:
unreachable …`), or `ok`; `?verbose` lists every part, reader, printer and service. The
peers' checks are the Probe's, cached for `check_cache_seconds`.
"""

from __future__ import annotations

import http.server
import logging
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from releasestation.service import BackgroundService

if TYPE_CHECKING:
    from readers import Reader
    from releasestation.monitoring.metrics import StationMetrics
    from releasestation.monitoring.probe import Probe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class Health:
    """Liveness and readiness of one station, from its worker, readers, services and probe."""

    def __init__(
        self,
        probe: Probe,
        readers: Sequence[Reader],
        alive: Callable[[], bool],
        stuck: Callable[[], bool],
        troubles: Callable[[], list[str]] = list,
    ):
        self.probe = probe
        self.readers = readers
        self.alive = alive
        self.stuck = stuck
        self.troubles = troubles

    def live(self) -> list[Check]:
        if not self.alive():
            return [Check("worker", False, "the release worker is not running")]
        if self.stuck():
            return [Check("worker", False, "the release worker is stuck on one swipe")]
        return [Check("worker", True, "running")]

    def ready(self) -> list[Check]:
        snap = self.probe.snapshot()
        checks = [Check(p.name, p.ok, "answers" if p.ok else p.detail) for p in snap.parts]
        connected = [r.name for r in self.readers if r.health.state == "ok"]
        detail = f"{len(connected)} of {len(self.readers)} connected"
        checks.append(Check("readers", bool(connected), detail))
        return checks

    def details(self) -> list[str]:
        """More for a person: each reader, printer and service."""
        lines = []
        for r in self.readers:
            h = r.health
            lines.append(f"reader {r.name}: {h.state}{' (' + h.detail + ')' if h.detail else ''}")
        snap = self.probe.snapshot()
        for p in snap.printers:
            lines.append(f"printer {p.name}: {p.state_name}; {p.problem or 'ok'}")
        lines += [f"service {t}" for t in self.troubles()]
        lines += [f"stuck job {j.id} on {j.queue}" for j in snap.stuck]
        if snap.mailprint is not None:
            lines.append(f"mailprint: {snap.mailprint_problem or 'ok'}")
        return lines


def report(checks: list[Check], verbose: bool, extra: Callable[[], list[str]]) -> str:
    if verbose:
        lines = [f"{c.name}: {'ok' if c.ok else 'FAIL'} ({c.detail})" for c in checks]
        return "\n".join(lines + extra()) + "\n"
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    return "\n".join(failed or ["ok"]) + "\n"


class MonitorServer(BackgroundService):
    """The HTTP server as a daemon service: started before the readers, stopped after
    them. A port in use is a problem of this service (retried), never the station's end."""

    def __init__(self, address: tuple[str, int], metrics: StationMetrics, health: Health):
        super().__init__("monitoring server", "monitoring-http", 30.0, 300.0)
        self.address = address
        self.metrics = metrics
        self.health = health
        self._server: http.server.ThreadingHTTPServer | None = None
        self._serving: threading.Thread | None = None

    @property
    def port(self) -> int | None:
        return self._server.server_address[1] if self._server is not None else None

    def step(self) -> None:
        if self._server is None:
            self._bind()

    def start(self) -> None:
        try:
            self._bind()
        except OSError as exc:
            self.log.error("%s: cannot listen on %s:%d: %s", self.name, *self.address, exc)
        super().start()

    def _bind(self) -> None:
        server = http.server.ThreadingHTTPServer(self.address, _handler(self))
        server.daemon_threads = True
        self._server = server
        self._serving = threading.Thread(
            target=server.serve_forever, name="monitoring-serve", daemon=True
        )
        self._serving.start()
        self.log.info(
            "monitoring: serving /metrics, /livez, /readyz on %s:%d", *server.server_address[:2]
        )

    def stop(self, timeout: float | None = None) -> None:
        super().stop(timeout)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def answer(self, path: str) -> tuple[int, str, bytes]:
        url = urllib.parse.urlsplit(path)
        verbose = "verbose" in urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if url.path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.metrics.registry)
        if url.path in ("/livez", "/readyz"):
            checks = self.health.live() if url.path == "/livez" else self.health.ready()
            extra = self.health.details if url.path == "/readyz" else list
            body = report(checks, verbose, extra).encode()
            return (200 if all(c.ok for c in checks) else 503), "text/plain; charset=utf-8", body
        return 404, "text/plain; charset=utf-8", b"not found: /metrics, /livez, /readyz\n"


def _handler(server: MonitorServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "releasestation"

        def do_GET(self) -> None:
            try:
                status, kind, body = server.answer(self.path)
            except Exception:
                log.exception("monitoring: %s failed", self.path)
                status, kind, body = 500, "text/plain", b"internal error\n"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("monitoring: " + format, *args)

    return Handler
