# SPDX-License-Identifier: GPL-3.0-or-later
"""Monitoring against the real daemon: a real TCP terminal, cupsd, the store and SMTP.

/metrics counts swipes, denials and lockouts; reader_connected follows the terminal;
/readyz names cupsd while it is stopped; one alert mail after alert_after_seconds and one
recovery mail, nothing in between.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from bench.servers.terminal import Terminal
from releasestation.daemon import Station, build_station
from releasestation.demo.private_cups import PrivateCups
from releasestation.monitoring.server import MonitorServer
from releasestation.monitoring.status import gather
from tests.fixtures.station import add_user, ldap_section
from tests.waiting import wait_for

CARD = "0012345678"


class PortTerminal(Terminal):
    """A terminal on a given port (the one a closed terminal had)."""

    def __init__(self, port: int):
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = port
        self.conn = None
        self.accepted = 0
        self.received = bytearray()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()


def hang_up(terminal: Terminal) -> int:
    """Close the terminal for good (its listener too, waking its accept); its port."""
    terminal.listener.shutdown(socket.SHUT_RDWR)
    terminal.close()
    return terminal.port


def reader(terminal: Terminal) -> dict[str, str]:
    return {
        "reader:desk": f"type = papercut\nhost = 127.0.0.1\nport = {terminal.port}\n"
        "min_backoff_seconds = 0.02\nmax_backoff_seconds = 0.1\n"
    }


class Running:
    def __init__(self, app):
        self.app = app
        self.outcomes: queue.Queue = queue.Queue()
        self.station: Station = build_station(app)
        self.station.listeners.append(lambda swipe, outcome: self.outcomes.put(outcome))
        self.station.start()

    @property
    def base(self) -> str:
        server = next(s for s in self.station.services if isinstance(s, MonitorServer))
        return f"http://127.0.0.1:{server.port}"

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def metric(self, name: str) -> float | None:
        """The value of the sample `name` (labels in the order the exposition writes)."""
        for line in self.get("/metrics")[1].splitlines():
            if line.rsplit(" ", 1)[0] == name:
                return float(line.rsplit(" ", 1)[1])
        return None


@pytest.fixture
def start(make_app):
    running: list[Running] = []

    def make(**sections: str) -> Running:
        monitoring = "check_cache_seconds = 0\n" + sections.pop("monitoring", "")
        run = Running(make_app(monitoring=monitoring, **sections))
        running.append(run)
        return run

    yield make
    for run in running:
        run.station.stop()


def test_swipes_denials_and_lockouts_are_counted(start, terminal, cups_clean):
    run = start(**reader(terminal))
    add_user(run.app, "alice", CARD)
    terminal.wait_connections(1)
    wait_for(lambda: run.metric('releasestation_reader_connected{reader="desk"}') == 1)
    cups_clean.submit("alice", "report", queue="Secure")
    terminal.swipe(CARD)
    assert run.outcomes.get(timeout=10) == "released"
    for i in range(5):  # unknown PINs: the fifth locks the reader
        terminal.swipe(f"12345{i}")
        assert run.outcomes.get(timeout=10) == "denied"
    m = run.metric
    assert m('releasestation_swipes_total{outcome="released",reader="desk"}') == 1
    assert m('releasestation_swipes_total{outcome="denied",reader="desk"}') == 5
    assert m("releasestation_jobs_released_total") == 1
    assert m('releasestation_denials_total{reason="unknown"}') == 5
    assert m("releasestation_lockouts_total") == 1
    assert m("releasestation_release_duration_seconds_count") == 1
    assert m('releasestation_reader_last_event_timestamp_seconds{reader="desk"}') > 0
    assert m("releasestation_cupsd_up") == 1 and m("releasestation_store_up") == 1
    assert m('releasestation_printer_accepting_jobs{printer="Secure"}') == 1
    text = run.get("/metrics")[1]
    assert "alice" not in text and CARD not in text and "report" not in text
    assert 'releasestation_build_info{version="' in text
    terminal.swipe("999999")  # the reader is locked now
    assert run.outcomes.get(timeout=10) == "denied"
    assert m('releasestation_denials_total{reason="locked"}') == 1


def test_reader_connected_follows_the_terminal(start, terminal):
    run = start(**reader(terminal))
    connected = 'releasestation_reader_connected{reader="desk"}'
    terminal.wait_connections(1)
    assert wait_for(lambda: run.metric(connected) == 1)
    port = hang_up(terminal)
    assert wait_for(lambda: run.metric(connected) == 0, timeout=5)
    status, body = run.get("/readyz")
    assert status == 503 and "readers: 0 of 1 connected" in body
    back = PortTerminal(port)
    try:
        back.wait_connections(1)
        assert wait_for(lambda: run.metric(connected) == 1, timeout=5)
        assert run.get("/readyz")[0] == 200
    finally:
        back.close()


def test_readyz_names_cupsd_while_it_is_stopped(start, terminal, tmp_path):
    with PrivateCups(root=tmp_path / "cups") as cups:
        for name in ("Secure", "Secure2"):
            cups.add_hold_queue(name)
        run = start(cups=f"server = {cups.socket}\n", **reader(terminal))
        terminal.wait_connections(1)
        assert wait_for(lambda: run.get("/readyz")[0] == 200, timeout=5)
        assert run.get("/livez") == (200, "ok\n")
        cups.stop()
        status, body = run.get("/readyz")
        assert status == 503 and body.startswith("cupsd: ") and "store" not in body
        assert run.metric("releasestation_cupsd_up") == 0
        verbose = run.get("/readyz?verbose")[1]
        assert "store: ok" in verbose and "cupsd: FAIL" in verbose and "reader desk: ok" in verbose
        assert run.get("/livez")[0] == 200, "a stopped cupsd does not make the daemon dead"
        cups.start()
        assert wait_for(lambda: run.get("/readyz") == (200, "ok\n"), timeout=10)


def test_one_alert_mail_and_one_recovery_mail(start, terminal, smtp):
    monitoring = (
        "alert_to = admin@example.org\nalert_after_seconds = 0.5\ncheck_every_seconds = 0.1\n"
    )
    start(monitoring=monitoring, credgen=smtp.ini(), **reader(terminal))
    terminal.wait_connections(1)
    time.sleep(1.0)
    assert smtp.messages == [], "nothing is wrong yet"
    port = hang_up(terminal)
    mails = wait_for(lambda: smtp.to("admin@example.org"), timeout=10)
    assert len(mails) == 1 and "PROBLEM" in mails[0].message["Subject"]
    assert "reader desk" in mails[0].message["Subject"]
    time.sleep(1.5)  # still broken: no second mail
    assert len(smtp.messages) == 1
    back = PortTerminal(port)
    try:
        back.wait_connections(1)
        assert wait_for(lambda: len(smtp.messages) == 2, timeout=10)
        recovered = smtp.messages[1]
        assert "RECOVERED" in recovered.message["Subject"] and "reader desk" in recovered.text()
        time.sleep(1.0)
        assert len(smtp.messages) == 2
    finally:
        back.close()


def status(run: Running, base: str) -> tuple[int, str]:
    """What `releasestation status --daemon BASE` prints, and its exit code."""
    report = gather(run.app, timeout=5, daemon=base)
    return report.code, "\n".join(report.lines)


def test_status_for_a_good_and_a_broken_station(start, terminal, tmp_path):
    with PrivateCups(root=tmp_path / "cups") as cups:
        for name in ("Secure", "Secure2"):
            cups.add_hold_queue(name)
        run = start(cups=f"server = {cups.socket}\n", **reader(terminal))
        terminal.wait_connections(1)
        wait_for(lambda: run.metric('releasestation_reader_connected{reader="desk"}') == 1)
        cups.submit("alice", "report", queue="Secure")
        base = run.base
        code, shown = status(run, base)
        assert code == 0, shown
        assert "ok    desk: connected; last card read never" in shown
        assert "ok    Secure: 1 held" in shown and "audit chain: intact" in shown
        assert "ok    cupsd: answers" in shown
        hang_up(terminal)
        wait_for(lambda: run.metric('releasestation_reader_connected{reader="desk"}') == 0)
        code, shown = status(run, base)
        assert code == 1 and "FAIL  desk: NOT connected" in shown
        cups.stop()
        code, shown = status(run, base)
        assert code == 3 and "FAIL  cupsd: " in shown
        assert "FAIL  not known: cupsd cannot be reached" in shown.split("printers", 1)[1]
    run.station.stop()
    code, shown = status(run, base)
    assert code == 3 and "daemon at http://127.0.0.1:" in shown and "not reachable" in shown


def test_stuck_jobs_are_listed_and_cancelled_with_an_audit_row(make_app, tmp_path):
    from releasestation.cli import main
    from tests.fixtures.station import station_ini

    with PrivateCups(root=tmp_path / "cups") as cups:
        cups.add_hold_queue("Secure")
        cups.add_hold_queue("Secure2", discard=True, print_seconds=30)  # slow: stuck soon
        app = make_app(cups=f"server = {cups.socket}\n", monitoring="stuck_after_seconds = 1\n")
        job = cups.submit("alice", "slow", queue="Secure2")
        app.printq.release(app.printq.job(job))  # type: ignore[arg-type]
        assert wait_for(lambda: app.probe.snapshot(fresh=True).stuck, timeout=10)
        path = tmp_path / "station.ini"
        db = app.config.database.url
        path.write_text(station_ini(db, tmp_path, cups, monitoring="stuck_after_seconds = 1\n"))
        assert main(["-c", str(path), "jobs", "--stuck"]) == 0
        assert main(["-c", str(path), "jobs", "--cancel", str(job)]) == 0
        assert not app.probe.snapshot(fresh=True).stuck
        with app.store.read() as session:
            from sqlalchemy import text

            rows = session.execute(
                text("SELECT event, method, job_id FROM audit WHERE event = 'cancel'")
            ).all()
        assert [tuple(r) for r in rows] == [("cancel", "admin", job)]


def self_signed(root) -> tuple[str, str, float]:
    """A certificate and key for the portal, valid for 30 days; (cert, key, notAfter)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "station")])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = root / "portal.crt", root / "portal.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return str(cert_file), str(key_file), (now + dt.timedelta(days=30)).timestamp()


def test_housekeeping_backup_and_certificate_are_metrics(start, terminal, tmp_path):
    from releasestation.backup.rotation import record

    cert, key, not_after = self_signed(tmp_path)
    state = tmp_path / "backup-state.json"
    run = start(
        backup=f"state_file = {state}\n",
        web=f"cert_file = {cert}\nkey_file = {key}\n",
        **reader(terminal),
    )
    wait_for(lambda: run.metric("releasestation_expiry_last_run_timestamp_seconds") is not None)
    assert time.time() - run.metric("releasestation_expiry_last_run_timestamp_seconds") < 60
    assert run.metric("releasestation_jobs_expired_total") == 0
    assert run.metric("releasestation_audit_chain_intact") == 1
    assert run.metric("releasestation_audit_chain_verify_timestamp_seconds") is not None
    assert run.metric("releasestation_backup_last_success_timestamp_seconds") == 0
    record(str(state), "last_success", {"at": "2026-12-01T02:00:00+00:00"})
    assert run.metric("releasestation_backup_last_success_timestamp_seconds") == 1796090400.0
    assert run.metric("releasestation_tls_certificate_expiry_timestamp_seconds") == not_after
    _, shown = status(run, run.base)
    (line,) = [x for x in shown.splitlines() if "last expiry run:" in x]
    assert line.startswith("ok") and "never" not in line


def test_the_last_credgen_batch_is_a_metric_and_in_status(start, terminal, smtp):
    from credgen.batch import run_batch

    run = start(credgen=smtp.ini() + "email_from = print@example.org\n", **reader(terminal))
    assert run.metric("releasestation_credgen_last_run_timestamp_seconds") is None
    _, shown = status(run, run.base)
    assert "last credgen batch: none recorded" in shown
    add_user(run.app, "alice")
    add_user(run.app, "bob")
    assert run_batch(run.app, dry_run=True).issued == 2
    assert run.metric("releasestation_credgen_last_run_timestamp_seconds") is None, "dry run"
    before = time.time()
    assert run_batch(run.app).ok
    ended = run.metric("releasestation_credgen_last_run_timestamp_seconds")
    assert ended is not None and before - 1 <= ended <= time.time()
    assert run.metric('releasestation_credgen_last_run_issued_credentials{kind="pin"}') == 2
    assert run.metric('releasestation_credgen_last_run_issued_credentials{kind="cac"}') == 0
    assert run.metric("releasestation_credgen_last_run_failed_users") == 0
    assert run.metric("releasestation_credgen_last_run_ok") == 1
    _, shown = status(run, run.base)
    (line,) = [x for x in shown.splitlines() if "last credgen batch:" in x]
    assert line.startswith("ok") and "issued 2 pin" in line


def test_jobs_expired_are_counted_by_housekeeping(make_app, cups_clean):
    import datetime as dt

    from releasestation.monitoring.records import Records
    from releasestation.store.models import utcnow

    app = make_app()
    cups_clean.submit("bob", "forgotten")
    later = app.housekeeping(lambda: utcnow() + dt.timedelta(hours=9))
    later.step()
    assert later.rounds.expired == 1 and later.rounds.verify_ok is True
    samples = {m.name: m.samples[0].value for m in Records(lambda: later.rounds).collect()}
    assert samples["releasestation_jobs_expired"] == 1
    assert samples["releasestation_expiry_last_run_timestamp_seconds"] > time.time()


def test_the_newest_audit_rows_are_verified(store):
    from sqlalchemy import text

    from releasestation.audit import Audit, Event, verify_newest

    audit = Audit(store, "north")
    audit.record(*(Event("release", username=f"u{i}", job_id=i, pages=1) for i in range(30)))
    assert verify_newest(store, 10) == (10, None, "chain intact")
    with store.write() as session:
        last = session.execute(text("SELECT max(id) FROM audit")).scalar()
        session.execute(text("UPDATE audit SET pages = 9 WHERE id = :i"), {"i": last - 3})
    assert verify_newest(store, 10)[1:] == (last - 3, "row was altered")
    with store.write() as session:
        session.execute(text("DELETE FROM audit WHERE id = :i"), {"i": last - 3})
    assert verify_newest(store, 10)[1:] == (last - 2, "a row before it was removed or altered")
    assert verify_newest(store, 2) == (2, None, "chain intact")  # older rows are not looked at


def test_directory_requests_are_timed(start, terminal, slapd, tmp_path):
    dn = slapd.add_user("metrics-dora", cards=["0077001234"])
    try:
        run = start(directory=ldap_section(slapd, tmp_path), **reader(terminal))
        terminal.wait_connections(1)
        terminal.swipe("0077001234")  # a card only the directory knows
        assert run.outcomes.get(timeout=10) == "no-jobs"
        name = "releasestation_directory_request_duration_seconds"
        assert run.metric(f'{name}_count{{operation="user_by_card"}}') == 1
        assert 0 < run.metric(f'{name}_sum{{operation="user_by_card"}}') < 10
        assert "metrics-dora" not in run.get("/metrics")[1]
    finally:
        slapd.delete(dn)


def test_mailprint_losing_its_mailbox_is_a_metric_an_alert_and_in_status(start, terminal, dovecot):
    """mailprint records what it sees of its mailbox in the store; the daemon of the same
    station shows it: /metrics, the alert conditions, /readyz?verbose and status. A
    mailbox that stops answering is seen at once, its return too; a service stopped on
    purpose is no problem; one not heard from for longer than it waits is."""
    from releasestation.mailprint.heartbeat import SERVICE, Heartbeat, key_of, last, record
    from releasestation.monitoring.alerts import conditions
    from releasestation.store.models import SiteSetting

    run = start(mailprint=dovecot.ini(poll_seconds=300), **reader(terminal))
    up = "releasestation_mailprint_up"
    assert run.metric(up) is None, "nothing recorded yet"
    assert "mailprint: nothing recorded for this station" in status(run, run.base)[1]

    service = run.app.mailprint()
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: run.metric(up) == 1, timeout=10)
        answered = run.metric("releasestation_mailprint_last_answer_timestamp_seconds")
        assert answered is not None and answered <= time.time()
        assert "mailprint: ok" in run.get("/readyz?verbose")[1]
        assert run.get("/readyz")[0] == 200

        dovecot.halt()
        assert wait_for(lambda: run.metric(up) == 0, timeout=10)
        line = conditions(run.app.probe, [])["mailprint"]
        assert "the mailbox does not answer since" in line and dovecot.host in line
        assert run.get("/readyz")[0] == 200, "the station still releases jobs"
        code, shown = status(run, run.base)
        [mail_line] = [x for x in shown.splitlines() if "mailprint (service)" in x]
        assert code == 1 and mail_line.startswith("FAIL") and "does not answer" in mail_line

        dovecot.start()  # tried again after 1, 2, 4, 8... seconds
        assert wait_for(lambda: run.metric(up) == 1, timeout=90)
        assert "mailprint" not in conditions(run.app.probe, [])
    finally:
        service.stop()
        thread.join(15)
    assert "mailprint (stopped): ok" in status(run, run.base)[1], "stopped on purpose"

    crashing = run.app.mailprint()  # a mistake of ours, not the mailbox's: it must show
    crashing.open_mailbox = lambda: (_ for _ in ()).throw(TypeError("a bug"))
    with pytest.raises(TypeError):
        crashing.run()
    assert run.metric(up) == 0
    assert "stopped on an error at" in conditions(run.app.probe, [])["mailprint"]
    assert "TypeError: a bug" in conditions(run.app.probe, [])["mailprint"]

    station, now = run.app.config.station.name, time.time()
    record(run.app.store, station, Heartbeat(now - 5000, SERVICE, True, now - 5000, wait=660))
    assert run.metric(up) == 0
    assert "not heard from since" in conditions(run.app.probe, [])["mailprint"]
    long_error = 'IMAP server "x\\y": ' + "é" * 400  # escaped and wide: still one row
    record(run.app.store, station, Heartbeat(now, SERVICE, False, None, now, long_error, 660))
    kept = last(run.app.store, station)
    assert kept is not None and not kept.ok and kept.error.startswith('IMAP server "x\\y": é')
    with run.app.store.read() as session:
        assert len(session.get(SiteSetting, key_of(station)).value) <= 256
    assert "does not answer" in conditions(run.app.probe, [])["mailprint"]


def test_mailprints_record_is_written_when_it_matters_and_a_bad_one_is_ignored(store):
    """Failing is recorded at once, answering again only after a whole round (a server
    that takes the login and fails every command would flip it twice a second), the same
    state once a minute; a record with impossible times is ignored, not a crash."""
    from releasestation.mailprint.heartbeat import Pulse, key_of, last
    from releasestation.store.models import SiteSetting

    written: list = []
    ticks = iter(range(0, 10_000, 1))
    pulse = Pulse(
        written.append, "service", 660.0, clock=lambda: 1.8e9, monotonic=lambda: next(ticks)
    )
    pulse.answered(round_done=True)
    pulse.failed("IMAP server x: MOVE refused")
    for _ in range(20):  # logged in, then the round's command fails: a second each
        pulse.answered()
        pulse.failed("IMAP server x: MOVE refused")
    assert [b.ok for b in written] == [True, False], "not a record a flip"
    pulse.answered(round_done=True)
    assert written[-1].ok and written[-1].since is None
    for _ in range(200):
        pulse.answered()
    assert len(written) == 3 + 3, "the same state: once a minute (a tick is a second here)"

    bad = ('{"at":1e400,"mode":"service","ok":true}', '{"at":NaN,"mode":"service","ok":true}',
           '{"at":1,"mode":"service","ok":false,"since":1e20}', "not json")  # fmt: skip
    for value in bad:
        with store.write() as session:
            row = session.get(SiteSetting, key_of("lobby"))
            if row is None:
                session.add(SiteSetting(key=key_of("lobby"), value=value))
            else:
                row.value = value
        assert last(store, "lobby") is None, value
