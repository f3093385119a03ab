# SPDX-License-Identifier: GPL-3.0-or-later
"""The JSON API under /api/v1, for scripts and the end-to-end tests: a contract, so its
names stay. Session-authenticated (POST /login first); writes carry the session's CSRF
token in the X-CSRFToken header (every page has it in <meta name="csrf-token">).

- GET  /api/v1/jobs                  the user's held jobs:
                                     [{"id", "title", "pages", "queue", "submitted", "expires"}]
- POST /api/v1/jobs/<id>/release     {"released": {...job}}; 404 when not the user's;
                                     optional {"printer": one of [web] release_printers}
- POST /api/v1/jobs/<id>/cancel      {"cancelled": {...job}}
- GET  /api/v1/status                printers and readers (public per [web] status_public)
- GET  /api/v1/admin/jobs            every held job with its owner (admins)

Refusals answer {"error": reason} with a 4xx (or 503) status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, g, jsonify, request

from releasestation.web.auth import admin_required, login_required
from releasestation.web.context import context

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.get("/jobs")
@login_required
def jobs() -> ResponseReturnValue:
    return jsonify([job.as_json() for job in context().portal.jobs(g.user.username)])


@bp.post("/jobs/<int:job_id>/release")
@login_required
def release(job_id: int) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    printer = body.get("printer") if isinstance(body, dict) else request.values.get("printer")
    if printer is not None and not isinstance(printer, str):
        return jsonify(error="printer: a queue's name"), 400
    job = context().portal.release(g.user.username, job_id, printer)
    return jsonify(released=job.as_json())


@bp.post("/jobs/<int:job_id>/cancel")
@login_required
def cancel(job_id: int) -> ResponseReturnValue:
    return jsonify(cancelled=context().portal.cancel(g.user.username, job_id).as_json())


def _status() -> ResponseReturnValue:
    ctx = context()
    state = ctx.parts.state
    return jsonify(
        station=ctx.parts.station.name,
        web_release=ctx.settings.web_release,
        printers=[printer.as_json() for printer in state.printers()],
        readers=[reader.as_json() for reader in state.readers()],
    )


@bp.get("/status")
def status() -> ResponseReturnValue:
    if context().settings.status_public or g.user is not None:
        return _status()
    return login_required(_status)()


@bp.get("/admin/jobs")
@admin_required
def all_jobs() -> ResponseReturnValue:
    ctx = context()
    views = [ctx.portal.view(job, admin=True) for job in ctx.parts.state.held_jobs()]
    return jsonify([{**view.as_json(), "owner": view.owner} for view in views])
