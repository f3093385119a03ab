# SPDX-License-Identifier: GPL-3.0-or-later
"""create_app: the portal's Flask application, built from the station's parts and `[web]`.

Sessions are Flask's signed cookies (key: releasestation.web.secret_key), HttpOnly,
SameSite=Lax, Secure when the portal serves TLS, and end after `idle_minutes` without a
request. Every form and every state-changing API call carries the session's CSRF token
(Flask-WTF: the `csrf_token` field, or the `X-CSRFToken` header); every page has it in
`<meta name="csrf-token">`. Uploads are held in memory, never in a temporary file, up to
`max_upload_mb` (a larger request gets 413).
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, g, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from releasestation.errors import DirectoryError, PrintServerError, StoreError
from releasestation.web import admin, api, auth, gateway_api, jobs, metrics, status
from releasestation.web.context import KEY, Context, refusal
from releasestation.web.portal import Portal, Refused
from releasestation.web.secret_key import key_path, load_or_create_key

if TYPE_CHECKING:
    from flask import Response
    from flask.typing import ResponseReturnValue

    from releasestation.config import WebSettings
    from releasestation.gateway.authority import GatewayAuthority
    from releasestation.web.parts import WebParts

log = logging.getLogger(__name__)

# Room for the form's other fields and the multipart boundaries around the document.
FORM_OVERHEAD = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
UNAVAILABLE = {
    DirectoryError: "The directory cannot be asked just now. Try again in a minute.",
    PrintServerError: "The print server cannot be reached just now. Try again in a minute.",
    StoreError: "The station's database cannot be reached just now. Try again in a minute.",
}


class PortalRequest(Request):
    """Uploaded files stay in memory (bounded by MAX_CONTENT_LENGTH): a document never
    lands in a temporary file outside cupsd's spool."""

    def _get_file_stream(self, *args: Any, **kwargs: Any) -> io.BytesIO:
        return io.BytesIO()


def create_app(
    parts: WebParts,
    settings: WebSettings,
    config: Mapping[str, Any] | None = None,
    gateway: GatewayAuthority | None = None,
) -> Flask:
    """The portal for the station's `parts` and its `[web]` `settings`; `config`: Flask
    settings that override the portal's own (tests); `gateway`: the print gateway's
    authority, which serves /api/v1/gateway (releasestation.web.gateway_api)."""
    app = Flask(__name__)
    app.request_class = PortalRequest
    app.config.update(
        SECRET_KEY=load_or_create_key(key_path(settings, parts.station)),
        SESSION_COOKIE_NAME="releasestation_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.tls,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=settings.idle_minutes),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + FORM_OVERHEAD,
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session
    )
    app.config.update(config or {})
    app.extensions[KEY] = Context(parts, settings, Portal(parts, settings))
    app.extensions[metrics.KEY] = metrics.WebMetrics()
    CSRFProtect(app)
    for blueprint in (auth.bp, jobs.bp, status.bp, admin.bp, api.bp, admin.api_bp, metrics.bp):
        app.register_blueprint(blueprint)
    gateway_api.install(app, gateway)
    _errors(app, settings)
    app.after_request(_headers)
    app.jinja_env.filters["when"] = when
    app.context_processor(
        lambda: {
            "station_name": parts.station.name,
            "user": g.get("user"),
            "web_release": settings.web_release,
        }
    )
    return app


def when(moment: dt.datetime) -> str:
    """A moment as people read it: the station's local time, to the minute."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _errors(app: Flask, settings: WebSettings) -> None:
    @app.errorhandler(Refused)
    def refused(exc: Refused) -> ResponseReturnValue:
        return refusal(exc.status, exc.message)

    @app.errorhandler(CSRFError)
    def no_token(exc: CSRFError) -> ResponseReturnValue:
        log.info("web: refused a request without a valid CSRF token: %s", exc.description)
        return refusal(
            400,
            "The form's security token is missing or has expired "
            f"({exc.description.rstrip('.')}). Reload the page and try again.",
        )

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc: RequestEntityTooLarge) -> ResponseReturnValue:
        if request.endpoint == "jobs.upload":
            metrics.upload("too-large")
        return refusal(413, too_large_message(settings))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        return refusal(exc.code or 500, exc.description or exc.name)

    for kind, message in UNAVAILABLE.items():
        app.register_error_handler(kind, _unavailable(message))


def too_large_message(settings: WebSettings) -> str:
    return f"The document is larger than the {settings.max_upload_mb:g} MB this station takes."


def _unavailable(message: str):
    def handler(exc: Exception) -> ResponseReturnValue:
        log.error("web: %s", exc)
        return refusal(503, message)

    return handler


def _headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not response.headers.get("Cache-Control"):  # pages and answers are someone's own
        response.headers["Cache-Control"] = "no-store"
    return response
