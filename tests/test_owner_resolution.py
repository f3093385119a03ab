# SPDX-License-Identifier: GPL-3.0-or-later
"""Owner resolution: PJL headers, the title regex, the fallback user, name forms; never a
guess. Documents are real raw jobs in the private cupsd, read from its spool or fetched
with CUPS-Get-Document."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from releasestation import config
from releasestation.app import App
from releasestation.config import OwnerSettings, StationSettings
from releasestation.directory import OwnNames
from releasestation.owner_names import NameForm, OwnerMatcher
from releasestation.printq import HeldJob
from releasestation.release import OwnerResolver
from releasestation.release.models import JobOwner
from releasestation.release.pjl import pjl_user
from tests.fixtures.cupsd import PAGE, pjl_document
from tests.fixtures.station import add_user, audit_rows, swipe

UEL = b"\x1b%-12345X"


# -- PJL headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "user"),
    [
        (UEL + b'@PJL SET USERNAME="alice"\r\n@PJL ENTER LANGUAGE=PCL\r\n', "alice"),
        (UEL + b"@PJL JOB\n@pjl set username = bob\n@PJL ENTER LANGUAGE=PDF\n", "bob"),
        (UEL + b'@PJL SET JOBATTR="@USER=carol"\r\n', "carol"),
        (UEL + b'@PJL SET JOBATTR="@USERNAME=dave"\r\n', "dave"),
        (UEL + b'@PJL SET JOBATTR="@USER=x"\r\n@PJL SET USERNAME="erin"\r\n', "erin"),
        (UEL + b'@PJL SET USERNAME="J\xc3\xbcrgen"\r\n', "Jürgen"),
        (b'@PJL SET USERNAME="frank"\n', "frank"),
        (UEL + b'@PJL SET USERNAME=""\r\n@PJL SET JOBATTR="@USER=gina"\r\n', "gina"),
        (UEL + b'@PJL ENTER LANGUAGE=POSTSCRIPT\r\n@PJL SET USERNAME="late"\r\n', None),
        (UEL + b'@PJL JOB\r\n%!PS\n@PJL SET USERNAME="inside"\n', None),
        (b'%!PS-Adobe-3.0\n% @PJL SET USERNAME="mallory"\n', None),
        (UEL + b'@PJL SET JOBATTR="@DEPT=sales"\r\n', None),
        (b"", None),
    ],
)
def test_pjl_user(head, user):
    assert pjl_user(head) == user


# -- name forms -----------------------------------------------------------------------------


def form(fmt: str = "plain", **owners) -> NameForm:
    station = StationSettings(
        hold_queues=("Secure",), owner_domains=("CORP",), owner_realms=("none",)
    )
    matcher = OwnerMatcher.for_station(station, OwnNames(("OTHER",), ("other.example",)))
    return NameForm.from_settings(OwnerSettings(name_format=fmt, **owners), matcher)


@pytest.mark.parametrize(
    ("fmt", "owners", "name", "normal"),
    [
        ("plain", {}, "CORP\\Alice", "alice"),
        ("plain", {"realm": "corp.example.org"}, "Alice@Corp.Example.Org", "alice"),
        ("plain", {}, "alice@corp.example.org", "alice@corp.example.org"),  # unknown realm
        ("plain", {}, "OTHER\\alice", "other\\alice"),
        ("plain", {}, "visitor@example.com", "visitor@example.com"),
        ("nt4", {"domain": "CORP"}, "alice", "corp\\alice"),
        ("nt4", {"domain": "CORP", "realm": "corp.example.org"}, "alice@corp.example.org",
         "corp\\alice"),
        ("upn", {"realm": "corp.example.org"}, "CORP\\alice", "alice@corp.example.org"),
        ("upn", {"realm": "corp.example.org"}, "alice", "alice@corp.example.org"),
        ("plain", {}, "  bob ", "bob"),
        ("plain", {}, "", None),
        ("plain", {}, "bad\nname", None),
        ("plain", {}, "x" * 300, None),
    ],
)  # fmt: skip
def test_names_are_normalised(fmt, owners, name, normal):
    assert form(fmt, **owners).normalise(name) == normal


def test_name_format_needs_its_domain_or_realm():
    with pytest.raises(config.ConfigError, match=r"\[owners\] .*domain: required"):
        config.parse_text("[station]\nhold_queues = S\n[owners]\nname_format = nt4\n")
    with pytest.raises(config.ConfigError, match=r"title_regex: not a valid"):
        config.parse_text("[station]\nhold_queues = S\n[owners]\ntitle_regex = ([\n")


# -- resolving real jobs ------------------------------------------------------------------


def resolver_for(make_app, **owners: str) -> tuple[App, OwnerResolver]:
    lines = "".join(f"{k} = {v}\n" for k, v in owners.items())
    app = make_app(owners=lines)
    return app, app.resolver


def held(app: App, job_id: int) -> HeldJob:
    job = app.printq.job(job_id)
    assert job is not None
    return job


@pytest.mark.parametrize("from_spool", [True, False], ids=["spool", "get-document"])
def test_pjl_header_names_the_owner(make_app, cups_clean, from_spool):
    owners = {} if from_spool else {"spool_dir": ""}
    app, resolver = resolver_for(make_app, **owners)
    assert (app.config.owners.spool_dir is not None) is from_spool
    job_id = cups_clean.submit("anonymous", "report.pdf", pjl_document("alice"))
    found = resolver.resolve(held(app, job_id))
    assert (found.owner, found.source) == ("alice", "pjl")


def test_title_regex_then_fallback_then_nobody(make_app, cups_clean):
    app, resolver = resolver_for(make_app, title_regex=r"^\[(?P<user>[^]]+)\]")
    by_title = cups_clean.submit("lp", "[Bob] quarterly.pdf")
    generic_in_pjl = cups_clean.submit("root", "[carol] x", pjl_document("nobody"))
    untitled = cups_clean.submit("guest", "scan0001.pdf")
    results = [resolver.resolve(held(app, j)) for j in (by_title, generic_in_pjl, untitled)]
    assert [(r.owner, r.source) for r in results] == [
        ("bob", "title"),
        ("carol", "title"),  # a generic name in the header does not count
        (None, "none"),  # never guess
    ]
    app, resolver = resolver_for(make_app, fallback_user="frontdesk", title_regex=r"by (\w+)")
    assert resolver.resolve(held(app, untitled)).source == "fallback"
    job = cups_clean.submit("lp", "minutes by Erin")
    assert resolver.resolve(held(app, job)).owner == "erin"


def test_pjl_can_be_turned_off(make_app, cups_clean):
    app, resolver = resolver_for(make_app, pjl="no", fallback_user="desk")
    job_id = cups_clean.submit("anonymous", "report.pdf", pjl_document("alice"))
    assert resolver.resolve(held(app, job_id)).owner == "desk"


def test_answers_are_stored_and_unreadable_documents_are_retried(make_app, cups_clean):
    app, resolver = resolver_for(make_app)
    job = held(app, cups_clean.submit("anonymous", "a.pdf", pjl_document("alice")))
    mine = held(app, cups_clean.submit("alice", "own.pdf"))
    assert resolver.owners_of([job, mine]) == {job.id: "alice"}  # only generic owners
    with app.store.read() as s:
        [row] = s.scalars(select(JobOwner)).all()
        assert (row.job_id, row.owner, row.source, row.cups_owner) == (
            job.id, "alice", "pjl", "anonymous"
        )  # fmt: skip
    ghost = HeldJob(99999, "anonymous", "gone", "Secure", "ipp://x", job.created, 4)
    assert resolver.owners_of([ghost]) == {ghost.id: None}
    with app.store.read() as s:
        assert s.scalar(select(JobOwner).where(JobOwner.job_id == ghost.id)) is None
    reused = HeldJob(job.id, "anonymous", "a.pdf", "Secure", "ipp://x", job.created + 5, 4)
    assert resolver.owners_of([reused]) == {job.id: "alice"}  # re-resolved, not stale


def test_anonymous_raw_job_is_released_by_the_pjl_users_card(make_app, cups_clean):
    app = make_app()
    add_user(app, "alice", card="55667788", cost_center="CC-1")
    add_user(app, "bob", card="11223344")
    job_id = cups_clean.submit("anonymous", "payroll", pjl_document("alice"))
    other = cups_clean.submit("anonymous", "no header", PAGE)
    app.job_watcher().handle(app.printq.held_jobs(["Secure"]))  # the daemon's watcher, once
    assert swipe(app, "11223344") == "no-jobs"
    assert swipe(app, "55667788") == "released"
    [printed] = cups_clean.wait_printed(1)
    assert printed.job_id == job_id and printed.data.startswith(b"\x1b%-12345X@PJL")
    [row] = [r for r in audit_rows(app, "release") if r["job_id"]]
    assert (row["username"], row["title"], row["cost_center"]) == ("alice", "payroll", "CC-1")
    assert [j.id for j in app.printq.held_jobs(["Secure"])] == [other]


def test_upn_names_and_an_ldap_user(make_app, cups_clean, slapd, db_url):
    uid, card = ("owner-pg", "7300111223") if "postgres" in db_url else ("owner-sq", "7300111222")
    slapd.add_user(uid, cards=[card])  # the session's slapd: names of this test's own
    base = make_app(owners="name_format = upn\nrealm = corp.example.org\ndomain = CORP\n")
    app = App(config.replace(base.config, directory=slapd.settings()))
    try:
        job_id = cups_clean.submit("anonymous", "t", pjl_document(f"CORP\\{uid}"))
        assert app.resolver.resolve(held(app, job_id)).owner == f"{uid}@corp.example.org"
        plain = make_app(owners="domain = CORP\n")
        ldap = App(config.replace(plain.config, directory=slapd.settings()))
        try:
            ldap.job_watcher().handle(ldap.printq.held_jobs(["Secure"]))  # the daemon's watcher
            assert swipe(ldap, card) == "released"
            assert [p.job_id for p in cups_clean.wait_printed(1)] == [job_id]
        finally:
            ldap.close()
    finally:
        app.close()
