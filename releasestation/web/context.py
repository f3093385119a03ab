# SPDX-License-Identifier: GPL-3.0-or-later
"""What every view of the portal reaches: the parts and settings `create_app` was handed,
the Portal built on them, and how to answer (HTML for people, JSON for scripts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app, jsonify, render_template, request

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from releasestation.config import WebSettings
    from releasestation.web.parts import WebParts
    from releasestation.web.portal import Portal

KEY = "releasestation"


@dataclass(frozen=True)
class Context:
    parts: WebParts
    settings: WebSettings
    portal: Portal


def context() -> Context:
    found: Context = current_app.extensions[KEY]
    return found


def wants_json() -> bool:
    """True for the API, and for scripts that ask for JSON rather than a page."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def refusal(status: int, message: str) -> ResponseReturnValue:
    """An answer saying why not: {"error": message} to scripts, a page to people."""
    if wants_json():
        return jsonify(error=message), status
    return render_template("error.html", status=status, message=message), status
