# SPDX-License-Identifier: GPL-3.0-or-later
"""The LDAP profiles as pure functions: defaults, filters, escaping, entry -> User.

Active Directory cannot run here, so the `ad` profile's filters and attribute mapping are
pinned down exactly in this file; test_directory_ldap.py then runs the same filters against
slapd with a schema carrying the AD attributes (including the bitwise disabled check).
"""

from __future__ import annotations

from typing import Any

import pytest
from ldap3.operation.search import parse_filter

from releasestation.config import DirectorySettings
from releasestation.directory.ldap_profile import (
    AD_ENABLED_ONLY,
    card_filter,
    name_filter,
    profile_for,
    to_user,
)
from releasestation.errors import ConfigError

AD_PERSON = "(&(objectCategory=person)(objectClass=user))"


def settings(**values: Any) -> DirectorySettings:
    base: dict[str, Any] = {"type": "ldap", "uri": ("ldap://ldap",), "base_dn": "dc=x"}
    base.update(values)
    return DirectorySettings(**base)


def test_rfc2307_defaults():
    profile = profile_for(settings())
    assert profile.user_filter == "(objectClass=inetOrgPerson)"
    assert profile.username_attribute == "uid"
    assert profile.name_attributes == ("uid",)
    assert profile.attributes == ["uid", "cn", "mail"]
    assert profile.page_size == 500


def test_ad_defaults_exclude_disabled_accounts():
    profile = profile_for(settings(profile="ad"))
    assert profile.user_filter == f"(&{AD_PERSON}{AD_ENABLED_ONLY})"
    assert AD_ENABLED_ONLY == "(!(userAccountControl:1.2.840.113556.1.4.803:=2))"
    assert profile.username_attribute == "sAMAccountName"
    assert profile.name_attributes == ("sAMAccountName", "userPrincipalName")
    assert profile.attributes == ["sAMAccountName", "cn", "mail", "userAccountControl"]


def test_ad_keeps_excluding_disabled_with_a_custom_user_filter():
    profile = profile_for(settings(profile="ad", user_filter="(memberOf=cn=print,dc=x)"))
    assert profile.user_filter == f"(&(memberOf=cn=print,dc=x){AD_ENABLED_ONLY})"


def test_ad_pages_are_capped_at_1000():
    assert profile_for(settings(profile="ad", page_size=5000)).page_size == 1000
    assert profile_for(settings(profile="ad", page_size=200)).page_size == 200
    assert profile_for(settings(page_size=5000)).page_size == 5000


def test_card_filter_one_attribute():
    profile = profile_for(settings())
    assert card_filter(profile, "0012345678") == (
        "(&(objectClass=inetOrgPerson)(employeeNumber=0012345678))"
    )


def test_card_filter_several_attributes():
    profile = profile_for(settings(card_attributes=("employeeNumber", "cardNumber")))
    assert card_filter(profile, "04A1B2") == (
        "(&(objectClass=inetOrgPerson)(|(employeeNumber=04A1B2)(cardNumber=04A1B2)))"
    )


def test_ad_card_and_name_filters():
    profile = profile_for(settings(profile="ad", card_attributes=("employeeID",)))
    assert card_filter(profile, "77") == f"(&(&{AD_PERSON}{AD_ENABLED_ONLY})(employeeID=77))"
    assert name_filter(profile, "ada@corp.example.org") == (
        f"(&(&{AD_PERSON}{AD_ENABLED_ONLY})"
        "(|(sAMAccountName=ada@corp.example.org)(userPrincipalName=ada@corp.example.org)))"
    )


def test_ad_with_upn_as_username_asks_once():
    profile = profile_for(settings(profile="ad", username_attribute="userPrincipalName"))
    assert profile.name_attributes == ("userPrincipalName",)


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("*", r"\2a"),
        ("*)(uid=*", r"\2a\29\28uid=\2a"),
        ("\x00", r"\00"),
        ("\\", r"\5c"),
        ("a(b)c", r"a\28b\29c"),
        (r"\2a", r"\5c2a"),
    ],
)
def test_every_value_is_escaped(value, escaped):
    profile = profile_for(settings(card_attributes=("employeeNumber", "cardNumber")))
    built = card_filter(profile, value)
    assert built == (
        f"(&(objectClass=inetOrgPerson)(|(employeeNumber={escaped})(cardNumber={escaped})))"
    )
    assert name_filter(profile, value) == f"(&(objectClass=inetOrgPerson)(uid={escaped}))"
    parse_filter(built, None, False, False, None, False)  # still one well-formed filter


def test_user_filter_without_parentheses_is_wrapped():
    assert profile_for(settings(user_filter="objectClass=person")).user_filter == (
        "(objectClass=person)"
    )


@pytest.mark.parametrize(
    "values",
    [
        {"user_filter": "(&(uid=a)"},
        {"card_attributes": ("employee Number",)},
        {"card_attributes": ("cn=x)(uid",)},
        {"card_attributes": ()},
        {"username_attribute": "u*"},
        {"page_size": 0},
    ],
)
def test_bad_settings_are_config_errors(values):
    with pytest.raises(ConfigError, match=r"\[directory\]"):
        profile_for(settings(**values))


def test_entry_to_user_rfc2307():
    profile = profile_for(settings())
    user = to_user(
        profile,
        "uid=alice,ou=people,dc=x",
        {"uid": ["alice"], "cn": ["Alice Example"], "mail": ["alice@example.org"]},
    )
    assert user is not None
    assert (user.username, user.display_name, user.email) == (
        "alice",
        "Alice Example",
        "alice@example.org",
    )
    assert (user.source, user.dn, user.disabled) == ("ldap", "uid=alice,ou=people,dc=x", False)


def test_entry_to_user_tolerates_missing_and_differently_cased_attributes():
    profile = profile_for(settings())
    user = to_user(profile, "uid=b,dc=x", {"UID": "b", "cn": [], "mail": []})
    assert user is not None
    assert (user.username, user.display_name, user.email) == ("b", "b", "")
    assert to_user(profile, "cn=x,dc=x", {"cn": ["no uid"]}) is None


@pytest.mark.parametrize(
    ("control", "disabled"),
    [("512", False), ("66048", False), ("514", True), ("66050", True), ("2", True), ("x", True)],
)
def test_ad_entry_mapping_reads_the_disabled_bit(control, disabled):
    profile = profile_for(settings(profile="ad", display_name_attribute="displayName"))
    user = to_user(
        profile,
        "CN=Ada,OU=Staff,DC=corp",
        {
            "sAMAccountName": ["ada"],
            "displayName": ["Ada Admin"],
            "mail": ["ada@corp"],
            "userAccountControl": [control],
        },
    )
    assert user is not None
    assert (user.username, user.display_name, user.email) == ("ada", "Ada Admin", "ada@corp")
    assert user.disabled is disabled


def test_ad_entry_without_account_control_counts_as_disabled():
    profile = profile_for(settings(profile="ad"))
    user = to_user(profile, "CN=x,DC=corp", {"sAMAccountName": ["x"]})
    assert user is not None and user.disabled
