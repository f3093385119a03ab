# SPDX-License-Identifier: GPL-3.0-or-later
"""The directory's own domain and realm: from the base DN, from Active Directory's partitions
(a real slapd holding AD-shaped CN=Partitions entries), and how [station] owner_domains /
owner_realms choose between them and the station's own list."""

from __future__ import annotations

import pytest

from bench.servers.slapd_data import BASE_DN
from releasestation import config
from releasestation.config import StationSettings
from releasestation.directory import OwnNames
from releasestation.directory.ldap import LdapDirectory
from releasestation.directory.ldap_domain import domain_labels, names_from_base_dn
from releasestation.errors import ConfigError
from releasestation.owner_names import OwnerMatcher
from tests.fixtures.station import ldap_section

PARTITIONS = f"CN=Partitions,CN=Configuration,{BASE_DN}"


@pytest.mark.parametrize(
    ("base_dn", "names"),
    [
        ("ou=people,dc=corp,dc=example,dc=org", (("CORP",), ("corp.example.org",))),
        ("OU=Staff,DC=Corp,DC=Example,DC=Org", (("CORP",), ("corp.example.org",))),
        ("dc=example,dc=org", (("EXAMPLE",), ("example.org",))),
        ("ou=people,dc=x,ou=y,dc=example,dc=org", (("EXAMPLE",), ("example.org",))),
        ("ou=people,o=Example", ((), ())),
        ("not a DN", ((), ())),
    ],
)
def test_the_base_dn_gives_the_domain_and_the_realm(base_dn, names):
    own = names_from_base_dn(base_dn)
    assert (own.domains, own.realms) == names
    assert own.settled


def test_domain_labels_are_the_trailing_dc_components():
    assert domain_labels("uid=a,ou=people,dc=corp,dc=example,dc=org") == ["corp", "example", "org"]


def station(domains: str = "", realms: str = "") -> StationSettings:
    text = f"[station]\nhold_queues = Q\nowner_domains = {domains}\nowner_realms = {realms}\n"
    return config.parse_text(text).station


OWN = OwnNames(("CORP",), ("corp.example.org",))


def test_empty_keys_take_the_directory_s_own_and_other_names_never_match():
    matcher = OwnerMatcher.for_station(station(), OWN)
    assert (matcher.domains, matcher.realms) == (("CORP",), ("corp.example.org",))
    for owner in ("alice", "CORP\\alice", "corp\\ALICE", "alice@corp.example.org"):
        assert matcher.owns(owner, "alice"), owner
    for owner in ("OTHER\\alice", "alice@evil.example", "alice@example.org", "CORP\\"):
        assert not matcher.owns(owner, "alice"), owner


def test_keys_set_replace_the_directory_s_names_and_none_turns_them_off():
    explicit = OwnerMatcher.for_station(station("LEGACY", "none"), OWN)
    assert (explicit.domains, explicit.realms) == (("LEGACY",), ())
    assert not explicit.owns("CORP\\alice", "alice") and explicit.owns("LEGACY\\alice", "alice")
    off = OwnerMatcher.for_station(station("None", "NONE"), OWN)
    assert (off.domains, off.realms) == ((), ())
    assert OwnerMatcher.uses_directory(station("CORP"))
    assert not OwnerMatcher.uses_directory(station("none", "none"))


def test_none_stands_alone():
    with pytest.raises(ConfigError, match="owner_domains: `none` stands alone"):
        station("none, CORP")


def test_an_rfc2307_directory_names_its_base_dn_s_domain(slapd):
    settings = slapd.settings(base_dn="ou=people,dc=corp,dc=example,dc=org")
    with LdapDirectory(settings) as directory:
        assert directory.own_names() == OwnNames(("CORP",), ("corp.example.org",))


def add_partitions(slapd, netbios: str, suffixes: list[str]) -> None:
    slapd.add_entry(
        f"CN=Configuration,{BASE_DN}", {"objectClass": "organizationalRole", "cn": "Configuration"}
    )
    container = {"objectClass": "crossRefContainer", "cn": "Partitions"}
    slapd.add_entry(PARTITIONS, container | ({"uPNSuffixes": suffixes} if suffixes else {}))
    slapd.add_entry(
        f"CN=OTHER,{PARTITIONS}",  # another domain of the forest: not ours
        {
            "objectClass": "crossRef",
            "cn": "OTHER",
            "nCName": "DC=other,DC=example,DC=org",
            "dnsRoot": "other.example.org",
            "nETBIOSName": "OTHER",
        },
    )
    slapd.add_entry(
        f"CN={netbios},{PARTITIONS}",
        {
            "objectClass": "crossRef",
            "cn": netbios,
            "nCName": BASE_DN.upper(),
            "dnsRoot": "example.org",
            "nETBIOSName": netbios,
        },
    )


def test_active_directory_says_its_netbios_name_and_upn_suffixes(make_slapd):
    slapd = make_slapd()
    add_partitions(slapd, "CORP", ["corp.example.org", "Mail.Example.Net"])
    with LdapDirectory(slapd.settings(profile="ad")) as directory:
        assert directory.own_names() == OwnNames(
            ("CORP",), ("example.org", "corp.example.org", "mail.example.net")
        )


def test_without_readable_partitions_active_directory_falls_back_to_the_base_dn(slapd):
    with LdapDirectory(slapd.settings(profile="ad")) as directory:
        assert directory.own_names() == OwnNames(("EXAMPLE",), ("example.org",))


def test_a_directory_away_is_asked_again_later(make_slapd, make_app, tmp_path, caplog):
    """Unreachable at first: the base DN's names serve meanwhile, and AD is asked again."""
    slapd = make_slapd()
    add_partitions(slapd, "CORP", ["corp.example.org"])
    slapd.stop()
    directory = ldap_section(slapd, tmp_path, profile="ad")
    app = make_app(credgen="email_notifications = no\n", directory=directory)
    assert OwnerMatcher.uses_directory(app.config.station)
    first = app.matcher
    assert (first.domains, first.realms) == (("EXAMPLE",), ("example.org",))
    assert "not read now" in caplog.text
    slapd.start()
    again = app.matcher
    assert (again.domains, again.realms) == (("CORP",), ("example.org", "corp.example.org"))
    assert app.matcher is again, "settled: not asked a third time"
    assert again.owns("corp\\alice", "alice") and not again.owns("EXAMPLE\\alice", "alice")
