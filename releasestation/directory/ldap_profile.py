# SPDX-License-Identifier: GPL-3.0-or-later
"""What the two LDAP profiles differ in: defaults, search filters, and entry -> User.

`rfc2307` is OpenLDAP and its kin (inetOrgPerson, `uid`). `ad` is Active Directory:
`sAMAccountName`, `userPrincipalName`, and disabled accounts flagged by bit 2 of
`userAccountControl`, which the `ad` profile always excludes, whatever `user_filter` says.
Pure functions over strings, so every filter is tested without a server. Every value put
into a filter is escaped here, with ldap3's `escape_filter_chars`, and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ldap3.core.exceptions import LDAPException
from ldap3.operation.search import parse_filter
from ldap3.utils.conv import escape_filter_chars

from releasestation.config import DirectorySettings
from releasestation.directory.base import User
from releasestation.errors import ConfigError

AD_ENABLED_ONLY = "(!(userAccountControl:1.2.840.113556.1.4.803:=2))"
AD_ACCOUNT_DISABLED = 0x2
AD_MAX_PAGE_SIZE = 1000  # AD's default MaxPageSize; larger pages are cut to it anyway

DEFAULTS = {  # profile -> (user_filter, username_attribute)
    "rfc2307": ("(objectClass=inetOrgPerson)", "uid"),
    "ad": ("(&(objectCategory=person)(objectClass=user))", "sAMAccountName"),
}
AD_PRINCIPAL = "userPrincipalName"
AD_CONTROL = "userAccountControl"

# An attribute description (RFC 4512): a name or an OID, with options after ';'.
_ATTRIBUTE = re.compile(r"([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*")


@dataclass(frozen=True)
class Profile:
    """The settled search rules for one directory; `user_filter` already excludes the disabled."""

    name: str
    user_filter: str
    username_attribute: str
    card_attributes: tuple[str, ...]
    email_attribute: str
    display_name_attribute: str
    page_size: int

    @property
    def is_ad(self) -> bool:
        return self.name == "ad"

    @property
    def name_attributes(self) -> tuple[str, ...]:
        """Attributes `user_by_name` matches: AD also accepts a userPrincipalName."""
        if self.is_ad and self.username_attribute.lower() != AD_PRINCIPAL.lower():
            return (self.username_attribute, AD_PRINCIPAL)
        return (self.username_attribute,)

    @property
    def attributes(self) -> list[str]:
        """Only what a User is built from; never the card attributes themselves."""
        wanted = [self.username_attribute, self.display_name_attribute, self.email_attribute]
        if self.is_ad:
            wanted.append(AD_CONTROL)
        return list(dict.fromkeys(wanted))


def profile_for(settings: DirectorySettings) -> Profile:
    """The profile `settings` describe, defaults filled in; ConfigError on bad keys."""
    default_filter, default_username = DEFAULTS[settings.profile]
    user_filter = _valid_filter(settings.user_filter or default_filter)
    if settings.profile == "ad":
        user_filter = f"(&{user_filter}{AD_ENABLED_ONLY})"
    if settings.page_size < 1:
        raise ConfigError("[directory] page_size: must be at least 1")
    page_size = settings.page_size
    if settings.profile == "ad":
        page_size = min(page_size, AD_MAX_PAGE_SIZE)
    return Profile(
        name=settings.profile,
        user_filter=user_filter,
        username_attribute=_valid_attribute("username_attribute", settings.username_attribute)
        if settings.username_attribute
        else default_username,
        card_attributes=_valid_card_attributes(settings.card_attributes),
        email_attribute=_valid_attribute("email_attribute", settings.email_attribute),
        display_name_attribute=_valid_attribute(
            "display_name_attribute", settings.display_name_attribute
        ),
        page_size=page_size,
    )


def card_filter(profile: Profile, card: str) -> str:
    """Entries passing the user filter that hold `card` in any card attribute."""
    return _all(profile.user_filter, _any(profile.card_attributes, card))


def name_filter(profile: Profile, username: str) -> str:
    """Entries passing the user filter called `username` (AD: or with that principal name)."""
    return _all(profile.user_filter, _any(profile.name_attributes, username))


def email_filter(profile: Profile, address: str) -> str:
    """Entries passing the user filter whose e-mail attribute is `address`."""
    return _all(profile.user_filter, _any((profile.email_attribute,), address))


def to_user(profile: Profile, dn: str, attributes: Mapping[str, Any]) -> User | None:
    """The User an entry describes, or None when it has no username."""
    values = {name.lower(): value for name, value in attributes.items()}
    username = _first(values, profile.username_attribute)
    if not username:
        return None
    return User(
        username=username,
        display_name=_first(values, profile.display_name_attribute) or username,
        email=_first(values, profile.email_attribute),
        source="ldap",
        dn=dn,
        disabled=profile.is_ad and _ad_disabled(values),
    )


def _any(attributes: Sequence[str], value: str) -> str:
    escaped = escape_filter_chars(value)
    terms = "".join(f"({attribute}={escaped})" for attribute in attributes)
    return terms if len(attributes) == 1 else f"(|{terms})"


def _all(*filters: str) -> str:
    return f"(&{''.join(filters)})"


def _first(values: Mapping[str, Any], attribute: str) -> str:
    value = values.get(attribute.lower())
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _ad_disabled(values: Mapping[str, Any]) -> bool:
    """Bit 2 of userAccountControl; an unreadable value counts as disabled (never guess)."""
    try:
        return bool(int(_first(values, AD_CONTROL)) & AD_ACCOUNT_DISABLED)
    except ValueError:
        return True


def _valid_filter(text: str) -> str:
    text = text.strip()
    if not text.startswith("("):
        text = f"({text})"
    try:
        parse_filter(text, None, False, False, None, False)
    except LDAPException as exc:
        raise ConfigError(
            f"[directory] user_filter: {text!r} is not an LDAP filter: {exc}"
        ) from None
    return text


def _valid_attribute(key: str, name: str) -> str:
    if not _ATTRIBUTE.fullmatch(name):
        raise ConfigError(f"[directory] {key}: {name!r} is not an LDAP attribute name")
    return name


def _valid_card_attributes(names: Sequence[str]) -> tuple[str, ...]:
    if not names:
        raise ConfigError("[directory] card_attributes: name at least one attribute")
    return tuple(_valid_attribute("card_attributes", name) for name in names)
