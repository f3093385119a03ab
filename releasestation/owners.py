# SPDX-License-Identifier: GPL-3.0-or-later
"""Who owns a job: matching CUPS owner names to directory usernames.

A job owned by `CORP\\alice`, `alice@corp.example.org`, `ALICE` or `alice` belongs to user
`alice` when `CORP` is one of the configured NT4 domains and `corp.example.org` one of the
realms; nothing else does. Comparison ignores case, as Windows and cupsd do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class OwnerMatcher:
    domains: tuple[str, ...] = ()
    realms: tuple[str, ...] = ()

    def base_name(self, owner: str) -> str | None:
        """The plain user name `owner` stands for, or None if its domain/realm is foreign."""
        owner = owner.strip()
        if "\\" in owner:
            domain, _, name = owner.partition("\\")
            return name.lower() if _within(domain, self.domains) and name else None
        if "@" in owner:
            name, _, realm = owner.rpartition("@")
            return name.lower() if _within(realm, self.realms) and name else None
        return owner.lower() or None

    def owns(self, owner: str, username: str) -> bool:
        return self.base_name(owner) == self.base_name(username) is not None

    def variants(self, username: str) -> list[str]:
        """Every owner name that belongs to `username` (for server-side filtering)."""
        name = self.base_name(username)
        if name is None:
            return []
        out = [name]
        out += [f"{domain}\\{name}" for domain in self.domains]
        out += [f"{name}@{realm}" for realm in self.realms]
        return out


def _within(part: str, allowed: Iterable[str]) -> bool:
    return part.lower() in {a.lower() for a in allowed}
