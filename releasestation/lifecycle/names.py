# SPDX-License-Identifier: GPL-3.0-or-later
"""User names found in a job (PJL header, title, config) in the form the directory uses.

`[owners] name_format`: plain (`alice`), nt4 (`DOMAIN\\alice`) or upn (`alice@realm`).
`DOMAIN\\alice` and `alice@realm` of a known domain or realm (`[owners] domain` / `realm`
and the station's owner domains and realms, releasestation.owners) and a bare `alice` are
all the same person and are written in that form, lower-cased. A name from any other
domain or realm is kept whole (lower-cased): `visitor@example.com` stays itself, never
becomes `visitor`.
"""

from __future__ import annotations

from dataclasses import dataclass

from releasestation.config import OwnerSettings
from releasestation.owners import OwnerMatcher

MAX_NAME = 256


@dataclass(frozen=True)
class NameForm:
    format: str = "plain"
    domain: str = ""
    realm: str = ""
    domains: frozenset[str] = frozenset()  # known NT4 domains, lower-case
    realms: frozenset[str] = frozenset()  # known UPN realms, lower-case

    @classmethod
    def from_settings(cls, owners: OwnerSettings, matcher: OwnerMatcher) -> NameForm:
        domains = {d.lower() for d in (*matcher.domains, owners.domain) if d}
        realms = {r.lower() for r in (*matcher.realms, owners.realm) if r}
        return cls(owners.name_format, owners.domain, owners.realm, frozenset(domains),
                   frozenset(realms))  # fmt: skip

    def normalise(self, name: str | None) -> str | None:
        """`name` in the configured form; None for an empty or unusable name."""
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME or any(ord(c) < 32 or c == "\x7f" for c in name):
            return None
        user = self._own_user(name)
        if user is None:
            return name.lower()
        if self.format == "nt4":
            return f"{self.domain}\\{user}".lower()
        if self.format == "upn":
            return f"{user}@{self.realm}".lower()
        return user

    def same(self, a: str | None, b: str | None) -> bool:
        left = self.normalise(a)
        return left is not None and left == self.normalise(b)

    def _own_user(self, name: str) -> str | None:
        """The bare user of a name of ours (plain, known domain or realm), else None."""
        if "\\" in name:
            domain, _, user = name.partition("\\")
            return user.lower() if domain.lower() in self.domains and user else None
        if "@" in name:
            user, _, realm = name.rpartition("@")
            return user.lower() if realm.lower() in self.realms and user else None
        return name.lower()
