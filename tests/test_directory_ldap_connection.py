# SPDX-License-Identifier: GPL-3.0-or-later
"""LdapDirectory connections against real slapd servers: failover, reconnects, outages, TLS.

Tests that stop or restart a server use one of their own (`make_slapd`).
"""

from __future__ import annotations

import logging
import time

import pytest

from bench.servers.slapd import free_port
from releasestation.config import DirectorySettings
from releasestation.directory.base import User
from releasestation.directory.ldap import LdapDirectory
from releasestation.errors import ConfigError, DirectoryError

CARD = "0012345678"  # alice's


def who(user: User | None) -> str | None:
    return user.username if user else None


def test_failover_skips_a_dead_server_quickly(slapd):
    dead = f"ldap://127.0.0.1:{free_port()}"
    with LdapDirectory(slapd.settings(uri=(dead, slapd.uri))) as directory:
        started = time.monotonic()
        assert who(directory.user_by_card(CARD)) == "alice"
        assert time.monotonic() - started < 1.0


def test_failover_when_the_first_server_goes_down(make_slapd):
    first, second = make_slapd(), make_slapd()
    second.add_user("onlysecond", cards=["4242424242"])
    with LdapDirectory(first.settings(uri=(first.uri, second.uri))) as directory:
        assert directory.user_by_card("4242424242") is None  # asked the first
        first.stop()
        started = time.monotonic()
        assert who(directory.user_by_card("4242424242")) == "onlysecond"
        assert time.monotonic() - started < 1.0


def test_a_restarted_server_is_reconnected_to_unnoticed(make_slapd, caplog):
    server = make_slapd()
    with LdapDirectory(server.settings()) as directory:
        assert who(directory.user_by_card(CARD)) == "alice"
        server.restart()
        with caplog.at_level(logging.INFO, logger="releasestation.directory"):
            assert who(directory.user_by_card(CARD)) == "alice"
            assert who(directory.user_by_name("bob")) == "bob"
    assert caplog.text.count("reconnecting") == 1


def test_a_down_directory_raises_directory_error_fast(make_slapd, caplog):
    server = make_slapd()
    with LdapDirectory(server.settings()) as directory:
        assert who(directory.user_by_card(CARD)) == "alice"
        server.stop()
        started = time.monotonic()
        with caplog.at_level(logging.DEBUG), pytest.raises(DirectoryError) as raised:
            directory.user_by_card(CARD)
        assert time.monotonic() - started < 1.0
        with pytest.raises(DirectoryError):  # and again, without waiting on the dead server
            directory.user_by_card(CARD)
    message = str(raised.value)
    assert server.uri in message
    assert CARD not in message and CARD[-4:] not in message
    assert CARD not in caplog.text


def test_a_directory_that_comes_back_is_used_again(make_slapd):
    server = make_slapd()
    with LdapDirectory(server.settings(), dead_server_seconds=0) as directory:
        server.stop()
        with pytest.raises(DirectoryError):
            directory.user_by_name("alice")
        server.start()
        assert who(directory.user_by_name("alice")) == "alice"


def test_no_server_reachable_names_every_server_tried():
    uris = (f"ldap://127.0.0.1:{free_port()}", f"ldap://127.0.0.1:{free_port()}")
    settings = DirectorySettings(type="ldap", uri=uris, base_dn="dc=example,dc=org")
    with LdapDirectory(settings) as directory:
        with pytest.raises(DirectoryError) as raised:
            directory.user_by_card(CARD)
        assert directory.check() == [str(raised.value)]
    assert f"tried {uris[0]}, {uris[1]}" in str(raised.value)
    assert "no server accepted a connection" in str(raised.value)


def test_ldaps_with_the_right_ca(slapd):
    with LdapDirectory(slapd.settings(uri=(slapd.ldaps_uri,))) as directory:
        assert who(directory.user_by_card(CARD)) == "alice"
        assert directory.check() == []


@pytest.mark.parametrize("ca", ["wrong", "none"])
def test_ldaps_with_a_wrong_or_no_ca_is_refused(slapd, ca):
    ca_file = slapd.wrong_ca_file if ca == "wrong" else None
    settings = slapd.settings(uri=(slapd.ldaps_uri,), ca_file=ca_file)
    with LdapDirectory(settings) as directory, pytest.raises(DirectoryError) as raised:
        directory.user_by_card(CARD)
    message = str(raised.value)
    assert slapd.ldaps_uri in message
    assert "TLS certificate is not trusted" in message and "ca_file" in message


def test_starttls_validates_too(slapd):
    with LdapDirectory(slapd.settings(starttls=True)) as directory:
        assert who(directory.user_by_name("alice")) == "alice"
    settings = slapd.settings(starttls=True, ca_file=slapd.wrong_ca_file)
    with LdapDirectory(settings) as directory, pytest.raises(DirectoryError, match="not trusted"):
        directory.user_by_name("alice")


def test_tls_validate_no_connects_and_says_so(slapd, caplog):
    settings = slapd.settings(uri=(slapd.ldaps_uri,), ca_file=None, tls_validate=False)
    with caplog.at_level(logging.WARNING, logger="releasestation.directory"):
        directory = LdapDirectory(settings)
    with directory:
        assert who(directory.user_by_card(CARD)) == "alice"
    assert "tls_validate = no" in caplog.text


def test_plain_ldap_with_a_password_is_warned_about(slapd, caplog):
    with caplog.at_level(logging.WARNING, logger="releasestation.directory"):
        LdapDirectory(slapd.settings()).close()
        LdapDirectory(slapd.settings(uri=(slapd.ldaps_uri,))).close()
        LdapDirectory(slapd.settings(starttls=True)).close()
    assert caplog.text.count("clear text") == 1


def test_a_missing_ca_file_is_a_config_error(slapd, tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    with pytest.raises(ConfigError, match=r"ca_file: cannot read .*no-such-ca\.pem"):
        LdapDirectory(slapd.settings(uri=(slapd.ldaps_uri,), ca_file=missing))


def test_a_hung_server_gives_directory_error_not_a_hang(make_slapd):
    server = make_slapd()
    settings = server.settings(receive_timeout_seconds=1.0, connect_timeout_seconds=1.0)
    with LdapDirectory(settings) as directory:
        assert who(directory.user_by_card(CARD)) == "alice"
        server.pause()
        try:
            started = time.monotonic()
            with pytest.raises(DirectoryError) as raised:
                directory.user_by_card(CARD)
            elapsed = time.monotonic() - started
        finally:
            server.resume()
        # One receive timeout on the old connection, one on the reconnect's bind.
        assert elapsed < 3.5
        assert server.uri in str(raised.value)
        assert who(directory.user_by_card(CARD)) == "alice"
