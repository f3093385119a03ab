# SPDX-License-Identifier: GPL-3.0-or-later
"""My jobs: the user's held jobs with release and cancel, and sending a document to print.

Forms post here and come back to /jobs with a message (303); a refusal answers with its
4xx status and the reason, as a page or, to a script asking for JSON, as {"error": ...}.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from releasestation.errors import ReleaseStationError
from releasestation.submit import PrintOptions
from releasestation.web import metrics
from releasestation.web.auth import login_required
from releasestation.web.context import context, wants_json
from releasestation.web.portal import COLORS, SIDES, Refused

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

log = logging.getLogger(__name__)

bp = Blueprint("jobs", __name__)

MAX_COPIES = 99


@bp.get("/jobs")
@login_required
def my_jobs() -> ResponseReturnValue:
    ctx = context()
    return render_template(
        "jobs.html",
        jobs=ctx.portal.jobs(g.user.username),
        max_upload_mb=ctx.settings.max_upload_mb,
        hold_hours=ctx.parts.station.hold_hours,
        sides=SIDES,
        colors=COLORS if ctx.parts.state.offers_color() else {},
        max_copies=MAX_COPIES,
        release_printers=ctx.settings.release_printers,
    )


@bp.post("/jobs/<int:job_id>/release")
@login_required
def release(job_id: int) -> ResponseReturnValue:
    printer = request.form.get("printer")
    job = context().portal.release(g.user.username, job_id, printer)
    where = f" on {printer}" if printer else ""
    flash(f"Released {named(job.title)}: it is printing now{where}.", "success")
    return redirect(url_for("jobs.my_jobs"), 303)


@bp.post("/jobs/<int:job_id>/cancel")
@login_required
def cancel(job_id: int) -> ResponseReturnValue:
    job = context().portal.cancel(g.user.username, job_id)
    flash(f"Cancelled {named(job.title)}.", "success")
    return redirect(url_for("jobs.my_jobs"), 303)


@bp.post("/upload")
@login_required
def upload() -> ResponseReturnValue:
    document = request.files.get("document")
    if document is None or not document.filename:
        raise Refused(400, "Choose a document to print.")
    ctx = context()
    data = document.stream.read(ctx.settings.max_upload_bytes + 1)
    if len(data) > ctx.settings.max_upload_bytes:
        raise RequestEntityTooLarge()
    options = PrintOptions(
        copies=_copies(), sides=_choice("sides", SIDES), color=_choice("color", COLORS)
    )
    try:
        sent = ctx.portal.upload(g.user.username, data, document.filename, options)
    except Refused:
        metrics.upload("refused")
        raise
    except ReleaseStationError:
        metrics.upload("failed")
        raise
    metrics.upload("held")
    if wants_json():
        return jsonify(sent.as_json()), 201
    pages = f"{sent.pages} page{'s' if sent.pages != 1 else ''}" if sent.pages else "sent"
    flash(f"{named(sent.title, first=True)} ({pages}) is held: release it at a printer or here.",
          "success")  # fmt: skip
    return redirect(url_for("jobs.my_jobs"), 303)


def named(title: str | None, first: bool = False) -> str:
    """A job as a message names it: its title, or "the job" when titles are hidden
    (`first`: at the start of a sentence)."""
    if title is not None:
        return f"“{title}”"
    return "The job" if first else "the job"


def _copies() -> int:
    text = request.form.get("copies", "").strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= MAX_COPIES:
        raise Refused(400, f"Copies: a whole number from 1 to {MAX_COPIES}.")
    return int(text)


def _choice(name: str, allowed: dict[str, str]) -> str | None:
    value = request.form.get(name, "").strip()
    if not value:
        return None
    if value not in allowed:
        raise Refused(400, f"{name.capitalize()}: one of {', '.join(allowed)}.")
    return value
