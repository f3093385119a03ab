# SPDX-License-Identifier: GPL-3.0-or-later
"""Failed logins to the portal, throttled per user name and per address.

Each failure counts in two scopes of the lockout store (releasestation.credentials.lockout,
the one the readers' PIN lockout uses): the user name tried (folded as cupsd and the
directory compare names; kept only as a keyed digest, since people type passwords into the
name field) and the client's address (an IPv6 client by its /64, which one host usually
has whole). `[web] login_user_failures` failures of one name, or `login_address_failures`
from one address, within `login_window_seconds` lock that name or address out of the
portal for `login_lockout_seconds`, twice as long for each lockout in a row. The limits
hold exactly however many logins arrive at once: each is counted before the directory
checks it and taken back when it succeeds, as the readers' PINs are. The state is
in the store: it survives restarts and is shared by the stations of a site. A locked name
is refused before the directory is asked, whether the user exists or not, so the lockout
tells nothing about which names exist. Web failures never lock the readers' PIN pads.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING

from releasestation.audit import Event
from releasestation.credentials.lockout import Limit, LockoutPolicy, Lockouts, Slot
from releasestation.owner_names import fold

if TYPE_CHECKING:
    import datetime as dt

    from releasestation.config import WebSettings
    from releasestation.credentials.models import Lockout
    from releasestation.secret import Hasher

log = logging.getLogger(__name__)

METHOD = "web"
USER_SCOPE = "web-user:"
ADDRESS_SCOPE = "web-address:"


def lockout_policy(settings: WebSettings) -> LockoutPolicy:
    """How long a name or address stays locked: `login_lockout_seconds`, doubling, at most
    a day; the doubling is forgotten after a quiet day."""
    first = settings.login_lockout_seconds
    return LockoutPolicy(first_lockout_seconds=first, max_lockout_seconds=max(first, 86_400.0))


def address_key(address: str | None) -> str:
    """The address as throttled: IPv4 whole, IPv6 by its /64 (an IPv4-mapped one as IPv4)."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "unknown")[:64]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class LoginThrottle:
    """Counts failed logins in `lockouts` and says when a name or address must wait.

    A login takes its place among the failures before the directory checks it (`take`),
    and gives it back when the password was right or the directory did not answer
    (`release`): however many logins arrive at once, no more are checked in a window than
    the limits allow."""

    def __init__(self, lockouts: Lockouts, hasher: Hasher, settings: WebSettings):
        self.lockouts = lockouts
        self.hasher = hasher
        self.settings = settings

    def take(self, username: str, address: str | None) -> Slot:
        """A slot for checking one login of `username` from `address`, counted as a failure
        of both until `release`; or a refusal (`slot.refusal`) when either is locked out
        or at its limit with logins still being checked."""
        user_scope, address_scope = self._scopes(username, address)
        s = self.settings
        limits = (
            Limit(user_scope, s.login_user_failures, s.login_window_seconds, "failed logins"),
            Limit(
                address_scope,
                s.login_address_failures,
                s.login_window_seconds,
                "failed logins from this address",
            ),
        )
        return self.lockouts.take_in(limits, METHOD)

    def release(self, slot: Slot) -> None:
        """The login of `slot` was right, or got no answer: its failures are taken back."""
        self.lockouts.release(slot)

    def failed(self, slot: Slot, username: str, address: str | None, known: bool = False) -> None:
        """The login of `slot` (of `username` from `address`) failed: it stays counted, and
        locks the name or the address when it brings them to their limit (audited). The
        lockout's log line and audit row name the user only when `known` (the directory
        knows the name): an unknown "name" is often a password typed in the wrong field."""
        user_scope, _address_scope = self._scopes(username, address)
        tried = username.strip()[:64] if known else None

        def event(scope: str, state: Lockout, now: dt.datetime) -> Event:
            seconds = int((state.locked_until - now).total_seconds()) if state.locked_until else 0
            by_name = scope == user_scope
            name = f"user name {tried!r}" if tried else "a user name the directory does not know"
            what = name if by_name else f"address {address_key(address)}"
            return Event(
                "lockout",
                outcome="web-user-locked" if by_name else "web-address-locked",
                method=METHOD,
                username=tried if by_name else None,
                detail=f"portal logins of {what} locked for {seconds} s "
                f"(lockout {state.level} in a row)",
                at=now,
            )

        self.lockouts.failed_in(slot, METHOD, event)

    def _scopes(self, username: str, address: str | None) -> tuple[str, str]:
        digest = self.hasher.digest("web-login", fold(username.strip()))[:40]
        return USER_SCOPE + digest, ADDRESS_SCOPE + address_key(address)
