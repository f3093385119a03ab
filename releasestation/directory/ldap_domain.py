# SPDX-License-Identifier: GPL-3.0-or-later
"""The directory's own NT4 domain and UPN realms, so that its users' jobs are found under
`CORP\\alice` and `alice@corp.example.org` as well as `alice`.

From the base DN: its trailing dc= components are the DNS domain, which is the UPN realm
(`ou=people,dc=corp,dc=example,dc=org` -> `corp.example.org`), and the first of them in
capitals is the NT4 (NetBIOS) domain (`CORP`), as Active Directory and Samba propose when
a domain is set up. Active Directory says for itself: the domain's crossRef entry under
`CN=Partitions` of the configuration naming context holds its NetBIOS name (`nETBIOSName`)
and DNS name (`dnsRoot`), and `CN=Partitions` the forest's other UPN suffixes
(`uPNSuffixes`); any authenticated account may read them. When they cannot be read, the base
DN's answer stands. Pure functions, and one that reads over a bound ldap3 connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from releasestation.directory.base import OwnNames

SUCCESS = 0
PARTITION_ATTRIBUTES = ["nETBIOSName", "dnsRoot"]
SUFFIXES = "uPNSuffixes"


def domain_labels(base_dn: str) -> list[str]:
    """The trailing dc= values of `base_dn`, in order (`corp`, `example`, `org`)."""
    try:
        parts = parse_dn(base_dn)
    except LDAPInvalidDnError:
        return []
    labels: list[str] = []
    for attribute, value, _separator in reversed(parts):
        if attribute.strip().lower() != "dc" or not value.strip():
            break
        labels.insert(0, value.strip())
    return labels


def names_from_base_dn(base_dn: str) -> OwnNames:
    """`CORP` and `corp.example.org` for a base DN under dc=corp,dc=example,dc=org; none
    for a base DN without dc= components (o=Example)."""
    labels = domain_labels(base_dn)
    if not labels:
        return OwnNames()
    return OwnNames((labels[0].upper(),), (".".join(labels).lower(),))


def read_ad_names(connection: ldap3.Connection, base_dn: str) -> OwnNames | None:
    """Active Directory's own names for the domain holding `base_dn`, with the base DN's;
    None when the partitions cannot be read (not AD, or not allowed)."""
    labels = domain_labels(base_dn)
    if not labels:
        return None
    domain = ",".join(f"DC={label}" for label in labels)
    configuration = _root_value(connection, "configurationNamingContext")
    partitions = f"CN=Partitions,{configuration or f'CN=Configuration,{domain}'}"
    wanted = f"(&(objectClass=crossRef)(nCName={escape_filter_chars(domain)}))"
    connection.search(partitions, wanted, ldap3.LEVEL, attributes=PARTITION_ATTRIBUTES)
    crossrefs = _entries(connection)
    if not crossrefs:
        return None
    connection.search(partitions, "(objectClass=*)", ldap3.BASE, attributes=[SUFFIXES])
    container = _entries(connection) or []
    netbios = [v.upper() for e in crossrefs for v in _values(e, "nETBIOSName")]
    realms = [v for e in crossrefs for v in _values(e, "dnsRoot")]
    realms += [v for e in container for v in _values(e, SUFFIXES)]
    guessed = names_from_base_dn(base_dn)
    return OwnNames(
        _unique(netbios or guessed.domains), _unique([*realms, *guessed.realms], lower=True)
    )


def _root_value(connection: ldap3.Connection, attribute: str) -> str:
    connection.search("", "(objectClass=*)", ldap3.BASE, attributes=[attribute])
    for entry in _entries(connection) or []:
        for value in _values(entry, attribute):
            return value
    return ""


def _entries(connection: ldap3.Connection) -> list[Mapping[str, Any]] | None:
    """The attributes of each entry the last search found; None when it failed."""
    if (connection.result or {}).get("result") != SUCCESS:
        return None
    return [
        item["attributes"]
        for item in connection.response or []
        if item.get("type") == "searchResEntry"
    ]


def _values(attributes: Mapping[str, Any], name: str) -> list[str]:
    for key, value in attributes.items():
        if key.lower() != name.lower():
            continue
        values = value if isinstance(value, list | tuple) else [value]
        return [
            (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)).strip()
            for v in values
            if v
        ]
    return []


def _unique(names: list[str] | tuple[str, ...], lower: bool = False) -> tuple[str, ...]:
    out = [name.lower() if lower else name for name in names if name]
    return tuple(dict.fromkeys(out))
