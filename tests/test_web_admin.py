# SPDX-License-Identifier: GPL-3.0-or-later
"""The portal's admin pages, release to a listed printer, hidden titles and admins by
directory group, through Flask's test client on the real cupsd, store and directory."""

from __future__ import annotations

import csv
import io
import logging

import pytest

from bench.servers.slapd_data import BASE_DN
from releasestation.audit import Event
from tests.fixtures.station import audit_rows, ldap_section
from tests.fixtures.web import log_in, token_of

CARD = "0012345678"


@pytest.fixture
def station(portal):
    return portal()


def post_api(client, path: str, **kwargs):
    return client.post(path, headers={"X-CSRFToken": token_of(client)}, **kwargs)


# -- release to a printer the admin listed ------------------------------------------------
def test_a_job_is_released_to_a_listed_printer_and_audited_as_from_the_web(portal, cups_clean):
    station = portal(web="release_printers = Secure2\n")
    job = cups_clean.submit("alice", "Report")
    client = station.login("alice")
    page = client.get("/jobs").get_data(as_text=True)
    assert '<option value="Secure2">Secure2</option>' in page
    token = token_of(client)
    answer = client.post(f"/jobs/{job}/release", data={"csrf_token": token, "printer": "Secure2"})
    assert answer.status_code == 303
    [printed] = cups_clean.wait_printed(1)
    assert (printed.job_id, printed.queue) == (job, "Secure2")
    [row] = [r for r in audit_rows(station.app, "release") if r["job_id"] == job]
    assert (row["method"], row["printer"], row["outcome"]) == ("web", "Secure2", "ok")


def test_an_unlisted_printer_is_refused_and_a_stopped_one_with_the_reason(portal, cups_clean):
    station = portal(web="release_printers = Secure2\n")
    job = cups_clean.submit("alice", "Report")
    client = station.login("alice")
    unlisted = post_api(client, f"/api/v1/jobs/{job}/release", json={"printer": "Elsewhere"})
    assert unlisted.status_code == 400 and "not a printer" in unlisted.get_json()["error"]
    cups_clean.stop_printer("Secure2", reason="toner empty")
    stopped = post_api(client, f"/api/v1/jobs/{job}/release", json={"printer": "secure2"})
    assert stopped.status_code == 409 and "toner empty" in stopped.get_json()["error"]
    [denied] = audit_rows(station.app, "deny")
    assert (denied["method"], denied["outcome"]) == ("web", "printer-error")
    assert [j.id for j in station.app.printq.held_jobs(("Secure",))] == [job], "still held"
    cups_clean.start_printer("Secure2")


# -- titles --------------------------------------------------------------------------------
def test_show_titles_no_hides_titles_everywhere(portal, cups_clean):
    station = portal(web="show_titles = no\n")
    job = cups_clean.submit("alice", "Medical-results")
    client = station.login("alice")
    assert client.get("/api/v1/jobs").get_json()[0]["title"] is None
    assert "Medical-results" not in client.get("/jobs").get_data(as_text=True)
    admin = station.login("carol")
    assert admin.get("/api/v1/admin/jobs").get_json()[0]["title"] is None
    assert "Medical-results" not in admin.get("/admin").get_data(as_text=True)
    station.app.audit.record(Event("submit", method="web", username="alice", job_id=job,
                                   title="Medical-results"))  # fmt: skip
    rows = admin.get("/api/v1/admin/audit").get_json()["rows"]
    assert rows[0]["job_id"] == job and rows[0]["title"] is None


def test_admins_see_no_titles_when_the_audit_keeps_none(portal, cups_clean):
    station = portal(audit="keep_titles = no\n")
    cups_clean.submit("alice", "Medical-results")
    assert station.login("alice").get("/api/v1/jobs").get_json()[0]["title"] == "Medical-results"
    assert station.login("carol").get("/api/v1/admin/jobs").get_json()[0]["title"] is None


# -- admin only ----------------------------------------------------------------------------
ADMIN_PAGES = ("/admin/readers", "/admin/audit", "/admin/reports", "/admin/reports.csv",
               "/admin/users/alice", "/api/v1/admin/readers", "/api/v1/admin/audit",
               "/api/v1/admin/reports", "/api/v1/admin/users/alice/cards")  # fmt: skip


def test_admin_pages_are_for_admins_only(station):
    bob = station.login("bob")
    for path in ADMIN_PAGES:
        assert bob.get(path).status_code == 403, path
    added = post_api(bob, "/api/v1/admin/users/alice/cards", json={"number": CARD})
    assert added.status_code == 403
    assert post_api(bob, "/api/v1/admin/users/alice/pin").status_code == 403
    token = token_of(bob)
    assert bob.post("/admin/users/alice/cards", data={"csrf_token": token}).status_code == 403
    anonymous = station.client()
    assert anonymous.get("/api/v1/admin/audit").status_code == 401
    carol = station.login("carol")
    for path in ADMIN_PAGES:
        assert carol.get(path).status_code == 200, path


def test_admin_forms_need_their_csrf_token(station):
    carol = station.login("carol")
    assert carol.post("/admin/users/alice/cards", data={"number": CARD}).status_code == 400
    assert carol.post("/admin/users/alice/pin", data={}).status_code == 400
    answer = carol.post("/api/v1/admin/users/alice/cards", json={"number": CARD},
                        headers={"X-CSRFToken": "forged"})  # fmt: skip
    assert answer.status_code == 400
    assert carol.get("/api/v1/admin/users/alice/cards").get_json()["cards"] == []


# -- the audit trail -------------------------------------------------------------------------
def test_the_audit_trail_is_filtered_and_paged(station):
    audit = station.app.audit
    for n in range(60):
        audit.record(Event("release", method="card", username="alice", queue="Secure", job_id=n))
    audit.record(Event("deny", "printer-error", method="web", username="bob", printer="Secure2"))
    audit.record(Event("cancel", method="web", username="alice", queue="Secure", job_id=99))
    carol = station.login("carol")
    first = carol.get("/api/v1/admin/audit?user=ALICE").get_json()
    assert len(first["rows"]) == 50 and first["rows"][0]["job_id"] == 99
    rest = carol.get(f"/api/v1/admin/audit?user=alice&before={first['next_before']}").get_json()
    assert len(rest["rows"]) == 11 and rest["next_before"] is None
    assert [r["job_id"] for r in first["rows"] + rest["rows"]] == [99, *range(59, -1, -1)]
    denials = carol.get("/api/v1/admin/audit?via=web&event=deny&printer=Secure2").get_json()
    assert [(r["user"], r["outcome"]) for r in denials["rows"]] == [("bob", "printer-error")]
    assert carol.get("/api/v1/admin/audit?since=2000-01-01&until=2000-01-02").get_json() == {
        "rows": [], "next_before": None,
    }  # fmt: skip
    assert carol.get("/api/v1/admin/audit?since=yesterday").status_code == 400
    page = carol.get("/admin/audit?user=alice").get_data(as_text=True)
    assert 'id="older"' in page and page.count("<tr>") == 51  # the header and 50 rows


def test_readers_show_their_last_errors(portal):
    terminal = "type = papercut\nhost = 127.0.0.1\nport = 9\n"
    station = portal(monitoring="listen =\n", **{"reader:door": terminal})
    station.app.audit.record(Event("deny", "unknown-card", method="card", reader="door"))
    readers = station.login("carol").get("/api/v1/admin/readers").get_json()
    assert [(r["name"], [e["outcome"] for e in r["errors"]]) for r in readers] == [
        ("door", ["unknown-card"])
    ]


# -- reports --------------------------------------------------------------------------------
def test_reports_by_user_with_a_csv_download(station):
    audit = station.app.audit
    audit.record(Event("release", method="card", username="alice", queue="Secure", job_id=1,
                       pages=3, cost_center="CC-1"))  # fmt: skip
    audit.record(Event("release", method="web", username="bob", queue="Secure", job_id=2,
                       pages=5, cost_center="CC-2"))  # fmt: skip
    carol = station.login("carol")
    rows = carol.get("/api/v1/admin/reports?by=cost-center&period=day").get_json()["rows"]
    assert [(r["key"], r["jobs"], r["pages"]) for r in rows] == [("CC-1", 1, 3), ("CC-2", 1, 5)]
    answer = carol.get("/admin/reports.csv?by=user&period=month")
    assert answer.mimetype == "text/csv" and "attachment" in answer.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert table[0] == ["period", "user", "jobs", "pages", "printed", "expired", "denials"]
    assert [(r[1], r[3]) for r in table[1:]] == [("alice", "3"), ("bob", "5")]
    assert carol.get("/admin/reports?by=nobody").status_code == 400
    assert "Download as CSV" in carol.get("/admin/reports").get_data(as_text=True)


# -- a user's cards and PIN --------------------------------------------------------------
def test_cards_are_added_and_removed_audited_never_shown_in_full(station, caplog):
    caplog.set_level(logging.DEBUG)
    carol = station.login("carol")
    token = token_of(carol)
    answer = carol.post("/admin/users/alice/cards", data={"csrf_token": token, "number": CARD})
    assert answer.status_code == 303
    page = carol.get("/admin/users/alice").get_data(as_text=True)
    assert "5678" in page and CARD not in page
    with station.app.store.read() as session:
        from releasestation.store import users as store_users

        assert store_users.user_by_card(session, station.app.hasher, CARD).username == "alice"
    again = post_api(carol, "/api/v1/admin/users/bob/cards", json={"number": CARD})
    assert again.status_code == 409 and CARD not in again.get_data(as_text=True)
    [card] = carol.get("/api/v1/admin/users/alice/cards").get_json()["cards"]
    assert card["last"] == "5678"
    assert post_api(carol, f"/api/v1/admin/users/bob/cards/{card['id']}/remove").status_code == 404
    removed = post_api(carol, f"/api/v1/admin/users/alice/cards/{card['id']}/remove")
    assert removed.status_code == 200
    assert carol.get("/api/v1/admin/users/alice/cards").get_json()["cards"] == []
    rows = audit_rows(station.app, "credential")
    assert [(r["outcome"], r["method"], r["username"], r["detail"]) for r in rows] == [
        ("card-added", "web", "alice", "by carol"),
        ("card-removed", "web", "alice", "by carol"),
    ]
    assert all(CARD not in str(row) for row in audit_rows(station.app))
    assert CARD not in caplog.text
    assert carol.get("/admin/users/nobody-here").status_code == 404


def test_a_pin_reset_is_mailed_with_the_credential_settings(portal, smtp):
    station = portal(credgen=smtp.ini() + "email_from = station@example.org\n")
    carol = station.login("carol")
    with station.app.store.read() as session:
        from releasestation.credentials import records

        before = records.pin_holders(session)
    answer = carol.post("/admin/users/alice/pin", data={"csrf_token": token_of(carol)})
    assert answer.status_code == 303
    [mail] = smtp.to("alice@example.org")
    with station.app.store.read() as session:
        assert records.pin_holders(session) - before, "alice has a PIN now"
    assert any(c.isdigit() for c in mail.text()) and "was mailed to alice@example.org" in carol.get(
        "/admin/users/alice"
    ).get_data(as_text=True)
    again = post_api(carol, "/api/v1/admin/users/alice/pin")
    assert again.status_code == 200 and again.get_json()["mailed_to"] == "alice@example.org"
    assert len(smtp.to("alice@example.org")) == 2, "a reset draws a new PIN every time"
    [first, second] = [m for m in smtp.to("alice@example.org")]
    assert first.text() != second.text()
    rows = [(r["outcome"], r["method"], r["detail"]) for r in audit_rows(station.app, "credential")]
    assert rows == [("issued", "credgen", "pin"), ("pin-reset", "web", "by carol")] * 2


# -- admins by directory group -----------------------------------------------------------
ERIN_PASSWORD = "Erin-dir-Secret 5"


@pytest.fixture(scope="module")
def print_admins(slapd):
    """web-erin in the group print-admins, web-frank not (the session's slapd)."""
    erin = slapd.add_user("web-erin", password=ERIN_PASSWORD, mail="web-erin@example.org")
    frank = slapd.add_user("web-frank", password=ERIN_PASSWORD, mail="web-frank@example.org")
    group = f"cn=print-admins,{BASE_DN}"
    slapd.add_entry(group, {"objectClass": ["groupOfNames"], "cn": "print-admins",
                            "member": [erin]})  # fmt: skip
    yield group
    for dn in (group, erin, frank):
        slapd.delete(dn)


@pytest.mark.parametrize(
    "group", ["print-admins", f"cn=print-admins,{BASE_DN}", "*"], ids=["cn", "dn", "star"]
)
def test_members_of_the_admin_group_are_admins(portal, slapd, print_admins, tmp_path, group):
    station = portal(directory=ldap_section(slapd, tmp_path),
                     web=f"admins =\nadmin_group = {group}\n")  # fmt: skip
    erin, frank = station.client(), station.client()
    assert log_in(erin, "web-erin", ERIN_PASSWORD).status_code == 303
    assert log_in(frank, "web-frank", ERIN_PASSWORD).status_code == 303
    assert erin.get("/admin/audit").status_code == (403 if group == "*" else 200)
    assert frank.get("/admin/audit").status_code == 403


def test_a_pin_reset_whose_mail_is_refused_keeps_the_old_pin(portal, refusing_smtp):
    from releasestation.credentials import records
    from releasestation.credentials.models import Credential
    from releasestation.store import users as store_users
    from releasestation.store.models import utcnow

    station = portal(credgen=refusing_smtp.ini())
    app = station.app
    with app.store.write() as session:
        row = store_users.find_user(session, "alice")
        records.set_pin(session, app.hasher, row, "482915", utcnow(), 0)

    def digest() -> str:
        with app.store.read() as session:
            row = store_users.find_user(session, "alice")
            return session.get(Credential, row.id).pin_digest

    before = digest()
    carol = station.login("carol")
    answer = post_api(carol, "/api/v1/admin/users/alice/pin")
    assert answer.status_code == 502 and "No new PIN" in answer.get_json()["error"]
    assert digest() == before
    assert [r["outcome"] for r in audit_rows(app, "credential")] == []


def test_with_cupsd_away_the_status_and_admin_pages_say_so_and_show_the_readers(portal, tmp_path):
    away = portal(
        cups=f"server = {tmp_path}/no-such.sock\ntimeout_seconds = 2\n",
        **{"reader:door": "type = papercut\nhost = 127.0.0.1\nport = 9\n"},
    )
    status = away.client().get("/api/v1/status")
    assert status.status_code == 200, status.get_data(as_text=True)
    printers = status.get_json()["printers"]
    assert [(p["name"], p["state"]) for p in printers] == [
        ("Secure", "unreachable"),
        ("Secure2", "unreachable"),
    ]
    assert printers[0]["problem"] == "the print server cannot be reached"
    page = away.client().get("/status").get_data(as_text=True)
    assert "the print server cannot be reached" in page and "door" in page
    admin = away.login("carol").get("/admin")
    text = admin.get_data(as_text=True)
    assert admin.status_code == 200, text
    assert "the held jobs cannot be listed" in text and "door" in text


def test_a_pin_reset_for_a_user_without_an_address_says_why(portal, smtp):
    from releasestation.store import users as store_users

    station = portal(credgen=smtp.ini())
    with station.app.store.write() as session:
        store_users.add_user(session, "dave", "local")  # no e-mail address
    carol = station.login("carol")
    answer = post_api(carol, "/api/v1/admin/users/dave/pin")
    assert answer.status_code == 409, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    assert "knows no e-mail address" in error and "--email" not in error, "no CLI hint here"
    assert smtp.to("dave@example.org") == []
    assert audit_rows(station.app, "credential") == []
