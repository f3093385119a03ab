# SPDX-License-Identifier: GPL-3.0-or-later
"""The station's print gateway API (docs/gateway.md, "The API"): the default endpoint of
the `printmanager` backend, `[gateway] endpoint = https://station:8631/api/v1/gateway`.

- POST /api/v1/gateway/authorize   200 {"decision": "print"}; 402 / 403 {"decision":
                                   "refuse", "reason": keyword, "detail": why}
- POST /api/v1/gateway/complete    200 {"recorded": true}

Counted on the portal's /metrics: `releasestation_gateway_decisions_total{decision}`
(allowed, account-authorization-failed, account-limit-reached, printed, failed) and
`releasestation_gateway_pages_total` (pages recorded as printed).

Authenticated by `Authorization: Bearer TOKEN`, compared in constant time with the first
line of `[gateway] api_token_file` (0600); no session and so no CSRF token. The station's
API is off (404) unless that file is set and `install` was handed a GatewayAuthority.
What is decided and why: releasestation.gateway.authority.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, current_app, jsonify, request
from prometheus_client import CollectorRegistry, Counter

from releasestation.gateway.authority import BadRequest, GatewayAuthority
from releasestation.gateway.client import ApiUnavailable, read_token
from releasestation.web import metrics

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

log = logging.getLogger(__name__)

KEY = "releasestation.gateway"
METRICS_KEY = "releasestation.gateway.metrics"
DECISIONS = ("allowed", "account-authorization-failed", "account-limit-reached", "printed",
             "failed")  # fmt: skip
MAX_REQUEST = 64 * 1024
bp = Blueprint("gateway_api", __name__, url_prefix="/api/v1/gateway")


def install(app: Flask, authority: GatewayAuthority | None) -> None:
    """Serve the gateway API on `app` with `authority` (None: the API answers 404)."""
    app.extensions[KEY] = authority
    web = app.extensions.get(metrics.KEY)
    if web is not None:
        app.extensions[METRICS_KEY] = GatewayMetrics(web.registry)
    app.register_blueprint(bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)  # a bearer token, not a session cookie, authenticates these


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry):
        self.decisions = Counter(
            "releasestation_gateway_decisions",
            "Print gateway requests answered by the station, by decision",
            ("decision",),
            registry=registry,
        )
        self.pages = Counter(
            "releasestation_gateway_pages",
            "Pages the print gateway reported printed",
            registry=registry,
        )
        for decision in DECISIONS:
            self.decisions.labels(decision)

    def count(self, decision: str, pages: int | None = None) -> None:
        if decision in DECISIONS:
            self.decisions.labels(decision).inc()
        if pages:
            self.pages.inc(pages)


def _count(decision: str, pages: int | None = None) -> None:
    found: GatewayMetrics | None = current_app.extensions.get(METRICS_KEY)
    if found is not None:
        found.count(decision, pages)


def _authority() -> GatewayAuthority | None:
    authority: GatewayAuthority | None = current_app.extensions.get(KEY)
    return authority


@bp.before_request
def _check() -> ResponseReturnValue | None:
    authority = _authority()
    if authority is None or not authority.settings.api_token_file:
        return jsonify(error="the print gateway API is not enabled here"), 404
    try:
        token = read_token(authority.settings.api_token_file)
    except ApiUnavailable as exc:
        log.error("gateway API: %s", exc)
        return jsonify(error="the print gateway API is not set up right"), 503
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {token}"
    if not token or not hmac.compare_digest(given.encode(), expected.encode()):
        return jsonify(error="a valid bearer token is needed"), 401
    if (request.content_length or 0) > MAX_REQUEST:
        return jsonify(error="request too large"), 413
    if not isinstance(request.get_json(silent=True), dict):
        return jsonify(error="a JSON object is expected"), 400
    return None


@bp.post("/authorize")
def authorize() -> ResponseReturnValue:
    authority = _authority()
    if authority is None:  # checked before the request
        return jsonify(error="not enabled"), 404
    try:
        decision = authority.authorize(request.get_json())
    except BadRequest as exc:
        return jsonify(error=str(exc)), 400
    _count("allowed" if decision.status == 200 else decision.reason)
    return jsonify(decision.answer()), decision.status


@bp.post("/complete")
def complete() -> ResponseReturnValue:
    authority = _authority()
    if authority is None:
        return jsonify(error="not enabled"), 404
    try:
        printed, pages = authority.complete(request.get_json())
    except BadRequest as exc:
        return jsonify(error=str(exc)), 400
    _count("printed" if printed else "failed", pages if printed else None)
    return jsonify(recorded=True)


def gateway_authority(app: object) -> GatewayAuthority | None:
    """The authority for an App (releasestation.app.App) whose [gateway] enables the API."""
    from releasestation.app import App

    if not isinstance(app, App) or not app.config.gateway.api_token_file:
        return None
    return GatewayAuthority(
        app.store,
        app.directory,
        app.audit,
        app.config.gateway,
        app.config.station.printer,
        base_name=app.matcher.base_name,
    )
