# SPDX-License-Identifier: GPL-3.0-or-later
"""Who owns a job: matching CUPS owner names to directory usernames.

A job owned by `CORP\\alice`, `alice@corp.example.org`, `ALICE` or `alice` belongs to user
`alice` when `CORP` is one of the station's NT4 domains and `corp.example.org` one of its
realms; nothing else does. Comparison ignores case, as Windows and cupsd do.

The domains and realms are `[station] owner_domains` / `owner_realms` as set; left empty,
the directory's own (releasestation.directory.ldap_domain: from the base DN, or what Active
Directory says); `none`, no domain or realm at all. `for_station` is the one place those
keys are read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from releasestation.config import NO_NAMES, StationSettings
from releasestation.directory.base import OwnNames


@dataclass(frozen=True)
class OwnerMatcher:
    domains: tuple[str, ...] = ()
    realms: tuple[str, ...] = ()

    @classmethod
    def for_station(cls, station: StationSettings, own: OwnNames) -> OwnerMatcher:
        """The domains and realms `station` sets, the directory's `own` where it sets none."""
        return cls(
            _chosen(station.owner_domains, own.domains), _chosen(station.owner_realms, own.realms)
        )

    @staticmethod
    def uses_directory(station: StationSettings) -> bool:
        """True when a key is left empty, so the directory's own names are needed."""
        return not (station.owner_domains and station.owner_realms)

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


def _chosen(configured: tuple[str, ...], own: tuple[str, ...]) -> tuple[str, ...]:
    if not configured:
        return own
    return () if [name.lower() for name in configured] == [NO_NAMES] else configured


def _within(part: str, allowed: Iterable[str]) -> bool:
    return part.lower() in {a.lower() for a in allowed}
