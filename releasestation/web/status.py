# SPDX-License-Identifier: GPL-3.0-or-later
"""The station's status (/status: public or for logged-in users, `[web] status_public`)
and the admin pages (/admin: every held job with its owner, the printers and readers)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flask import Blueprint, g, render_template

from releasestation.errors import PrintServerError
from releasestation.web.auth import admin_required, login_required
from releasestation.web.context import context

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

log = logging.getLogger(__name__)

bp = Blueprint("status", __name__)


def status_page() -> ResponseReturnValue:
    state = context().parts.state
    return render_template("status.html", printers=state.printers(), readers=state.readers())


@bp.get("/status")
def status() -> ResponseReturnValue:
    if context().settings.status_public or g.user is not None:
        return status_page()
    return login_required(status_page)()


@bp.get("/admin")
@admin_required
def admin() -> ResponseReturnValue:
    ctx = context()
    state = ctx.parts.state
    try:
        jobs = [ctx.portal.view(job, admin=True) for job in state.held_jobs()]
    except PrintServerError as exc:  # the page still shows the readers, and why
        log.error("web: %s", exc)
        jobs = None
    return render_template(
        "admin.html", jobs=jobs, printers=state.printers(), readers=state.readers()
    )
