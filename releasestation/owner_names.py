# SPDX-License-Identifier: GPL-3.0-or-later
"""Owner names: whose a CUPS job is, compared the way cupsd compares them.

One rule for case wherever the station compares owner names (`fold`): A-Z are lowered and
nothing else, as cupsd does (`my-jobs`, `@OWNER`). Unicode case folding would make
`\u212aarl` (Kelvin sign) `karl`'s name and `STRASSE` the same as `straße`: the station would
then release jobs that cupsd holds for someone else.

- `OwnerMatcher`: a job owned by `CORP\\alice`, `alice@corp.example.org`, `ALICE` or `alice`
  belongs to user `alice` when `CORP` is one of the station's NT4 domains and
  `corp.example.org` one of its realms; nothing else does. The domains and realms are
  `[station] owner_domains` / `owner_realms` as set; left empty, the directory's own
  (releasestation.directory.ldap_domain: from the base DN, or what Active Directory says);
  `none`, no domain or realm at all. `OwnerMatcher.for_station` is the one place those keys
  are read, and `StationOwners` keeps the matcher the station uses now.
- `NameForm`: a user name found in a job (PJL header, title, config) in the form the
  directory uses, `[owners] name_format`: plain (`alice`), nt4 (`DOMAIN\\alice`) or upn
  (`alice@realm`). `DOMAIN\\alice` and `alice@realm` of a known domain or realm (`[owners]
  domain` / `realm` and the station's owner domains and realms) and a bare `alice` are all
  the same person and are written in that form, folded. A name from any other domain or
  realm is kept whole (folded): `visitor@example.com` stays itself, never becomes `visitor`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from releasestation.config import NO_NAMES, OwnerSettings, StationSettings
from releasestation.directory.base import OwnNames

log = logging.getLogger(__name__)

MAX_NAME = 256
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(name: str) -> str:
    """`name` with A-Z lowered and nothing else changed: how cupsd compares owner names."""
    return name.translate(_ASCII_LOWER)


def same_name(a: str, b: str) -> bool:
    """True when cupsd takes `a` and `b` for the same owner (white space around ignored)."""
    return fold(a.strip()) == fold(b.strip())


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
            return fold(name) if _within(domain, self.domains) and name else None
        if "@" in owner:
            name, _, realm = owner.rpartition("@")
            return fold(name) if _within(realm, self.realms) and name else None
        return fold(owner) or None

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


# What a part that matches owners is handed: the matcher as the station knows it now.
MatcherSource = Callable[[], OwnerMatcher]


class StationOwners:
    """The station's OwnerMatcher: its configured domains and realms, the directory's own
    where it sets none. The directory is asked once; again later if it was away."""

    def __init__(self, station: StationSettings, own_names: Callable[[], OwnNames]):
        self.station = station
        self.own_names = own_names
        self._settled: OwnerMatcher | None = None

    def matcher(self) -> OwnerMatcher:
        settled = self._settled
        if settled is not None:
            return settled
        station = self.station
        own = self.own_names() if OwnerMatcher.uses_directory(station) else OwnNames()
        matcher = OwnerMatcher.for_station(station, own)
        if own.settled:
            self._settled = matcher
            log.info(
                "job owners DOMAIN\\user for domains: %s; user@realm for realms: %s",
                ", ".join(matcher.domains) or "none",
                ", ".join(matcher.realms) or "none",
            )
        return matcher


@dataclass(frozen=True)
class NameForm:
    format: str = "plain"
    domain: str = ""
    realm: str = ""
    domains: frozenset[str] = frozenset()  # known NT4 domains, folded
    realms: frozenset[str] = frozenset()  # known UPN realms, folded

    @classmethod
    def from_settings(cls, owners: OwnerSettings, matcher: OwnerMatcher) -> NameForm:
        domains = {fold(d) for d in (*matcher.domains, owners.domain) if d}
        realms = {fold(r) for r in (*matcher.realms, owners.realm) if r}
        return cls(owners.name_format, owners.domain, owners.realm, frozenset(domains),
                   frozenset(realms))  # fmt: skip

    def normalise(self, name: str | None) -> str | None:
        """`name` in the configured form; None for an empty or unusable name."""
        name = (name or "").strip()
        if not name or len(name) > MAX_NAME or any(ord(c) < 32 or c == "\x7f" for c in name):
            return None
        user = self._own_user(name)
        if user is None:
            return fold(name)
        if self.format == "nt4":
            return fold(f"{self.domain}\\{user}")
        if self.format == "upn":
            return fold(f"{user}@{self.realm}")
        return user

    def same(self, a: str | None, b: str | None) -> bool:
        left = self.normalise(a)
        return left is not None and left == self.normalise(b)

    def _own_user(self, name: str) -> str | None:
        """The bare user of a name of ours (plain, known domain or realm), else None."""
        if "\\" in name:
            domain, _, user = name.partition("\\")
            return fold(user) if fold(domain) in self.domains and user else None
        if "@" in name:
            user, _, realm = name.rpartition("@")
            return fold(user) if fold(realm) in self.realms and user else None
        return fold(name)


def _chosen(configured: tuple[str, ...], own: tuple[str, ...]) -> tuple[str, ...]:
    if not configured:
        return own
    return () if [fold(name) for name in configured] == [NO_NAMES] else configured


def _within(part: str, allowed: Iterable[str]) -> bool:
    return fold(part) in {fold(a) for a in allowed}
