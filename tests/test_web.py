# SPDX-License-Identifier: GPL-3.0-or-later
"""The web portal through Flask's test client, on the real cupsd, store (SQLite and
PostgreSQL) and directory: logging in, my jobs, release, cancel, and every refusal."""

from __future__ import annotations

import io
import stat
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from releasestation.credentials.lockout import Lockouts
from releasestation.web import create_app, web_parts
from tests.fixtures.station import audit_rows, ldap_section
from tests.fixtures.web import PASSWORDS, csrf_of, log_in, pdf, token_of

FAILED = "the user name or password is wrong, or there were too many tries"


@pytest.fixture
def station(portal):
    return portal()


def api_jobs(client) -> list[dict]:
    answer = client.get("/api/v1/jobs")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def post_api(client, path: str, token: str | None = "session"):
    """POST to the API with the session's token (or `token`, or none)."""
    if token == "session":
        token = token_of(client)
    return client.post(path, headers={} if token is None else {"X-CSRFToken": token})


# -- logging in -----------------------------------------------------------------------
def test_login_page_carries_a_token_and_labels(station):
    page = station.client().get("/login")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert csrf_of(text)
    assert '<label for="username">' in text and '<label for="password">' in text
    assert 'autocomplete="current-password"' in text


def test_a_local_user_logs_in_and_out(station):
    client = station.client()
    answer = log_in(client, "alice", PASSWORDS["alice"])
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/jobs")
    page = client.get("/jobs")
    assert page.status_code == 200 and b"Log out" in page.data
    assert client.post("/logout", data={"csrf_token": csrf_of(page.data)}).status_code == 303
    assert client.get("/jobs").status_code == 302, "logged out: back to the login page"
    assert client.get("/api/v1/jobs").status_code == 401


def test_the_login_cookie_carries_the_token_a_script_writes_with(station, cups_clean):
    """docs/web.md's curl example: the jar is written at login only (-c), then read (-b):
    the token a page shows after login, and the one the JSON login answers, both work
    with the login's own cookie."""
    client = station.client()
    answer = log_in(client, "alice", PASSWORDS["alice"])
    login_cookie = client.get_cookie("releasestation_session").value
    shown = csrf_of(client.get("/jobs").data)  # this answer's cookie is not kept
    client.set_cookie("releasestation_session", login_cookie)
    job = cups_clean.submit("alice", "Report")
    cancelled = client.post(f"/api/v1/jobs/{job}/cancel", headers={"X-CSRFToken": shown})
    assert cancelled.status_code == 200, cancelled.get_data(as_text=True)
    assert answer.status_code == 303
    scripted = station.client()
    token = csrf_of(scripted.get("/login").data)
    form = {"username": "alice", "password": PASSWORDS["alice"], "csrf_token": token}
    login = scripted.post("/login", data=form, headers={"Accept": "application/json"})
    assert login.status_code == 200 and login.get_json()["csrf_token"]
    missing = scripted.post("/api/v1/jobs/999999/cancel",
                            headers={"X-CSRFToken": login.get_json()["csrf_token"]})  # fmt: skip
    assert missing.status_code == 404, missing.get_data(as_text=True)


def test_every_failed_login_says_the_same(station):
    client = station.client()
    wrong = log_in(client, "alice", "not-her-password")
    nobody = log_in(client, "nobody-at-all", "whatever-it-is")
    assert wrong.status_code == nobody.status_code == 401
    assert FAILED in wrong.get_data(as_text=True)
    message = lambda answer: answer.get_data(as_text=True).split('id="login-error">')[1]  # noqa: E731
    assert message(wrong).split("<")[0] == message(nobody).split("<")[0]


def test_a_password_typed_as_the_name_is_not_logged(station, caplog):
    caplog.set_level("INFO", logger="releasestation")
    assert log_in(station.client(), "Tr0ub4dor&3-secret", "x").status_code == 401
    assert log_in(station.client(), "alice", "not-her-password").status_code == 401
    assert "Tr0ub4dor" not in caplog.text
    assert "failed login of a user name the directory does not know" in caplog.text
    assert "failed login of 'alice' from" in caplog.text, "a known name is worth logging"


def test_a_password_typed_as_the_name_is_not_in_the_lockout(station, caplog):
    caplog.set_level("INFO", logger="releasestation")
    for attempt in range(5):  # login_user_failures = 5
        client = station.client(f"198.51.100.{attempt}")
        assert log_in(client, "Tr0ub4dor&3-secret", "x").status_code == 401
    [lock] = [r for r in audit_rows(station.app, "lockout") if r["method"] == "web"]
    assert lock["outcome"] == "web-user-locked" and lock["username"] is None
    assert "a user name the directory does not know" in lock["detail"]
    assert "Tr0ub4dor" not in caplog.text and "Tr0ub4dor" not in str(lock)


def test_a_login_flood_is_throttled_per_user_and_per_address(station):
    app = station.app
    for attempt in range(5):  # login_user_failures = 5
        address = f"198.51.100.{attempt}"
        assert log_in(station.client(address), "alice", f"guess-{attempt}").status_code == 401
    throttled = log_in(station.client("198.51.100.99"), "alice", PASSWORDS["alice"])
    assert throttled.status_code == 429, "even her own password waits now"
    assert FAILED in throttled.get_data(as_text=True), "one message for any failure"
    assert log_in(station.client(), "bob", PASSWORDS["bob"]).status_code == 303
    locks = [r for r in audit_rows(app, "lockout") if r["method"] == "web"]
    assert [(r["outcome"], r["username"]) for r in locks] == [("web-user-locked", "alice")]
    # One address trying many names is stopped too (login_address_failures = 20).
    flood = station.client("203.0.113.7")
    for attempt in range(20):
        assert log_in(flood, f"name-{attempt}", "x-password").status_code == 401
    assert log_in(flood, "bob", PASSWORDS["bob"]).status_code == 429
    # A portal flood never locks the readers' PIN pads.
    assert Lockouts(app.store, app.audit).refusal("lobby", "door") is None


def test_logins_at_once_cannot_outrun_the_throttle(station):
    """Twelve wrong passwords for alice sent at the same moment from twelve addresses:
    each login is counted before the directory checks it, so exactly five
    (login_user_failures) reach the directory and the other seven wait, 429. Counted
    after the check, as before, all twelve were checked while none had been counted."""
    clients = [station.client(f"198.51.100.{n}") for n in range(12)]
    forms = [
        {"username": "alice", "password": f"guess-{n}", "csrf_token": csrf_of(c.get("/login").data)}
        for n, c in enumerate(clients)
    ]
    start = threading.Barrier(len(clients))
    answers: list[int] = []

    def guess(client, form) -> None:
        start.wait()
        answers.append(client.post("/login", data=form).status_code)

    threads = [
        threading.Thread(target=guess, args=pair) for pair in zip(clients, forms, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == [401] * 5 + [429] * 7
    locks = [r for r in audit_rows(station.app, "lockout") if r["method"] == "web"]
    assert [(r["outcome"], r["username"]) for r in locks] == [("web-user-locked", "alice")]
    assert log_in(station.client(), "alice", PASSWORDS["alice"]).status_code == 429


def test_a_right_password_gives_its_place_back(station):
    for attempt in range(4):  # one short of login_user_failures = 5
        assert log_in(station.client(), "alice", f"guess-{attempt}").status_code == 401
    for _ in range(3):
        assert log_in(station.client(), "alice", PASSWORDS["alice"]).status_code == 303
    assert log_in(station.client(), "alice", "guess-4").status_code == 401
    assert log_in(station.client(), "alice", PASSWORDS["alice"]).status_code == 429


def test_throttling_is_shared_between_stations(portal):
    first = portal()
    for attempt in range(5):
        log_in(first.client(), "bob", f"guess-{attempt}")
    parts = web_parts(first.app)  # a second portal on the same store
    second = create_app(parts, first.app.config.web).test_client()
    assert log_in(second, "bob", PASSWORDS["bob"]).status_code == 429


def test_the_session_cookie_is_httponly_lax_and_expires_when_idle(station):
    client = station.client()
    answer = log_in(client, "alice", PASSWORDS["alice"])
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    with client.session_transaction() as session:
        session["seen"] = time.time() - 31 * 60  # idle_minutes = 30
    assert client.get("/jobs").status_code == 302
    assert b"without activity" in client.get("/login").data


def test_the_cookie_is_secure_under_tls_and_the_key_file_is_private(portal, tmp_path):
    (tmp_path / "cert.pem").write_text("-")
    (tmp_path / "key.pem").write_text("-")
    tls = portal(web=f"cert_file = {tmp_path}/cert.pem\nkey_file = {tmp_path}/key.pem\n")
    client = tls.client()
    answer = log_in(client, "alice", PASSWORDS["alice"])
    assert "Secure" in answer.headers["Set-Cookie"]
    key = tmp_path / "web-secret"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


# -- my jobs ----------------------------------------------------------------------------
def test_my_jobs_are_mine_in_every_name_form(portal, cups_clean):
    station = portal(station="owner_domains = CORP\n")
    mine = [cups_clean.submit("alice", "Report"), cups_clean.submit("CORP\\alice", "Pass")]
    cups_clean.submit("bob", "Payslip")
    client = station.login("alice")
    jobs = api_jobs(client)
    assert [j["id"] for j in jobs] == mine
    assert set(jobs[0]) == {"id", "title", "pages", "queue", "submitted", "expires"}
    assert jobs[0]["title"] == "Report" and jobs[0]["queue"] == "Secure"
    assert jobs[0]["submitted"].endswith("Z") and jobs[0]["expires"] > jobs[0]["submitted"]
    page = client.get("/jobs").get_data(as_text=True)
    assert "Report" in page and "Pass" in page and "Payslip" not in page


def test_a_title_with_markup_is_shown_escaped(station, cups_clean):
    cups_clean.submit("alice", "<script>alert('owned')</script>")
    page = station.login("alice").get("/jobs").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page


def test_release_prints_the_job_and_is_audited_as_from_the_web(station, cups_clean):
    job = cups_clean.submit("alice", "Report")
    other = cups_clean.submit("alice", "Later")
    client = station.login("alice")
    answer = post_api(client, f"/api/v1/jobs/{job}/release")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["released"]["id"] == job
    printed = cups_clean.wait_printed(1)
    assert [(p.job_id, p.user) for p in printed] == [(job, "alice")]
    assert [j["id"] for j in api_jobs(client)] == [other], "only the one asked for"
    rows = [r for r in audit_rows(station.app, "release") if r["job_id"] == job]
    assert [(r["outcome"], r["method"], r["username"]) for r in rows] == [("ok", "web", "alice")]


def test_release_and_cancel_from_the_page(station, cups_clean):
    keep, drop = cups_clean.submit("alice", "Print me"), cups_clean.submit("alice", "Drop me")
    client = station.login("alice")
    token = csrf_of(client.get("/jobs").data)
    answer = client.post(f"/jobs/{keep}/release", data={"csrf_token": token})
    assert answer.status_code == 303
    answer = client.post(f"/jobs/{drop}/cancel", data={"csrf_token": token})
    assert answer.status_code == 303
    page = client.get("/jobs").get_data(as_text=True)
    assert "Released “Print me”" in page and "Cancelled “Drop me”" in page
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [keep]
    assert api_jobs(client) == []
    assert station.app.printq.job(drop) is None, "cancelled and purged"
    rows = [r for r in audit_rows(station.app, "cancel")]
    assert [(r["job_id"], r["method"], r["username"]) for r in rows] == [(drop, "web", "alice")]


def test_another_users_job_is_not_found(station, cups_clean):
    bobs = cups_clean.submit("bob", "Payslip")
    client = station.login("alice")
    token = token_of(client)
    for path in (f"/api/v1/jobs/{bobs}/release", f"/api/v1/jobs/{bobs}/cancel"):
        answer = client.post(path, headers={"X-CSRFToken": token})
        assert answer.status_code == 404 and "error" in answer.get_json()
    assert client.post(f"/jobs/{bobs}/release", data={"csrf_token": token}).status_code == 404
    assert post_api(client, "/api/v1/jobs/999999/release").status_code == 404
    assert [j.id for j in station.app.printq.held_jobs(("Secure",))] == [bobs]
    assert cups_clean.printed() == []


def test_release_is_refused_with_the_reason_when_the_printer_is_stopped(station, cups_clean):
    job = cups_clean.submit("alice", "Report")
    cups_clean.stop_printer("Secure", reason="paper jam")
    client = station.login("alice")
    answer = post_api(client, f"/api/v1/jobs/{job}/release")
    assert answer.status_code == 409
    assert "paper jam" in answer.get_json()["error"]
    assert [j["id"] for j in api_jobs(client)] == [job], "still held"
    denied = audit_rows(station.app, "deny")
    assert [(r["outcome"], r["method"]) for r in denied] == [("printer-error", "web")]


def test_a_release_whose_answer_never_comes_says_it_may_print(portal, cups_clean, proxy):
    """Proves the portal tells the truth when cupsd carried out a release whose answer
    never came and cannot be asked about it either: a 502 that says the job may print (not
    "printed, cancelled or expired meanwhile", not a success), no audit row yet, and the
    job is settled "ok" once, from what cupsd says, as soon as it answers again. Fails on
    another status or wording, an early audit row, or a second "ok"."""
    station = portal(cups=f"server = {proxy.path}\ntimeout_seconds = 1\n")
    job = cups_clean.submit("alice", "Report")
    later = cups_clean.submit("alice", "Later")
    client = station.login("alice")
    proxy.stall, proxy.then_all = "answer-close", True
    answer = post_api(client, f"/api/v1/jobs/{job}/release")
    assert answer.status_code == 502, answer.get_data(as_text=True)
    assert "it may print" in answer.get_json()["error"]
    assert [r for r in audit_rows(station.app, "release") if r["job_id"] == job] == []
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]  # cupsd did it
    proxy.stall, proxy.then_all = None, False
    proxy.drop()  # cupsd answers again: the next release settles the one in doubt first
    assert post_api(client, f"/api/v1/jobs/{later}/release").status_code == 200
    rows = audit_rows(station.app, "release")
    assert sorted((r["job_id"], r["outcome"]) for r in rows) == [(job, "ok"), (later, "ok")]


def test_web_release_off_hides_and_refuses_release(portal, cups_clean):
    station = portal(web="web_release = no\n")
    job = cups_clean.submit("alice", "Report")
    client = station.login("alice")
    page = client.get("/jobs").get_data(as_text=True)
    assert "Report" in page and f"/jobs/{job}/release" not in page
    assert post_api(client, f"/api/v1/jobs/{job}/release").status_code == 403
    assert post_api(client, f"/api/v1/jobs/{job}/cancel").status_code == 200


# -- CSRF, limits -----------------------------------------------------------------------
def test_a_request_without_its_csrf_token_is_refused(station, cups_clean):
    job = cups_clean.submit("alice", "Report")
    client = station.login("alice")
    assert post_api(client, f"/api/v1/jobs/{job}/release", token=None).status_code == 400
    assert post_api(client, f"/api/v1/jobs/{job}/cancel", token="forged").status_code == 400
    assert client.post(f"/jobs/{job}/release", data={}).status_code == 400
    answer = client.post("/upload", data={"document": (io.BytesIO(b"%PDF-1.4"), "a.pdf")})
    assert answer.status_code == 400 and b"security token" in answer.data
    other = station.client()
    form = {"username": "alice", "password": PASSWORDS["alice"]}
    assert other.post("/login", data=form).status_code == 400
    assert [j["id"] for j in api_jobs(client)] == [job], "nothing happened"


def test_an_upload_over_the_limit_is_refused_with_413(portal, cups_clean):
    station = portal(web="max_upload_mb = 1\n")
    client = station.login("alice")
    token = token_of(client)
    big = b"%PDF-1.4\n" + b"0" * (2 * 1024 * 1024)
    answer = client.post(
        "/upload", data={"document": (io.BytesIO(big), "big.pdf"), "csrf_token": token},
        headers={"Accept": "application/json"},
    )  # fmt: skip
    assert answer.status_code == 413
    assert answer.get_json()["error"] == "The document is larger than the 1 MB this station takes."
    assert api_jobs(client) == []


# -- status and admin -------------------------------------------------------------------
def test_status_shows_printers_and_readers(portal, cups_clean):
    terminal = "type = papercut\nhost = 127.0.0.1\nport = 9\n"
    station = portal(monitoring="listen =\n", **{"reader:door": terminal})
    cups_clean.submit("bob", "Payslip")
    cups_clean.stop_printer("Secure2", reason="out of toner")
    status = station.client().get("/api/v1/status").get_json()
    printers = {p["name"]: p for p in status["printers"]}
    assert set(printers) == {"Secure", "Secure2"}
    assert printers["Secure"]["problem"] is None and printers["Secure"]["waiting"] == 1
    assert printers["Secure2"]["state"] == "stopped"
    assert "out of toner" in printers["Secure2"]["problem"]
    assert status["readers"] == [
        {"name": "door", "type": "papercut", "enabled": True, "connection": None,
         "last_read": None}
    ]  # fmt: skip
    page = station.client().get("/status").get_data(as_text=True)
    assert "out of toner" in page and "door" in page


class Metrics(BaseHTTPRequestHandler):
    """The daemon's /metrics as a peer on loopback: reader door connected, desk not."""

    def do_GET(self) -> None:
        body = (
            b"# TYPE releasestation_reader_connected gauge\n"
            b'releasestation_reader_connected{reader="door"} 1.0\n'
            b'releasestation_reader_connected{reader="desk"} 0.0\n'
        )
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


def test_status_says_whether_readers_are_connected_as_the_daemon_says(portal, cups_clean):
    daemon = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=daemon.serve_forever, daemon=True).start()
    terminal = "type = papercut\nhost = 127.0.0.1\nport = 9\n"
    readers = {f"reader:{name}": terminal for name in ("door", "desk")}
    try:
        station = portal(monitoring=f"listen = 127.0.0.1:{daemon.server_port}\n", **readers)
        status = station.client().get("/api/v1/status").get_json()
    finally:
        daemon.shutdown()
        daemon.server_close()
    found = {r["name"]: r["connection"] for r in status["readers"]}
    assert found == {"door": "connected", "desk": "not connected"}


def test_status_may_be_for_logged_in_users_only(portal):
    station = portal(web="status_public = no\n")
    assert station.client().get("/api/v1/status").status_code == 401
    assert station.client().get("/status").status_code == 302
    assert station.login("bob").get("/api/v1/status").status_code == 200


def test_admins_see_every_held_job_with_its_owner(station, cups_clean):
    cups_clean.submit("alice", "Report")
    cups_clean.submit("bob", "Payslip")
    assert station.login("alice").get("/admin").status_code == 403
    admin = station.login("carol")
    jobs = admin.get("/api/v1/admin/jobs").get_json()
    assert [(j["owner"], j["title"]) for j in jobs] == [("alice", "Report"), ("bob", "Payslip")]
    page = admin.get("/admin").get_data(as_text=True)
    assert "Payslip" in page and "bob" in page


def test_pages_carry_security_headers(station):
    answer = station.client().get("/login")
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "no-store"


# -- sending a document -----------------------------------------------------------------
def png_header(width: int, height: int) -> bytes:
    """A PNG of one compressed row's worth of data whose header claims `width` x `height`:
    a few bytes that a print filter would decode into gigabytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = lambda kind, body: (  # noqa: E731
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    )
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def upload(client, data: bytes, name: str = "report.pdf", **fields: str):
    form = {"document": (io.BytesIO(data), name), "csrf_token": token_of(client), **fields}
    return client.post("/upload", data=form, headers={"Accept": "application/json"})


def test_an_uploaded_pdf_is_held_as_the_users_job_with_its_pages(station, cups_clean):
    client = station.login("alice")
    answer = upload(client, pdf(3), "Quarterly report.pdf", copies="2", sides="two-sided-long-edge")
    assert answer.status_code == 201, answer.get_data(as_text=True)
    sent = answer.get_json()
    assert (sent["title"], sent["pages"], sent["queue"]) == ("Quarterly report.pdf", 3, "Secure")
    held = station.app.printq.held_jobs(("Secure",))
    assert [(j.id, j.owner, j.title) for j in held] == [
        (sent["id"], "alice", "Quarterly report.pdf")
    ]
    assert [(j["id"], j["pages"]) for j in api_jobs(client)] == [(sent["id"], 3)]
    assert api_jobs(station.login("bob")) == [], "bob sees none of alice's jobs"
    rows = audit_rows(station.app, "submit")
    assert [(r["job_id"], r["method"], r["username"], r["pages"]) for r in rows] == [
        (sent["id"], "web", "alice", 3)
    ]
    assert post_api(client, f"/api/v1/jobs/{sent['id']}/release").status_code == 200
    (printed,) = cups_clean.wait_printed(1)
    assert printed.data.startswith(b"%PDF-") and printed.copies == 2


def test_the_upload_form_sends_and_comes_back_to_my_jobs(station, cups_clean):
    client = station.login("alice")
    token = csrf_of(client.get("/jobs").data)
    form = {"document": (io.BytesIO(pdf(2)), "Slides.pdf"), "csrf_token": token}
    answer = client.post("/upload", data=form)
    assert answer.status_code == 303
    page = client.get("/jobs").get_data(as_text=True)
    assert "“Slides.pdf” (2 pages) is held" in page
    assert '<dd class="pages">2</dd>' in page


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"MZ\x90\x00 not a document at all", "not a PDF, PNG, JPEG or PostScript document"),
        (b"%PDF-1.7\n" + b"\x00garbage" * 100, "damaged"),
        (png_header(60_000, 60_000), "60000 x 60000 pixels"),
    ],
    ids=["not-a-pdf", "broken-pdf", "image-bomb"],
)
def test_what_is_not_a_printable_document_is_refused_with_the_reason(
    station, cups_clean, data, reason
):
    client = station.login("alice")
    answer = upload(client, data, "invoice.pdf")
    assert answer.status_code == 422
    assert reason in answer.get_json()["error"]
    assert station.app.printq.held_jobs(("Secure",)) == [], "nothing submitted"


def test_an_encrypted_pdf_is_refused(station, cups_clean):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(1))))
    writer.encrypt("sesame")
    out = io.BytesIO()
    writer.write(out)
    answer = upload(station.login("alice"), out.getvalue())
    assert answer.status_code == 422 and "encrypted" in answer.get_json()["error"]
    assert station.app.printq.held_jobs(("Secure",)) == []


def test_bad_options_are_refused_before_anything_is_checked(station, cups_clean):
    client = station.login("alice")
    assert upload(client, pdf(1), copies="0").status_code == 400
    assert upload(client, pdf(1), copies="many").status_code == 400
    assert upload(client, pdf(1), sides="three-sided").status_code == 400
    assert station.app.printq.held_jobs(("Secure",)) == []


# -- the directory ----------------------------------------------------------------------
DANA_PASSWORD = "Dir-Secret 4 web"


@pytest.fixture(scope="module")
def dana(slapd) -> str:
    """A directory user with a password (the session's slapd: added once)."""
    return slapd.add_user("web-dana", password=DANA_PASSWORD, mail="web-dana@example.org")


def test_a_directory_user_logs_in_with_the_directory_password(
    portal, slapd, dana, tmp_path, cups_clean
):
    station = portal(directory=ldap_section(slapd, tmp_path))
    job = cups_clean.submit("web-dana", "Minutes")
    assert log_in(station.client(), "web-dana", DANA_PASSWORD + "x").status_code == 401
    client = station.client()
    assert log_in(client, "web-dana", DANA_PASSWORD).status_code == 303
    assert [j["id"] for j in api_jobs(client)] == [job]
    assert post_api(client, f"/api/v1/jobs/{job}/release").status_code == 200
    assert [(p.job_id, p.user) for p in cups_clean.wait_printed(1)] == [(job, "web-dana")]


def test_the_portal_counts_logins_and_uploads_for_loopback_scrapers(station, cups_clean):
    client = station.client()
    assert log_in(client, "alice", "not-her-password").status_code == 401
    client = station.login("alice")
    assert upload(client, pdf(1)).status_code == 201
    assert upload(client, b"<html>not a PDF</html>", "fake.pdf").status_code == 422
    scraper = station.client(address="127.0.0.1")
    text = scraper.get("/metrics").get_data(as_text=True)
    assert 'releasestation_web_logins_total{outcome="failed"} 1.0' in text
    assert 'releasestation_web_logins_total{outcome="ok"} 1.0' in text
    assert 'releasestation_web_uploads_total{outcome="held"} 1.0' in text
    assert 'releasestation_web_uploads_total{outcome="refused"} 1.0' in text
    assert "alice" not in text and "fake.pdf" not in text
    assert client.get("/metrics").status_code == 404  # from 192.0.2.10: not a loopback client
