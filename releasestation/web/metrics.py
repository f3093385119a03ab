# SPDX-License-Identifier: GPL-3.0-or-later
"""The portal's own metrics: logins and uploads by outcome.

The portal runs in a process of its own (gunicorn), beside the daemon whose metrics are on
`[monitoring] listen`, so it keeps a registry of its own and serves it at `/metrics` — to
loopback clients only (a scraper or exporter on the station itself); any other client gets
404, as if there were none. Labels are a fixed set of outcomes, never a user or a title.
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

KEY = "releasestation.metrics"
LOGIN_OUTCOMES = ("ok", "failed", "throttled", "incomplete", "unavailable")
UPLOAD_OUTCOMES = ("held", "refused", "too-large", "failed")

bp = Blueprint("metrics", __name__)


class WebMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.logins = Counter(
            "releasestation_web_logins",
            "Portal logins, by outcome",
            ("outcome",),
            registry=self.registry,
        )
        self.uploads = Counter(
            "releasestation_web_uploads",
            "Documents sent through the portal, by outcome",
            ("outcome",),
            registry=self.registry,
        )
        for outcome in LOGIN_OUTCOMES:
            self.logins.labels(outcome)
        for outcome in UPLOAD_OUTCOMES:
            self.uploads.labels(outcome)


def web_metrics() -> WebMetrics:
    found: WebMetrics = current_app.extensions[KEY]
    return found


def login(outcome: str) -> None:
    web_metrics().logins.labels(outcome).inc()


def upload(outcome: str) -> None:
    web_metrics().uploads.labels(outcome).inc()


@bp.get("/metrics")
def metrics() -> Response:
    if not _loopback(request.remote_addr):
        abort(404)
    return Response(generate_latest(web_metrics().registry), mimetype=CONTENT_TYPE_LATEST)


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
