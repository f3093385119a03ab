# SPDX-License-Identifier: GPL-3.0-or-later
"""credgen and identity with users from a real slapd (paged search), on both stores."""

from __future__ import annotations

import itertools
import re

import pytest
from sqlalchemy import select

from credgen import run_batch, run_user
from readers import Swipe
from releasestation.credentials.models import Credential
from releasestation.store import users as store_users
from releasestation.store.models import Card
from tests.fixtures.station import ldap_section

_runs = itertools.count()


@pytest.fixture
def tag(request) -> str:
    """A prefix no other test (or parameter) uses, for the entries this test adds."""
    return f"cgl{next(_runs)}x"


@pytest.fixture
def ldap_app(make_app, tmp_path, slapd, smtp, tag):
    extra = f"allowed_usernames = {tag}-.*\ngenerate_puk = yes\n"
    directory = ldap_section(slapd, tmp_path, page_size=2)
    return make_app(credgen=smtp.ini() + extra, directory=directory)


def pin_and_code(message) -> tuple[str, str]:
    text = message.text()
    return re.search(r"PIN: (\d+)", text).group(1), re.search(r"code: (\d+)", text).group(1)


def test_directory_users_get_mailed_pins_that_work(ldap_app, slapd, smtp, tag):
    for name in ("ann", "ben", "cy"):
        slapd.add_user(f"{tag}-{name}", mail=f"{tag}-{name}@example.org")
    slapd.add_user(f"{tag}-nomail")
    with ldap_app.store.write() as s:
        store_users.add_user(s, f"{tag}-local", email=f"{tag}-local@example.org")
    result = run_batch(ldap_app)
    assert result.ok, result.summary()
    assert (result.issued, result.skipped) == (4, {"no e-mail address": 1})
    ident = ldap_app.identity_with()
    for name in ("ann", "ben", "cy", "local"):
        [message] = smtp.to(f"{tag}-{name}@example.org")
        pin, _code = pin_and_code(message)
        found = ident.identify(Swipe(reader="door", value=pin, kind="pin"))
        assert found.user is not None and found.user.username == f"{tag}-{name}"
    with ldap_app.store.read() as s:
        row = store_users.find_user(s, f"{tag}-ann")
        assert (row.source, row.email) == ("ldap", f"{tag}-ann@example.org")
    assert run_batch(ldap_app).issued == 0, "everyone has a PIN now"


def test_a_pin_of_a_user_gone_from_the_directory_releases_nothing(ldap_app, slapd, smtp, tag):
    dn = slapd.add_user(f"{tag}-gone", mail=f"{tag}-gone@example.org")
    assert run_user(ldap_app, f"{tag}-gone").status == "issued"
    pin, _ = pin_and_code(smtp.to(f"{tag}-gone@example.org")[0])
    slapd.delete(dn)
    found = ldap_app.identity_with().identify(Swipe("door", pin, "pin"))
    assert found.user is None and "disabled or unknown" in found.reason
    assert run_user(ldap_app, f"{tag}-gone").reason.endswith("no longer in the directory")


def test_a_mailed_code_binds_a_new_card_to_a_directory_user(ldap_app, slapd, smtp, tag):
    slapd.add_user(f"{tag}-dee", mail=f"{tag}-dee@example.org")
    assert run_user(ldap_app, f"{tag}-dee").issued == ("pin", "cac")
    _pin, code = pin_and_code(smtp.to(f"{tag}-dee@example.org")[0])
    ident = ldap_app.identity_with()
    card = "7700112233"
    assert ident.identify(Swipe("door", card, at=100.0)).reason == "unknown card"
    bound = ident.identify(Swipe("door", code, at=110.0))
    assert bound.method == "cac" and bound.user is not None, bound.reason
    assert bound.user.username == f"{tag}-dee"
    again = ident.identify(Swipe("door", card, at=200.0))
    assert again.method == "card" and again.user.username == f"{tag}-dee"
    with ldap_app.store.read() as s:
        [origin] = s.scalars(select(Card.origin).join(Card.user).where(
            Card.digest == ldap_app.hasher.card(card))).all()  # fmt: skip
        assert origin == "self"
        assert s.scalar(select(Credential.cac_used_at)) is not None


def test_an_unknown_name_that_is_allowed_becomes_a_visitor(ldap_app, smtp, tag):
    result = run_user(ldap_app, f"{tag}-guest", email=f"{tag}-guest@visitors.example")
    assert (result.status, result.visitor_created) == ("issued", True)
    assert len(smtp.to(f"{tag}-guest@visitors.example")) == 1
    assert run_user(ldap_app, "not-allowed").status == "failed"
