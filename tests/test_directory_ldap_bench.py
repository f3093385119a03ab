# SPDX-License-Identifier: GPL-3.0-or-later
"""The benchmark's bulk seeding (bench/ldap_seed.py) on a small scale."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.ldap_seed import bench_card, bench_uid, seed_users, time_lookups
from bench.servers.slapd import SlapdServer
from releasestation.directory.base import User
from releasestation.directory.ldap import LdapDirectory


def who(user: User | None) -> str | None:
    return user.username if user else None


@pytest.fixture
def stopped_slapd() -> Iterator[SlapdServer]:
    server = SlapdServer.create()
    try:
        yield server
    finally:
        server.destroy()


def test_seeded_users_are_found_by_card(stopped_slapd):
    seed_users(stopped_slapd, 3000)
    stopped_slapd.start()
    with LdapDirectory(stopped_slapd.settings()) as directory:
        for i in (0, 1234, 2999):
            assert who(directory.user_by_card(bench_card(i))) == bench_uid(i)
        assert directory.user_by_card(bench_card(3000)) is None
        assert who(directory.user_by_card("0012345678")) == "alice"  # the seed is kept
    timings = time_lookups(stopped_slapd, 3000, 50)
    assert len(timings) == 50 and all(t > 0 for t in timings)


def test_offline_loading_needs_the_server_stopped(stopped_slapd):
    stopped_slapd.start()
    with pytest.raises(RuntimeError, match="stopped"):
        seed_users(stopped_slapd, 1)
