# SPDX-License-Identifier: GPL-3.0-or-later
"""LdapDirectory.authenticate against a real slapd: search as the station, bind as the user.

The session `slapd` is shared: entries added to it here are people with uids no other test
uses (`login-…`); AD accounts go on a server of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bench.servers.slapd import SlapdServer
from bench.servers.slapd_data import AD_DN, AD_REALM, ad_attributes, ssha
from releasestation.directory.ldap import LdapDirectory
from releasestation.directory.ldap_connection import Connector
from releasestation.errors import DirectoryError

PASSWORD = "Tr0ub4dor & 3"  # every test user's: a login of the wrong entry would succeed


@pytest.fixture(scope="module")
def people(slapd: SlapdServer) -> dict[str, str]:
    """uid -> DN of the users this module logs in as, all with PASSWORD."""
    added = {
        uid: slapd.add_user(uid, password=PASSWORD, mail=f"{uid}@example.org")
        for uid in ("login-ann", "login-ben")
    }
    added["login-off"] = slapd.add_user(
        "login-off", password=PASSWORD, employee_number="login-off-disabled"
    )
    return added


@pytest.fixture
def directory(slapd: SlapdServer, people) -> Iterator[LdapDirectory]:
    with LdapDirectory(slapd.settings()) as directory:
        yield directory


def test_the_right_password_logs_the_user_in(directory, people):
    user = directory.authenticate("login-ann", PASSWORD)
    assert user is not None
    assert (user.username, user.dn, user.source) == ("login-ann", people["login-ann"], "ldap")
    assert user.email == "login-ann@example.org"
    # The name is matched as the directory matches uid (case-insensitively).
    assert getattr(directory.authenticate(" LOGIN-ANN ", PASSWORD), "username", None) == (
        "login-ann"
    )


def test_a_wrong_or_empty_password_is_refused(directory):
    assert directory.authenticate("login-ann", PASSWORD + "x") is None
    assert directory.authenticate("login-ann", PASSWORD.upper()) is None
    assert directory.authenticate("login-ann", " ") is None
    # An empty password with a DN is an "unauthenticated bind", which LDAP servers accept:
    # it never reaches the server.
    assert directory.authenticate("login-ann", "") is None
    assert directory._connector.password_accepted(directory.base_dn, "") is False


def test_unknown_names_and_filter_metacharacters_log_nobody_in(directory):
    for name in (
        "login-nobody",
        "*",
        "login-*",
        "login-ann*",
        "*)(uid=*",
        "login-ann)(uid=*",
        "*)(|(uid=*",
        "login-ann)(|(objectClass=*",
        "\\2a",
        "login-ann\x00",
        "",
        "   ",
    ):
        assert directory.authenticate(name, PASSWORD) is None, name


def test_the_station_connection_stays_bound_as_the_station(slapd, directory):
    assert directory.authenticate("login-ben", PASSWORD) is not None
    whoami = directory._connector.run(lambda connection: connection.extend.standard.who_am_i())
    assert whoami == f"dn:{slapd.bind_dn}"
    assert getattr(directory.user_by_card("0012345678"), "username", None) == "alice"


def test_a_disabled_ad_account_is_refused_with_the_right_password(make_slapd):
    server = make_slapd()  # of its own: other tests list every account under ou=ad
    dns = {}
    for sam, control in (("login-adam", 512), ("login-dis", 514)):
        attributes = ad_attributes(sam, f"{sam} Account", control, "person", f"login-{control}")
        attributes["userPassword"] = ssha(PASSWORD)
        dns[sam] = server.add_entry(f"cn={sam} Account,{AD_DN}", attributes)
    with LdapDirectory(server.settings(profile="ad")) as directory:
        enabled = directory.authenticate("login-adam", PASSWORD)
        assert enabled is not None and enabled.dn == dns["login-adam"]
        # AD accepts a userPrincipalName as the name too.
        principal = directory.authenticate(f"login-adam@{AD_REALM}", PASSWORD)
        assert getattr(principal, "username", None) == "login-adam"
        assert directory.authenticate("login-dis", PASSWORD) is None


def test_an_account_the_user_filter_excludes_is_refused(slapd, people):
    rule = "(&(objectClass=inetOrgPerson)(!(employeeNumber=login-off-disabled)))"
    with LdapDirectory(slapd.settings(user_filter=rule)) as directory:
        assert directory.authenticate("login-ann", PASSWORD) is not None
        assert directory.authenticate("login-off", PASSWORD) is None


def test_logins_over_tls_check_the_certificate(slapd, people):
    with LdapDirectory(slapd.settings(uri=(slapd.ldaps_uri,))) as directory:
        assert directory.authenticate("login-ann", PASSWORD) is not None
    with LdapDirectory(slapd.settings(starttls=True)) as directory:
        assert directory.authenticate("login-ann", PASSWORD) is not None
    wrong_ca = slapd.settings(uri=(slapd.ldaps_uri,), ca_file=slapd.wrong_ca_file)
    with LdapDirectory(wrong_ca) as directory, pytest.raises(DirectoryError, match="not trusted"):
        directory.authenticate("login-ann", PASSWORD)


def test_the_bind_itself_checks_the_certificate(slapd, people):
    good = slapd.settings(uri=(slapd.ldaps_uri,))
    assert Connector(good, None).password_accepted(people["login-ann"], PASSWORD) is True
    wrong_ca = slapd.settings(uri=(slapd.ldaps_uri,), ca_file=slapd.wrong_ca_file)
    with pytest.raises(DirectoryError, match="not trusted"):
        Connector(wrong_ca, None).password_accepted(people["login-ann"], PASSWORD)


def test_a_directory_that_cannot_answer_raises(make_slapd):
    server = make_slapd()
    server.add_user("login-gone", password=PASSWORD)
    with LdapDirectory(server.settings()) as directory:
        assert directory.authenticate("login-gone", PASSWORD) is not None
        server.stop()
        with pytest.raises(DirectoryError, match="no LDAP server"):
            directory.authenticate("login-gone", PASSWORD)
        with pytest.raises(DirectoryError):
            directory.authenticate("login-gone", "wrong")


def test_the_password_is_never_logged(slapd, people, caplog):
    with caplog.at_level(logging.DEBUG), LdapDirectory(slapd.settings()) as directory:
        directory.authenticate("login-ann", PASSWORD)
        directory.authenticate("login-ann", PASSWORD + "wrong")
    assert caplog.records and PASSWORD not in caplog.text
