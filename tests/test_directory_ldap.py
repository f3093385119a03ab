# SPDX-License-Identifier: GPL-3.0-or-later
"""LdapDirectory lookups against a real slapd: cards, names, escaping, paging, AD, check().

The session `slapd` is shared: tests add entries with uids and card numbers of their own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from bench.servers.slapd import SIZE_LIMIT, SlapdServer
from bench.servers.slapd_data import BASE_DN, person_attributes
from releasestation.directory.base import User
from releasestation.directory.ldap import LdapDirectory
from releasestation.errors import DirectoryError


def who(user: User | None) -> str | None:
    return user.username if user else None


@pytest.fixture
def directory(slapd: SlapdServer) -> Iterator[LdapDirectory]:
    with LdapDirectory(slapd.settings()) as directory:
        yield directory


@pytest.fixture
def ad_directory(slapd: SlapdServer) -> Iterator[LdapDirectory]:
    with LdapDirectory(slapd.settings(profile="ad")) as directory:
        yield directory


def test_card_lookup_builds_the_user(directory):
    user = directory.user_by_card("0012345678")
    assert user is not None
    assert (user.username, user.display_name, user.email) == (
        "alice",
        "Alice Example",
        "alice@example.org",
    )
    assert (user.source, user.dn) == ("ldap", "uid=alice,ou=people,dc=example,dc=org")


def test_card_lookup_is_exact(directory):
    assert who(directory.user_by_card("0087654321")) == "bob"
    assert who(directory.user_by_card("12345678")) == "carol"
    assert directory.user_by_card("012345678") is None  # alice without a leading zero
    assert directory.user_by_card("001234567") is None  # a prefix is not a match
    # Beyond that the attribute's own matching rule decides: employeeNumber uses
    # caseIgnoreMatch, which ignores case and surrounding spaces.
    assert who(directory.user_by_card(" 0012345678 ")) == "alice"


def test_unknown_and_empty_cards_match_nobody(directory):
    assert directory.user_by_card("9999999999") is None
    assert directory.user_by_card("") is None


def test_every_card_attribute_and_every_value_is_searched(directory):
    assert who(directory.user_by_card("11110001")) == "dave"
    assert who(directory.user_by_card("11110002")) == "dave"


def test_only_the_configured_card_attributes_are_searched(slapd):
    with LdapDirectory(slapd.settings(card_attributes=("employeeNumber",))) as directory:
        assert directory.user_by_card("11110001") is None
        assert who(directory.user_by_card("0012345678")) == "alice"


@pytest.mark.parametrize(
    "card",
    ["*", "*)(uid=*", "*)(|(uid=*", "\x00", "\\00", "\\2a", "0012*", "*5678", ")", "(", "\\"],
)
def test_filter_metacharacters_match_nobody(directory, card):
    assert directory.user_by_card(card) is None
    assert directory.user_by_name(card) is None


def test_a_card_made_of_metacharacters_matches_exactly_its_holder(slapd, directory):
    odd = "ab*c)(uid=*\\00"
    slapd.add_user("oddcard", cards=[odd])
    assert who(directory.user_by_card(odd)) == "oddcard"
    assert directory.user_by_card("ab*c)(uid=*") is None
    assert directory.user_by_card("ab*") is None


def test_a_card_held_by_two_entries_is_refused_with_the_card_masked(slapd, directory, caplog):
    slapd.add_user("twin1", cards=["5151515151"])
    slapd.add_user("twin2", cards=["5151515151"])
    with caplog.at_level(logging.WARNING, logger="releasestation.directory.ldap"):
        assert directory.user_by_card("5151515151") is None
    assert "more than one" in caplog.text
    assert "uid=twin1" in caplog.text and "uid=twin2" in caplog.text
    assert "5151515151" not in caplog.text
    assert "******5151" in caplog.text


def test_name_lookup_is_case_insensitive(directory):
    assert who(directory.user_by_name("alice")) == "alice"
    assert who(directory.user_by_name("ALICE")) == "alice"
    assert who(directory.user_by_name(" Bob ")) == "bob"
    assert directory.user_by_name("alic") is None
    assert directory.user_by_name("") is None


def test_user_filter_limits_who_is_found(slapd):
    only_alice = slapd.settings(user_filter="(&(objectClass=inetOrgPerson)(mail=alice@*))")
    with LdapDirectory(only_alice) as directory:
        assert who(directory.user_by_card("0012345678")) == "alice"
        assert directory.user_by_card("0087654321") is None
        assert [user.username for user in directory.iter_users()] == ["alice"]


def test_iter_users_reads_every_page(slapd):
    base = _paged_branch(slapd, "pages", 2 * SIZE_LIMIT)
    with LdapDirectory(
        slapd.settings(
            base_dn=base, bind_dn=slapd.reader_dn, bind_password=slapd.reader_password, page_size=7
        )
    ) as directory:
        users = list(directory.iter_users())
    assert sorted(user.username for user in users) == [f"pages{i:03d}" for i in range(50)]
    assert all(user.source == "ldap" and (user.dn or "").endswith(base) for user in users)


def test_iter_users_fails_rather_than_return_a_truncated_list(slapd):
    base = _paged_branch(slapd, "cut", SIZE_LIMIT + 5)
    slapd.add_user("limited", password="limited-secret")
    settings = slapd.settings(
        base_dn=base,
        bind_dn=f"uid=limited,{slapd.people_dn}",
        bind_password="limited-secret",
        page_size=10,
    )
    with LdapDirectory(settings) as directory, pytest.raises(DirectoryError, match="size limit"):
        list(directory.iter_users())


def test_iter_users_may_be_abandoned_half_way(slapd):
    base = _paged_branch(slapd, "half", 12)
    with LdapDirectory(slapd.settings(base_dn=base, page_size=5)) as directory:
        users = directory.iter_users()
        first = [next(users) for _ in range(6)]
        users.close()
        assert len(first) == 6
        assert who(directory.user_by_name("half000")) == "half000"


def test_lookups_from_many_threads(directory):
    expected = {"0012345678": "alice", "0087654321": "bob", "12345678": "carol", "x": None}
    failures: list[str] = []

    def work(card: str) -> None:
        for _ in range(25):
            user = directory.user_by_card(card)
            if who(user) != expected[card]:
                failures.append(f"{card}: {user}")

    threads = [threading.Thread(target=work, args=(card,)) for card in expected for _ in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_ad_profile_finds_enabled_people_by_card_name_and_principal(ad_directory):
    user = ad_directory.user_by_card("5550001")
    assert user is not None
    assert (user.username, user.display_name, user.email, user.disabled) == (
        "ada",
        "Ada Admin",
        "ada@corp.example.org",
        False,
    )
    assert who(ad_directory.user_by_name("ADA")) == "ada"
    assert who(ad_directory.user_by_name("ada@corp.example.org")) == "ada"
    assert who(ad_directory.user_by_card("5550004")) == "ned"  # 66048: not disabled


def test_ad_profile_excludes_disabled_accounts_and_non_people(ad_directory):
    assert ad_directory.user_by_card("5550002") is None  # userAccountControl 514
    assert ad_directory.user_by_card("5550003") is None  # 66050
    assert ad_directory.user_by_name("dan") is None
    assert ad_directory.user_by_name("dora@corp.example.org") is None
    assert ad_directory.user_by_card("5550005") is None  # objectCategory computer
    assert sorted(user.username for user in ad_directory.iter_users()) == ["ada", "ned"]


def test_check_passes(directory, ad_directory):
    assert directory.check() == []
    assert ad_directory.check() == []


def test_check_reports_a_bad_bind_password(slapd):
    with LdapDirectory(slapd.settings(bind_password="wrong")) as directory:
        problems = directory.check()
        with pytest.raises(DirectoryError, match="invalidCredentials"):
            directory.user_by_card("0012345678")
    assert len(problems) == 1
    assert f"bind as {slapd.bind_dn} refused: invalidCredentials" in problems[0]
    assert "wrong" not in problems[0]


def test_check_reports_a_missing_base_dn(slapd):
    with LdapDirectory(slapd.settings(base_dn=f"ou=nowhere,{BASE_DN}")) as directory:
        assert directory.check() == [f"{slapd.uri}: base_dn ou=nowhere,{BASE_DN} does not exist"]
        with pytest.raises(DirectoryError, match="does not exist"):
            directory.user_by_name("alice")


def test_check_reports_a_filter_that_matches_nobody(slapd):
    with LdapDirectory(slapd.settings(user_filter="(objectClass=posixAccount)")) as directory:
        assert directory.check() == [
            f"no entry under {slapd.people_dn} matches (objectClass=posixAccount)"
        ]


def test_bind_password_file(slapd, tmp_path):
    secret = tmp_path / "bind.secret"
    secret.write_text(slapd.bind_password + "\n")
    secret.chmod(0o600)
    settings = slapd.settings(bind_password=None, bind_password_file=str(secret))
    with LdapDirectory(settings) as directory:
        assert directory.check() == []
        assert who(directory.user_by_card("0012345678")) == "alice"
        secret.chmod(0o644)
        assert directory.check() == [
            f"[directory] bind_password_file {secret}: readable by others; chmod 0600"
        ]


def _paged_branch(slapd: SlapdServer, name: str, count: int) -> str:
    """A new ou=<name> holding `count` people <name>000.. (cards <name>-<i>)."""
    base = slapd.add_entry(
        f"ou={name},{BASE_DN}", {"objectClass": "organizationalUnit", "ou": name}
    )
    for i in range(count):
        uid = f"{name}{i:03d}"
        slapd.add_entry(f"uid={uid},{base}", person_attributes(uid, [f"{name}-{i}"]))
    return base
