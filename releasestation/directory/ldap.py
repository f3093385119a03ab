# SPDX-License-Identifier: GPL-3.0-or-later
"""The LDAP / Active Directory directory (`[directory] type = ldap`).

A card lookup is one subtree search under `base_dn`:
`(&<user_filter>(|(<card attribute 1>=<card>)(<card attribute 2>=<card>)))`, every value
escaped, asking only for the attributes a User is built from, on this thread's bound
connection. Exactly one match is a user; several are a directory problem, logged with the
card masked, and never a guess. The server must index the card attributes (equality) for
this to stay fast: see docs/directory.md. Profiles (rfc2307, ad) live in ldap_profile,
connections, failover and TLS in ldap_connection.

A login (`authenticate`) finds the user's entry in the same way as `user_by_name` (escaped
filter, disabled accounts excluded), then binds as that entry with the password on a
connection of its own. An empty password never reaches the server.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from collections.abc import Generator
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from readers import mask
from releasestation.config import DirectorySettings, read_secret_text
from releasestation.directory.base import OwnNames, User
from releasestation.directory.ldap_connection import (
    CONNECTION_ERRORS,
    DEAD_SERVER_SECONDS,
    Connector,
    failed,
)
from releasestation.directory.ldap_domain import names_from_base_dn, read_ad_names
from releasestation.directory.ldap_profile import (
    card_filter,
    email_filter,
    name_filter,
    profile_for,
    to_user,
)
from releasestation.errors import ConfigError, DirectoryError

log = logging.getLogger(__name__)

PAGED_RESULTS = "1.2.840.113556.1.4.319"
SUCCESS, SIZE_LIMIT_EXCEEDED, NO_SUCH_OBJECT = 0, 4, 32

Entry = tuple[str, dict[str, Any]]


class LdapDirectory:
    """Users in an LDAP directory or Active Directory; see the module docstring."""

    def __init__(
        self, settings: DirectorySettings, *, dead_server_seconds: int = DEAD_SERVER_SECONDS
    ):
        if not settings.uri or not settings.base_dn:
            raise ConfigError("[directory] uri and base_dn are required for type = ldap")
        self.settings = settings
        self.base_dn: str = settings.base_dn
        self.profile = profile_for(settings)
        password = read_secret_text(
            settings.bind_password, settings.bind_password_file, "[directory] bind_password_file"
        )
        self._connector = Connector(settings, password, dead_server_seconds)

    def user_by_card(self, card: str) -> User | None:
        if not card:
            return None
        entries = self._search(card_filter(self.profile, card))
        return self._only(entries, f"card {mask(card)}")

    def user_by_name(self, username: str) -> User | None:
        if not username.strip():
            return None
        entries = self._search(name_filter(self.profile, username.strip()))
        return self._only(entries, f"user name {username.strip()!r}")

    def user_by_email(self, address: str) -> User | None:
        if not address.strip() or "@" not in address:
            return None
        entries = self._search(email_filter(self.profile, address.strip()))
        return self._only(entries, f"e-mail address {address.strip()!r}")

    def authenticate(self, username: str, password: str) -> User | None:
        """The enabled user called `username` (found as user_by_name finds them, with the
        station's account) when the directory lets their entry bind with `password`."""
        if not password:
            return None
        user = self.user_by_name(username)
        if user is None or user.dn is None:
            return None
        if not self._connector.password_accepted(user.dn, password):
            log.debug("the directory refused the password of %s", user.username)
            return None
        return user

    def in_group(self, user: User, group: str) -> bool:
        """True when `user` is a direct member of `group` (a DN, or a group's cn under
        base_dn's dc= part): groupOfNames / groupOfUniqueNames / AD groups by the user's
        DN, posixGroup by the user name; on Active Directory nested groups count too.
        Every value escaped."""
        if not group.strip() or user.dn is None:
            return False
        dn, name = escape_filter_chars(user.dn), escape_filter_chars(user.username)
        by_dn = f"member:1.2.840.113556.1.4.1941:={dn}" if self.profile.is_ad else f"member={dn}"
        members = f"(|({by_dn})(uniqueMember={dn})(memberUid={name}))"
        if "=" in group:  # a DN: that entry only
            base, scope, search_filter = group.strip(), ldap3.BASE, members
        else:  # groups often live beside the people (ou=groups): search the whole domain
            base, scope = domain_root(self.base_dn), ldap3.SUBTREE
            search_filter = f"(&(cn={escape_filter_chars(group.strip())}){members})"

        def operation(connection: ldap3.Connection) -> bool:
            connection.search(base, search_filter, scope, attributes=[ldap3.NO_ATTRIBUTES])
            code = (connection.result or {}).get("result")
            if code == NO_SUCH_OBJECT:
                return False
            return bool(self._entries(connection))

        return self._connector.run(operation)

    def iter_users(self) -> Generator[User, None, None]:
        """Every enabled user, read in pages of `page_size` on a connection of its own."""
        with self._connector.dedicated() as connection:
            cookie: bytes | None = None
            while True:
                entries, cookie = self._page(connection, cookie)
                for dn, attributes in entries:
                    user = to_user(self.profile, dn, attributes)
                    if user is not None and not user.disabled:
                        yield user
                if not cookie:
                    return

    def own_names(self) -> OwnNames:
        """The domain and realm of `base_dn`'s dc= components; on Active Directory the
        domain's NetBIOS name and UPN suffixes when they can be read (ldap_domain)."""
        guessed = names_from_base_dn(self.base_dn)
        if not self.profile.is_ad:
            return guessed
        try:
            read = self._connector.run(lambda connection: read_ad_names(connection, self.base_dn))
        except DirectoryError as exc:
            log.warning("the domain's NetBIOS name and UPN suffixes not read now: %s", exc)
            return dataclasses.replace(guessed, settled=False)
        if read is None:
            log.info(
                "no partition of the domain of %s readable under CN=Partitions: owner names"
                " follow base_dn alone",
                self.base_dn,
            )
            return guessed
        return read

    def check(self) -> list[str]:
        """Problems for `releasestation check`: the password file, bind, base_dn, a search."""
        problems = self._secret_file_problems()
        try:
            problems += self._connector.run(self._probe)
        except DirectoryError as exc:
            problems.append(str(exc))
        return problems

    def close(self) -> None:
        self._connector.close()

    def __enter__(self) -> LdapDirectory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _search(self, search_filter: str) -> list[Entry]:
        # Two entries are enough to know a lookup is ambiguous.
        def operation(connection: ldap3.Connection) -> list[Entry]:
            connection.search(
                self.base_dn, search_filter, attributes=self.profile.attributes, size_limit=2
            )
            return self._entries(connection)

        return self._connector.run(operation)

    def _page(self, connection: ldap3.Connection, cookie: bytes | None) -> tuple[list[Entry], Any]:
        try:
            connection.search(
                self.base_dn,
                self.profile.user_filter,
                attributes=self.profile.attributes,
                paged_size=self.profile.page_size,
                paged_cookie=cookie,
            )
        except CONNECTION_ERRORS as exc:
            raise self._connector.unreachable(exc) from None
        except LDAPException as exc:
            raise failed(connection, exc) from None
        if (connection.result or {}).get("result") == SIZE_LIMIT_EXCEEDED:
            raise DirectoryError(
                f"{connection.server.name}: the server's size limit cut the list of users "
                f"short; let {self.settings.bind_dn or 'anonymous'} page through all entries "
                "(OpenLDAP: olcLimits size.prtotal=unlimited)"
            )
        entries = self._entries(connection)
        controls = (connection.result or {}).get("controls") or {}
        return entries, controls.get(PAGED_RESULTS, {}).get("value", {}).get("cookie")

    def _entries(self, connection: ldap3.Connection) -> list[Entry]:
        """The entries of the last search; DirectoryError when the server refused it."""
        result = connection.result or {}
        code = result.get("result")
        if code == NO_SUCH_OBJECT:
            raise DirectoryError(f"{connection.server.name}: base_dn {self.base_dn} does not exist")
        if code not in (SUCCESS, SIZE_LIMIT_EXCEEDED):
            raise DirectoryError(
                f"{connection.server.name}: search refused: {result.get('description')}"
                f" (result {code})"
            )
        return [
            (item["dn"], item["attributes"])
            for item in connection.response or []
            if item.get("type") == "searchResEntry"
        ]

    def _only(self, entries: list[Entry], what: str) -> User | None:
        if len(entries) > 1:
            dns = "; ".join(dn for dn, _ in entries)
            log.warning("%s matches more than one directory entry (%s): refusing", what, dns)
            return None
        if not entries:
            return None
        user = to_user(self.profile, *entries[0])
        if user is None:
            log.warning("%s has no %s: ignored", entries[0][0], self.profile.username_attribute)
            return None
        return None if user.disabled else user

    def _probe(self, connection: ldap3.Connection) -> list[str]:
        connection.search(
            self.base_dn, "(objectClass=*)", ldap3.BASE, attributes=[ldap3.NO_ATTRIBUTES]
        )
        try:
            self._entries(connection)
        except DirectoryError as exc:
            return [str(exc)]
        connection.search(
            self.base_dn, self.profile.user_filter, attributes=self.profile.attributes, size_limit=1
        )
        try:
            if not self._entries(connection):
                return [f"no entry under {self.base_dn} matches {self.profile.user_filter}"]
        except DirectoryError as exc:
            return [str(exc)]
        return []

    def _secret_file_problems(self) -> list[str]:
        path = self.settings.bind_password_file
        if not path:
            return []
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            return [f"[directory] bind_password_file {path}: {exc.strerror}"]
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            return [f"[directory] bind_password_file {path}: readable by others; chmod 0600"]
        return []


def domain_root(base_dn: str) -> str:
    """The dc= part of `base_dn` (`dc=example,dc=org` of `ou=people,dc=example,dc=org`);
    `base_dn` itself when it has none."""
    parts = ldap3.utils.dn.to_dn(base_dn)
    for index, part in enumerate(parts):
        if part.lower().startswith("dc="):
            return ",".join(parts[index:])
    return base_dn
