# SPDX-License-Identifier: GPL-3.0-or-later
"""The admin pages beyond every held job (that one is /admin, releasestation.web.status):

- /admin/readers            each reader, its connection and its last errors
- /admin/audit              the audit trail, filtered (user, way, event, outcome, printer,
                            period), newest first, 50 rows a page
- /admin/reports            pages and jobs by user, cost center, printer or station per
                            day, week or month (releasestation.reports); .csv to download
- /admin/users/<name>       a user's cards (add, remove) and PIN (reset, mailed)

and their JSON equivalents under /api/v1/admin/. Admins only (403 for anyone else); every
form and API write carries the session's CSRF token, as everywhere in the portal.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from releasestation import reports
from releasestation.web.accounts import Accounts
from releasestation.web.auth import admin_required
from releasestation.web.context import context
from releasestation.web.portal import Refused
from releasestation.web.trail import BadFilter, TrailFilter, reader_errors, trail_page

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from releasestation.web.state import ReaderState

bp = Blueprint("admin", __name__, url_prefix="/admin")
api_bp = Blueprint("admin_api", __name__, url_prefix="/api/v1/admin")

VIAS = ("card", "pin", "cac", "web", "mail", "admin", "credgen", "gateway")
# Every event the station audits: identify (served from the offline copy), notify (the
# portal's job mails), gateway (the print gateway's decisions).
EVENTS = (
    "submit", "release", "deny", "cancel", "expire", "printed", "credential", "lockout",
    "identify", "notify", "gateway",
)  # fmt: skip


# ---- readers


def _readers() -> list[tuple[ReaderState, list]]:
    ctx = context()
    readers = ctx.parts.state.readers()
    errors = reader_errors(ctx.parts.store, ctx.parts.station.name, [r.name for r in readers])
    return [(reader, errors.get(reader.name, [])) for reader in readers]


@bp.get("/readers")
@admin_required
def readers() -> ResponseReturnValue:
    return render_template("admin_readers.html", readers=_readers())


@api_bp.get("/readers")
@admin_required
def readers_json() -> ResponseReturnValue:
    return jsonify(
        [
            {**reader.as_json(), "errors": [error.as_json() for error in errors]}
            for reader, errors in _readers()
        ]
    )


# ---- the audit trail


def _trail() -> tuple[TrailFilter, list, int | None]:
    ctx = context()
    try:
        wanted = TrailFilter.from_args(request.args)
    except BadFilter as exc:
        raise Refused(400, f"Filter {exc}.") from None
    titles = ctx.portal.shows_titles(admin=True)
    rows, more = trail_page(ctx.parts.store, wanted, titles)
    return wanted, rows, more


@bp.get("/audit")
@admin_required
def audit() -> ResponseReturnValue:
    wanted, rows, more = _trail()
    next_page = url_for("admin.audit", **wanted.as_args(), before=more) if more else None
    first_page = url_for("admin.audit", **wanted.as_args()) if wanted.before else None
    return render_template(
        "admin_audit.html",
        wanted=wanted,
        rows=rows,
        next_page=next_page,
        first_page=first_page,
        vias=VIAS,
        events=EVENTS,
    )


@api_bp.get("/audit")
@admin_required
def audit_json() -> ResponseReturnValue:
    _wanted, rows, more = _trail()
    return jsonify(rows=[row.as_json() for row in rows], next_before=more)


# ---- reports


def _report() -> tuple[dict[str, str], list[reports.ReportRow]]:
    args = request.args
    by = args.get("by") or "user"
    period = args.get("period") or "month"
    if by not in reports.BY or period not in reports.PERIODS:
        raise Refused(400, f"by: one of {', '.join(reports.BY)}; period: one of "
                           f"{', '.join(reports.PERIODS)}.")  # fmt: skip
    try:
        since = _day(args.get("since"))
        until = _day(args.get("until"))
    except ValueError:
        raise Refused(400, "since, until: a day as YYYY-MM-DD.") from None
    rows = reports.report(context().parts.store, by, period, since, until)
    asked = {"by": by, "period": period, "since": args.get("since") or "",
             "until": args.get("until") or ""}  # fmt: skip
    return asked, rows


def _day(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text.strip()) if text and text.strip() else None


@bp.get("/reports")
@admin_required
def report() -> ResponseReturnValue:
    asked, rows = _report()
    wanted: dict[str, Any] = {k: v for k, v in asked.items() if v}
    csv_link = url_for("admin.report_csv", **wanted)
    return render_template(
        "admin_reports.html",
        asked=asked,
        rows=rows,
        total=reports.totals(rows),
        csv_link=csv_link,
        bys=reports.BY,
        periods=reports.PERIODS,
    )


@bp.get("/reports.csv")
@admin_required
def report_csv() -> ResponseReturnValue:
    asked, rows = _report()
    name = f"report-{asked['by']}-{asked['period']}.csv"
    return Response(
        reports.render(rows, "csv", asked["by"]),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@api_bp.get("/reports")
@admin_required
def report_json() -> ResponseReturnValue:
    asked, rows = _report()
    return jsonify(by=asked["by"], period=asked["period"],
                   rows=[vars(row) for row in rows])  # fmt: skip


# ---- a user's cards and PIN


def _accounts() -> Accounts:
    return Accounts(context().parts)


@bp.get("/users")
@admin_required
def find_user() -> ResponseReturnValue:
    name = (request.args.get("name") or "").strip()
    if not name:
        return render_template("admin_user.html", person=None, cards=[])
    return redirect(url_for("admin.user", name=name))


@bp.get("/users/<name>")
@admin_required
def user(name: str) -> ResponseReturnValue:
    accounts = _accounts()
    person = accounts.user(name)
    return render_template(
        "admin_user.html",
        person=person,
        cards=accounts.cards(person),
        pins=context().parts.credgen.generate_pin,
    )


def _back(name: str) -> ResponseReturnValue:
    return redirect(url_for("admin.user", name=name), 303)


@bp.post("/users/<name>/cards")
@admin_required
def add_card(name: str) -> ResponseReturnValue:
    accounts = _accounts()
    person = accounts.user(name)
    last = accounts.add_card(person, request.form.get("number", ""), g.user.username)
    flash(f"A card ending {last} is now {person.username}'s.", "success")
    return _back(person.username)


@bp.post("/users/<name>/cards/<int:card_id>/remove")
@admin_required
def remove_card(name: str, card_id: int) -> ResponseReturnValue:
    accounts = _accounts()
    person = accounts.user(name)
    last = accounts.remove_card(person, card_id, g.user.username)
    flash(f"The card ending {last} is no longer {person.username}'s.", "success")
    return _back(person.username)


@bp.post("/users/<name>/pin")
@admin_required
def reset_pin(name: str) -> ResponseReturnValue:
    accounts = _accounts()
    person = accounts.user(name)
    address = accounts.reset_pin(person, g.user.username)
    flash(f"A new PIN for {person.username} was mailed to {address}.", "success")
    return _back(person.username)


@api_bp.get("/users/<name>/cards")
@admin_required
def cards_json(name: str) -> ResponseReturnValue:
    accounts = _accounts()
    person = accounts.user(name)
    return jsonify(user=person.username, cards=[c.as_json() for c in accounts.cards(person)])


@api_bp.post("/users/<name>/cards")
@admin_required
def add_card_json(name: str) -> ResponseReturnValue:
    accounts = _accounts()
    person = accounts.user(name)
    body = request.get_json(silent=True)
    number = body.get("number") if isinstance(body, dict) else request.form.get("number")
    if not isinstance(number, str):
        raise Refused(400, "number: the card's number, as text.")
    last = accounts.add_card(person, number, g.user.username)
    return jsonify(user=person.username, added={"last": last}), 201


@api_bp.post("/users/<name>/cards/<int:card_id>/remove")
@admin_required
def remove_card_json(name: str, card_id: int) -> ResponseReturnValue:
    accounts = _accounts()
    person = accounts.user(name)
    last = accounts.remove_card(person, card_id, g.user.username)
    return jsonify(user=person.username, removed={"id": card_id, "last": last})


@api_bp.post("/users/<name>/pin")
@admin_required
def reset_pin_json(name: str) -> ResponseReturnValue:
    accounts = _accounts()
    person = accounts.user(name)
    return jsonify(user=person.username, mailed_to=accounts.reset_pin(person, g.user.username))
