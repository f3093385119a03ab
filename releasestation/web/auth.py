# SPDX-License-Identifier: GPL-3.0-or-later
"""Logging in and out, the session's user, and the views' `login_required` / `admin_required`.

A login is checked by the directory (`authenticate`: LDAP search then bind, or a local
user's stored password hash) after the throttle (releasestation.web.throttle) has said the
name and address may try. Every failure gets one message, so the form tells nobody which
user names exist. Admins are the users named in `[web] admins` and the members of the
directory group `[web] admin_group` (asked once, at login).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from releasestation.errors import DirectoryError
from releasestation.owner_names import fold
from releasestation.web import metrics
from releasestation.web.context import context, refusal, wants_json

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from releasestation.config import WebSettings
    from releasestation.directory import Directory, User

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

LOGIN_FAILED = (
    "Login failed: the user name or password is wrong, or there were too many tries. "
    "Check them, or wait a few minutes and try again."
)
SEEN_EVERY = 15  # seconds: how often the session's last-seen time is written again


@dataclass(frozen=True)
class WebUser:
    """The logged-in user, as the session remembers them."""

    username: str
    name: str
    admin: bool


def is_admin(user: User, settings: WebSettings, directory: Directory) -> bool:
    """Named in `[web] admins`, or a member of `[web] admin_group` (asked of the
    directory at login; when it cannot say, not an admin this session)."""
    if fold(user.username) in {fold(name) for name in settings.admins}:
        return True
    if not settings.admin_group:
        return False
    try:
        return directory.in_group(user, settings.admin_group)
    except DirectoryError as exc:
        log.warning("web: membership of %s in %s not known: %s", user.username,
                    settings.admin_group, exc)  # fmt: skip
        return False


@bp.before_app_request
def load_user() -> None:
    """g.user from the session; a session idle for longer than `idle_minutes` ends."""
    g.user = None
    username = session.get("user")
    if not username:
        return
    now, idle = time.time(), context().settings.idle_minutes * 60
    if now - float(session.get("seen", 0)) > idle:
        session.clear()
        flash("You were logged out after a while without activity.", "info")
        return
    if now - float(session.get("seen", 0)) > SEEN_EVERY:
        session["seen"] = now
    g.user = WebUser(username, session.get("name") or username, bool(session.get("admin")))


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            if wants_json():
                return jsonify(error="Log in first."), 401
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not g.user.admin:
            return refusal(403, "This page is for the station's admins.")
        return view(*args, **kwargs)

    return wrapped


@bp.get("/")
def index() -> ResponseReturnValue:
    return redirect(url_for("jobs.my_jobs" if g.user else "auth.login"))


@bp.get("/login")
def login() -> ResponseReturnValue:
    if g.user is not None:
        return redirect(_next_page())
    return render_template("login.html", next=_next_page())


@bp.post("/login")
def do_login() -> ResponseReturnValue:
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not username or not password:
        metrics.login("incomplete")
        return _failed(400, "Enter your user name and your password.", username)
    address = request.remote_addr
    parts = context().parts
    # The login is counted as a failure before the directory checks it, and given back
    # when it succeeds or gets no answer: parallel guesses cannot outrun the limits.
    slot = parts.throttle.take(username, address)
    if slot.refusal:
        metrics.login("throttled")
        # No name: an address locked out may be trying anything, passwords included.
        log.warning("web: a login from %s refused: the name or the address is locked out",
                    address)  # fmt: skip
        return _failed(429, LOGIN_FAILED, username)
    try:
        user = parts.directory.authenticate(username, password)
    except DirectoryError:
        parts.throttle.release(slot)
        metrics.login("unavailable")
        raise
    except BaseException:
        parts.throttle.release(slot)
        raise
    if user is None:
        metrics.login("failed")
        known = False
        try:
            known = _known(username)
        finally:  # the failure counts whatever asking about the name does
            parts.throttle.failed(slot, username, address, known=known)
        log.info("web: failed login of %s from %s", _loggable(username, known), address)
        return _failed(401, LOGIN_FAILED, username)
    parts.throttle.release(slot)
    metrics.login("ok")
    session.clear()  # a fresh session (and CSRF token) for the new user
    session.permanent = True
    session.update(
        user=user.username,
        name=user.display_name or user.username,
        admin=is_admin(user, context().settings, parts.directory),
        seen=time.time(),
    )
    # The new session's CSRF token goes into the login answer's cookie, so that a script
    # which keeps only that cookie (curl -c at login, -b after) can write with the token
    # any page shows: otherwise the first page after login would set it in a cookie of
    # its own, and a write without that cookie be refused as "session token missing".
    g.pop("csrf_token", None)
    token = generate_csrf()
    log.info("web: %s logged in from %s", user.username, address)
    if wants_json():
        return jsonify(
            user=user.username, name=session["name"], admin=session["admin"], csrf_token=token
        )
    return redirect(_next_page(), 303)


def _known(username: str) -> bool:
    """Whether the directory knows `username` (a failed login's name may be a password)."""
    try:
        return context().parts.directory.user_by_name(username) is not None
    except DirectoryError:
        return False


def _loggable(username: str, known: bool) -> str:
    """A failed login's name as the log shows it: a user the directory knows by name, else
    not at all (people type their password into the name field, and the log must not
    keep it)."""
    return repr(username[:64]) if known else "a user name the directory does not know"


def _failed(status: int, message: str, username: str) -> ResponseReturnValue:
    if wants_json():
        return jsonify(error=message), status
    page = render_template("login.html", error=message, username=username, next=_next_page())
    return page, status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if g.user is not None:
        log.info("web: %s logged out", g.user.username)
    session.clear()
    if wants_json():
        return jsonify(logged_out=True)
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"), 303)


def _next_page() -> str:
    """Where to go after logging in: a path of this site only, else My jobs."""
    target = request.values.get("next", "")
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    if local and not urlsplit(target).netloc:
        return target
    return url_for("jobs.my_jobs")
