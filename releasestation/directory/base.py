# SPDX-License-Identifier: GPL-3.0-or-later
"""What every directory (LDAP / Active Directory, or the local user list) offers the core."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class User:
    """A person who may release jobs. `cards` is never logged; `source` says where they live."""

    username: str
    display_name: str = ""
    email: str = ""
    source: str = "local"  # ldap | local | visitor
    dn: str | None = None
    disabled: bool = False
    cost_center: str | None = None

    def __repr__(self) -> str:
        return f"User({self.username!r}, source={self.source!r})"


@dataclass(frozen=True)
class OwnNames:
    """The directory's own NT4 domains (`CORP`) and UPN realms (`corp.example.org`): job
    owners `CORP\\alice` and `alice@corp.example.org` are its user `alice`. `settled` is
    False when they could not be read now (the directory was away) and were guessed."""

    domains: tuple[str, ...] = ()
    realms: tuple[str, ...] = ()
    settled: bool = True


class Directory(Protocol):
    """Looks people up. Raises DirectoryError when it cannot answer (never returns a guess)."""

    def user_by_card(self, card: str) -> User | None:
        """The enabled user holding `card` (exact match on a card attribute), else None."""

    def user_by_name(self, username: str) -> User | None:
        """The enabled user called `username` (case-insensitive), else None."""

    def user_by_email(self, address: str) -> User | None:
        """The enabled user whose e-mail address is `address` (case-insensitive), else None;
        None too when more than one user has it (mail-to-print: a sender becomes themselves)."""

    def authenticate(self, username: str, password: str) -> User | None:
        """The enabled user called `username` when `password` is theirs, else None. An empty
        password is refused without asking anyone (an LDAP bind with a DN and no password is
        an "unauthenticated bind", which servers accept)."""

    def in_group(self, user: User, group: str) -> bool:
        """True when `user` (as this directory returned them) is a member of `group`
        (LDAP: a group's DN or cn; local users belong to no group)."""

    def iter_users(self) -> Iterator[User]:
        """Every enabled user, in pages (for batch work such as credgen)."""

    def own_names(self) -> OwnNames:
        """The directory's own domains and realms, for matching job owners."""

    def check(self) -> list[str]:
        """Problems for `releasestation check`; empty when bind and a test search work."""

    def close(self) -> None:
        """Release connections."""
