# SPDX-License-Identifier: GPL-3.0-or-later
"""A new site, set up as the README says: examples/releasestation.ini with only what an
admin edits (queue, cupsd, directory, database, SMTP relay, the terminal's address), on a
real cupsd, slapd (users under ou=people,dc=corp,dc=example,dc=org), SMTP server, PaperCut-
style TCP terminal and the daemon.

With nothing else set: a PIN that `credgen` mails, typed on the terminal, prints that
user's jobs; a visitor's mailed PIN does too; `email_recipient_from_username = True` mails
a visitor at their name; a swipe prints the jobs held as `alice`, `CORP\\alice` and
`alice@corp.example.org`, never those of `OTHER\\alice`; a short card number still works.
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.servers.slapd import SlapdServer
from bench.servers.slapd_data import READER_DN, READER_PASSWORD, person_attributes
from credgen import run_batch, run_user
from releasestation import config
from releasestation.app import App
from releasestation.daemon import build_station
from releasestation.store import users as store_users
from tests.fixtures.station import example_config
from tests.waiting import wait_for

DOMAIN_DN = "dc=corp,dc=example,dc=org"
PEOPLE = f"ou=people,{DOMAIN_DN}"
ALICE_CARD, SHORT_CARD = "0012345678", "45678"  # a HID Prox card number has 5 digits
VISITORS = r"[^@\s]+@example\.com"
_runs = itertools.count()


@pytest.fixture(scope="module")
def corp_slapd() -> Iterator[SlapdServer]:
    """A slapd whose people live under dc=corp,dc=example,dc=org."""
    server = SlapdServer.create()
    try:
        server.start()
        server.add_entry(DOMAIN_DN, {"objectClass": "domain", "dc": "corp"})
        server.add_entry(PEOPLE, {"objectClass": "organizationalUnit", "ou": "people"})
        for uid, card in (("alice", ALICE_CARD), ("hid", SHORT_CARD), ("ann", None)):
            attributes = person_attributes(
                uid, employee_number=card, mail=f"{uid}@corp.example.org"
            )
            server.add_entry(f"uid={uid},{PEOPLE}", attributes)
        yield server
    finally:
        server.destroy()


class Site:
    """The daemon of a new site, its terminal and what it made of each entry."""

    def __init__(self, app: App, terminal):
        self.app, self.terminal = app, terminal
        self.outcomes: queue.Queue = queue.Queue()
        self.station = build_station(app)
        self.station.listeners.append(lambda swipe, outcome: self.outcomes.put(outcome))
        connections = terminal.accepted
        self.station.start()
        terminal.wait_connections(connections + 1)

    def enter(self, value: str) -> str:
        self.terminal.swipe(value)
        return self.outcomes.get(timeout=10)


@pytest.fixture
def new_site(
    tmp_path, db_url, cups_clean, corp_slapd, smtp, terminal
) -> Iterator[Callable[..., Site]]:
    sites: list[Site] = []

    def start(**edits: dict[str, str]) -> Site:
        password = tmp_path / "ldap.secret"
        password.write_text(READER_PASSWORD + "\n")
        password.chmod(0o600)
        site = {
            "station": {"secret_file": str(tmp_path / "secret")},
            "cups": {"server": cups_clean.socket},
            "directory": {
                "type": "ldap",
                "uri": corp_slapd.ldaps_uri,
                "bind_dn": READER_DN,
                "bind_password_file": str(password),
                "base_dn": PEOPLE,
                "ca_file": corp_slapd.ca_file,
            },
            "database": {"url": db_url},
            "credgen": {"smtp_server": smtp.host, "smtp_port": str(smtp.port)},
            "reader:lobby-terminal": {"host": "127.0.0.1", "port": str(terminal.port)},
        }
        for section, values in edits.items():
            site.setdefault(section, {}).update(values)
        path = example_config(tmp_path / f"releasestation-{next(_runs)}.ini", site)
        app = App(config.load(str(path)))
        app.store.upgrade()
        sites.append(Site(app, terminal))
        return sites[-1]

    yield start
    for site in sites:
        site.station.stop()
        site.app.close()


def pin_mailed_to(smtp, address: str, timeout: float = 10.0) -> str:
    assert wait_for(lambda: smtp.to(address), timeout=timeout), f"no mail to {address}"
    [message] = smtp.to(address)
    found = re.search(r"PIN: (\d+)", message.text())
    assert found, message.text()
    return found.group(1)


def test_the_example_config_takes_credgen_s_pins_from_card_terminals(new_site):
    site = new_site()
    assert site.app.config.station.pin_max_digits == site.app.config.credgen.pin_length == 6


def test_a_pin_credgen_mails_typed_on_the_terminal_prints_the_jobs(
    new_site, smtp, cups_clean, caplog
):
    caplog.set_level(logging.DEBUG, logger="releasestation")
    site = new_site()
    result = run_batch(site.app)
    assert result.ok and result.issued == 3, result.summary()
    pin = pin_mailed_to(smtp, "ann@corp.example.org")
    assert len(pin) == 6
    jobs = {cups_clean.submit("ann", "report"), cups_clean.submit("CORP\\ann", "slides")}
    other = cups_clean.submit("alice", "not ann's")
    assert site.enter(pin) == "released"
    assert {p.job_id for p in cups_clean.wait_printed(2)} == jobs
    assert [j.id for j in site.app.printq.held_jobs(("Secure",))] == [other]
    assert pin not in caplog.text


def test_a_visitor_s_mailed_pin_typed_on_the_terminal_prints_their_job(
    new_site, smtp, cups_clean, caplog
):
    caplog.set_level(logging.DEBUG, logger="releasestation")
    site = new_site(credgen={"allowed_usernames": VISITORS})
    job = cups_clean.submit("guest@example.com", "boarding pass")
    pin = pin_mailed_to(smtp, "guest@example.com")
    assert site.enter(pin) == "released"
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]
    assert pin not in caplog.text


def test_a_directory_user_printing_under_the_realm_is_no_visitor(new_site, smtp, cups_clean):
    """`alice@corp.example.org` is alice: a visitor pattern that covers the directory's
    realm mails her no visitor's PIN, and her card prints the job."""
    pattern = r"[^@\s]+@(example\.com|corp\.example\.org)"
    site = new_site(credgen={"allowed_usernames": pattern})
    job = cups_clean.submit("alice@corp.example.org", "from a Windows laptop")
    stranger = cups_clean.submit("nobody-here@corp.example.org", "unknown in the directory")
    assert pin_mailed_to(smtp, "nobody-here@corp.example.org")
    assert smtp.to("alice@corp.example.org") == []
    assert site.enter(ALICE_CARD) == "released"
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]
    assert [j.id for j in site.app.printq.held_jobs(("Secure",))] == [stranger]


def test_credgen_user_mails_a_new_visitor_at_their_name(new_site, smtp, cups_clean):
    """`credgen user visitor@example.com`, as the README shows it, with no --email."""
    site = new_site(station={"visitors_on_arrival": "no"}, credgen={"allowed_usernames": VISITORS})
    job = cups_clean.submit("walk-in@example.com", "ticket")
    result = run_user(site.app, "walk-in@example.com")
    assert (result.status, result.visitor_created, result.email) == (
        "issued", True, "walk-in@example.com"
    )  # fmt: skip
    assert site.enter(pin_mailed_to(smtp, "walk-in@example.com")) == "released"
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]


def test_recipient_from_username_true_mails_a_guest_at_their_name(new_site, smtp, cups_clean):
    """A guest the admin added by name only (`releasestation user add desk@example.com`) is
    mailed at their name by `credgen batch` with True, the boolean of the generators sites
    run (left empty, they are skipped for want of an address)."""
    site = new_site(
        station={"visitors_on_arrival": "no"},
        credgen={"allowed_usernames": VISITORS, "email_recipient_from_username": "True"},
    )
    with site.app.store.write() as session:
        store_users.add_user(session, "desk@example.com", "local", email="")
    job = cups_clean.submit("desk@example.com", "ticket")
    result = run_batch(site.app)
    assert result.ok and result.issued == 1, result.summary()
    assert site.enter(pin_mailed_to(smtp, "desk@example.com")) == "released"
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]


def test_a_swipe_prints_the_jobs_held_under_every_form_of_the_directory_s_names(
    new_site, cups_clean
):
    site = new_site()
    mine = {
        cups_clean.submit(owner, f"doc of {owner}")
        for owner in ("alice", "CORP\\alice", "alice@corp.example.org", "corp\\ALICE")
    }
    for owner in ("OTHER\\alice", "alice@evil.example", "alice@example.org"):
        cups_clean.submit(owner, f"doc of {owner}")
    assert site.enter(ALICE_CARD) == "released"
    assert {p.job_id for p in cups_clean.wait_printed(len(mine))} == mine
    held = sorted(j.owner for j in site.app.printq.held_jobs(("Secure",)))
    assert held == ["OTHER\\alice", "alice@evil.example", "alice@example.org"]


def test_a_short_card_number_still_prints_with_pins_on(new_site, cups_clean):
    site = new_site()
    job = cups_clean.submit("hid", "badge printout")
    assert site.enter(SHORT_CARD) == "released"
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]


def test_owner_domains_none_matches_plain_names_only(new_site, cups_clean):
    site = new_site(station={"owner_domains": "none", "owner_realms": "none"})
    plain = cups_clean.submit("alice", "plain")
    cups_clean.submit("CORP\\alice", "domain")
    assert site.enter(ALICE_CARD) == "released"
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [plain]
    assert [j.owner for j in site.app.printq.held_jobs(("Secure",))] == ["CORP\\alice"]


def test_the_example_config_is_what_the_site_runs(tmp_path):
    """The helper edits values only: every key of the example is still there."""
    path = example_config(tmp_path / "x.ini", {"station": {"name": "x"}})
    assert config.load(str(path)).station.name == "x"
    with pytest.raises(KeyError, match="no \\[station\\] owner_domain"):
        example_config(tmp_path / "y.ini", {"station": {"owner_domain": "X"}})
    assert Path(path).read_text().count("[reader:") == 1
