# SPDX-License-Identifier: GPL-3.0-or-later
"""WebParts: what the portal is handed from the station, and `web_parts(app)`, which makes
them from an App (the portal's wiring, as releasestation.daemon.build_station is the
daemon's). The portal reaches cupsd, the directory and the store only through these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from releasestation.app import App
    from releasestation.audit import Audit
    from releasestation.config import StationSettings
    from releasestation.credentials.one_user import UserIssuer
    from releasestation.credentials.settings import CredgenSettings
    from releasestation.directory import Directory
    from releasestation.printq import PrintServer
    from releasestation.release import Releaser
    from releasestation.secret import Hasher
    from releasestation.store import Store
    from releasestation.submit import CheckedDocument, DocumentLimits, Submitter
    from releasestation.web.state import StationState
    from releasestation.web.throttle import LoginThrottle


@dataclass(frozen=True)
class WebParts:
    """The station's parts the portal uses: `directory` (log in, look a user up),
    `releaser` (a user's held jobs in every owner-name form; release, claimed and audited
    as a swipe is), `printq` (cancel), `audit`, `throttle` (failed logins), `state`
    (printers, readers, every held job), `station` (its settings), the upload's
    `check_document` and `submitter` (releasestation.submit); for the admin pages and the
    mails, `store` (the audit trail, reports, cards), `hasher` (card numbers as the store
    keeps them), `user_issuer` (a PIN reset, mailed) and `credgen` (the mail settings)."""

    directory: Directory
    releaser: Releaser
    printq: PrintServer
    audit: Audit
    throttle: LoginThrottle
    state: StationState
    station: StationSettings
    check_document: Callable[[bytes, str, DocumentLimits], CheckedDocument]
    submitter: Submitter
    store: Store
    hasher: Hasher
    user_issuer: UserIssuer
    credgen: CredgenSettings


def web_parts(app: App) -> WebParts:
    """The portal's parts, made from `app` (its own; the daemon need not run)."""
    from releasestation.credentials.lockout import Lockouts
    from releasestation.monitoring.status import daemon_url
    from releasestation.submit import check_document
    from releasestation.web.state import DaemonReaders, StationState
    from releasestation.web.throttle import LoginThrottle, lockout_policy

    config = app.config
    lockouts = Lockouts(app.store, app.audit, lockout_policy(config.web))
    listen = config.monitoring.listen
    live = DaemonReaders(daemon_url(listen)) if listen and config.readers else None
    return WebParts(
        directory=app.directory,
        releaser=app.releaser,
        printq=app.printq,
        audit=app.audit,
        throttle=LoginThrottle(lockouts, app.hasher, config.web),
        state=StationState(app.printq, app.store, config.station, config.readers, live),
        station=config.station,
        check_document=check_document,
        submitter=app.submitter,
        store=app.store,
        hasher=app.hasher,
        user_issuer=app.user_issuer,
        credgen=config.credgen,
    )
