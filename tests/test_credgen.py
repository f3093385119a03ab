# SPDX-License-Identifier: GPL-3.0-or-later
"""credgen against a real SMTP server and the store (SQLite and PostgreSQL), local users.

What is mailed is what works: every PIN read from a captured mail is looked up again
through the station's Identity.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, insert, select, text

from credgen import run_batch, run_user
from credgen.cli import main as credgen_main
from readers import Swipe
from releasestation import config
from releasestation.credentials import records
from releasestation.credentials.codes import verify_password
from releasestation.credentials.models import Credential
from releasestation.credentials.one_user import warn_unusable_pins
from releasestation.errors import ConfigError
from releasestation.store import users as store_users
from releasestation.store.models import User as UserRow
from tests.fixtures.clock import T0, Clock
from tests.fixtures.station import station_ini


def add_users(app, *names: str, **fields) -> None:
    with app.store.write() as s:
        for name in names:
            email = fields.get("email", f"{name}@example.org")
            store_users.add_user(s, name, email=email)


def mailed(smtp, address: str, count: int = 1):
    got = smtp.to(address)
    assert len(got) == count, f"{address} got {len(got)} mails"
    return got[-1]


def pin_in(message) -> str:
    return re.search(r"PIN: (\d+)", message.text()).group(1)


def cac_in(message) -> str:
    return re.search(r"code: (\d+)", message.text()).group(1)


def pin_owner(app, pin: str, clock=None) -> str | None:
    ident = app.identity_with(clock=clock or Clock())
    result = ident.identify(Swipe(reader="door", value=pin, kind="pin"))
    return result.user.username if result.user else None


# -- mail ------------------------------------------------------------------------------
def test_batch_mails_each_user_a_pin_that_works(make_app, smtp, clock):
    app = make_app(credgen=smtp.ini() + "email_from = print@example.org\n")
    add_users(app, "alice", "bob")
    result = run_batch(app, clock=clock)
    assert result.ok and result.issued == 2 and result.kinds == {"pin": 2}
    message = mailed(smtp, "alice@example.org")
    assert message.mail_from == "print@example.org"
    assert message.message["Subject"] == "Your print release credentials"
    assert message.message["To"] == "alice@example.org"
    body = message.text()
    assert body.startswith("Hello alice,\n\nhere are your credentials")
    assert (
        "Card-assignment code" not in body and "Password" not in body and "valid until" not in body
    )
    assert pin_owner(app, pin_in(message)) == "alice"
    assert pin_owner(app, pin_in(mailed(smtp, "bob@example.org"))) == "bob"
    assert smtp.connections == 1, "one SMTP connection for the whole batch"
    with app.store.read() as s:
        rows = s.execute(text("SELECT event, outcome, method, username, detail FROM audit")).all()
    assert sorted(tuple(r) for r in rows) == [
        ("credential", "issued", "credgen", "alice", "pin"),
        ("credential", "issued", "credgen", "bob", "pin"),
    ]


def test_bodies_for_what_was_not_generated_are_left_out_and_html_is_escaped(make_app, smtp):
    app = make_app(
        credgen=smtp.ini()
        + "generate_puk = yes\ngenerate_password = yes\npassword_chars = <>&abcdefghijklmnop\n"
        "password_length = 64\n"
        "email_body_is_html = yes\nemail_encoding = iso-8859-1\npin_expiration_days = 10\n"
        "email_body = <p>Grüße, {3}</p>\nemail_body_0 = <p>PIN: {0}</p>\n"
        "email_body_1 = <p>code: {1}</p>\nemail_body_2 = <p>pw: {2}</p>\n"
        "email_body_3 = <p>until {4}</p>\nemail_body_4 = <p>plain footer</p>\n"
    )
    add_users(app, "alice")
    assert run_batch(app).ok
    captured = mailed(smtp, "alice@example.org")
    assert captured.message.get_content_type() == "text/html"
    assert captured.message.get_content_charset() == "iso-8859-1"
    body = captured.text()
    assert body.splitlines()[0] == "<p>Grüße, alice</p>"
    password = re.search(r"<p>pw: (.*)</p>", body).group(1)
    assert "<" not in password and ">" not in password, "values are escaped in HTML"
    assert "&lt;" in password or "&gt;" in password or "&amp;" in password
    assert re.search(r"<p>until \d{4}-\d\d-\d\d</p>", body)
    assert body.splitlines()[-1] == "<p>plain footer</p>"

    app2 = make_app(credgen=smtp.ini() + "email_body_3 = until {4}\nemail_body_4 = plain\n")
    add_users(app2, "bob")
    assert run_batch(app2).ok
    text_body = mailed(smtp, "bob@example.org").text()
    assert "until" not in text_body, "{4} left out: the PIN never expires"
    assert "code" not in text_body and "plain" in text_body


def test_a_refused_mail_rolls_that_user_back(make_app, refusing_smtp):
    app = make_app(credgen=refusing_smtp.ini())
    add_users(app, "alice", "bob")
    result = run_batch(app)
    assert not result.ok and not result.aborted
    assert sorted(u for u, _ in result.failed) == ["alice", "bob"]
    assert "550" in result.failed[0][1]
    with app.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 0
        failed = s.execute(text("SELECT outcome, username FROM audit")).all()
    assert sorted(tuple(r) for r in failed) == [("failed", "alice"), ("failed", "bob")]


def test_a_down_smtp_server_rolls_back_and_stops_the_batch(make_app, down_smtp):
    app = make_app(credgen=down_smtp.ini())
    add_users(app, "alice", "bob", "carol")
    result = run_batch(app)
    assert len(result.failed) == 1 and "2 users were not tried" in result.aborted
    with app.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 0


def test_the_cli_exits_non_zero_naming_who_failed(
    make_app, refusing_smtp, tmp_path, db_url, capsys
):
    app = make_app(credgen=refusing_smtp.ini())
    add_users(app, "alice")
    ini = tmp_path / "credgen.ini"
    ini.write_text(station_ini(db_url, tmp_path, credgen=refusing_smtp.ini()))
    assert credgen_main(["-c", str(ini), "batch"]) == 1
    out, err = capsys.readouterr()
    assert "FAILED alice: recipient refused" in out and "failed: alice" in err


def test_the_cli_exits_non_zero_when_the_smtp_server_is_down(make_app, down_smtp, tmp_path, db_url):
    app = make_app(credgen=down_smtp.ini())
    add_users(app, "alice")
    ini = tmp_path / "credgen.ini"
    ini.write_text(station_ini(db_url, tmp_path, credgen=down_smtp.ini()))
    assert credgen_main(["-c", str(ini), "user", "alice"]) == 1
    assert credgen_main(["-c", str(ini), "batch"]) == 1


def test_the_admin_gets_one_summary_of_failures(make_app, smtp):
    app = make_app(
        credgen=smtp.ini() + "admin_email = admin@example.org\nemail_errors = yes\n"
        "email_encoding = ascii\nemail_body = Grüße {3}\n"
    )
    add_users(app, "alice", "bob")
    add_users(app, "nomail", email="")
    result = run_batch(app)
    assert sorted(u for u, _ in result.failed) == ["alice", "bob"]
    assert result.skipped == {"no e-mail address": 1}
    summary = mailed(smtp, "admin@example.org").text()
    assert "alice: the message cannot be written in ascii" in summary and "bob: " in summary
    assert len(smtp.messages) == 1
    with app.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 0


# -- policies -----------------------------------------------------------------------------
def test_never_issues_only_to_users_without_a_pin(make_app, smtp, clock):
    app = make_app(credgen=smtp.ini())
    add_users(app, "alice")
    run_batch(app, clock=clock)
    first = pin_in(mailed(smtp, "alice@example.org"))
    add_users(app, "bob")
    second = run_batch(app, clock=clock)
    assert (second.issued, second.current) == (1, 1)
    assert len(smtp.to("alice@example.org")) == 1 and pin_owner(app, first) == "alice"


def test_always_replaces_the_pin(make_app, smtp, clock):
    app = make_app(credgen=smtp.ini() + "pin_rewrite = Always\n")
    add_users(app, "alice")
    run_batch(app, clock=clock)
    run_batch(app, clock=clock)
    old, new = (pin_in(m) for m in smtp.to("alice@example.org"))
    assert old != new and pin_owner(app, new) == "alice" and pin_owner(app, old) is None


def test_expired_replaces_only_expired_pins(make_app, smtp, clock):
    app = make_app(credgen=smtp.ini() + "pin_rewrite = Expired\npin_expiration_days = 30\n")
    add_users(app, "alice")
    run_batch(app, clock=clock)
    assert "valid until 2030-01-31" in mailed(smtp, "alice@example.org").text()
    clock.advance(29 * 86400)
    assert run_batch(app, clock=clock).issued == 0
    clock.advance(2 * 86400)
    assert run_batch(app, clock=clock).kinds == {"pin": 1}
    old, new = (pin_in(m) for m in smtp.to("alice@example.org"))
    assert old != new and pin_owner(app, new, clock) == "alice"


def test_extend_makes_an_expired_pin_valid_again_and_says_so(make_app, smtp, clock):
    app = make_app(credgen=smtp.ini() + "pin_rewrite = Extend\npin_expiration_days = 30\n")
    add_users(app, "alice")
    run_batch(app, clock=clock)
    pin = pin_in(mailed(smtp, "alice@example.org"))
    clock.advance(31 * 86400)
    assert pin_owner(app, pin, clock) is None, "expired"
    result = run_batch(app, clock=clock)
    assert result.kinds == {"pin-extended": 1}
    notice = mailed(smtp, "alice@example.org", 2).text()
    assert "PIN:" not in notice and "valid until 2030-03-03" in notice
    assert pin_owner(app, pin, clock) == "alice"
    with app.store.read() as s:
        assert s.scalars(text("SELECT outcome FROM audit ORDER BY id")).all()[-1] == "extended"


def test_cacs_come_with_new_pins_and_are_not_reissued_once_used(make_app, smtp, clock):
    app = make_app(credgen=smtp.ini() + "generate_puk = yes\npuk_expiration_days = 7\n")
    add_users(app, "alice")
    run_batch(app, clock=clock)
    code = cac_in(mailed(smtp, "alice@example.org"))
    assert len(code) == 8
    with app.store.write() as s:
        row = store_users.find_user(s, "alice")
        records.use_cac(s.get(Credential, row.id), clock())
    clock.advance(8 * 86400)
    assert run_batch(app, clock=clock).issued == 0, "a used code is not replaced"
    with app.store.write() as s:
        s.get(Credential, store_users.find_user(s, "alice").id).cac_used_at = None
    assert run_batch(app, clock=clock).kinds == {"cac": 1}, "an expired unused one is"
    assert "PIN" not in mailed(smtp, "alice@example.org", 2).text()


def test_passwords_are_mailed_once_and_stored_hashed(make_app, smtp):
    app = make_app(credgen=smtp.ini() + "generate_pin = no\ngenerate_password = yes\n")
    add_users(app, "alice")
    assert run_batch(app).kinds == {"password": 1}
    password = re.search(r"Password: (\S+)", mailed(smtp, "alice@example.org").text()).group(1)
    with app.store.read() as s:
        stored = s.scalar(select(Credential.password_hash))
    assert password not in stored and verify_password(password, stored)


def test_min_seconds_between_runs(make_app, smtp, clock):
    app = make_app(credgen=smtp.ini() + "pin_rewrite = Always\nmin_seconds_between_runs = 3600\n")
    add_users(app, "alice")
    run_batch(app, clock=clock)
    clock.advance(1800)
    assert run_batch(app, clock=clock).skipped == {"issued recently": 1}
    assert run_user(app, "alice", clock=clock).reason == "issued recently"
    clock.advance(1801)
    assert run_batch(app, clock=clock).issued == 1
    assert len(smtp.to("alice@example.org")) == 2


# -- who ------------------------------------------------------------------------------
def test_regex_filters_choose_users(make_app, smtp):
    filters = "allowed_usernames = s\\d+|staff-.*\nallowed_emails = .*@corp\\.example\n"
    app = make_app(credgen=smtp.ini() + filters)
    with app.store.write() as s:
        for name, mail in [
            ("s100", "s100@corp.example"),
            ("staff-ann", "ann@corp.example"),
            ("contractor", "c@corp.example"),
            ("s200", "s200@elsewhere.example"),
        ]:
            store_users.add_user(s, name, email=mail)
    result = run_batch(app)
    assert (result.examined, result.filtered, result.issued) == (4, 2, 2)
    assert {m.rcpt_tos[0] for m in smtp.messages} == {"s100@corp.example", "ann@corp.example"}


def test_recipient_from_username(make_app, smtp):
    app = make_app(credgen=smtp.ini() + "email_recipient_from_username = {0}@mail.example\n")
    add_users(app, "alice", email="")
    assert run_batch(app).issued == 1
    assert pin_owner(app, pin_in(mailed(smtp, "alice@mail.example"))) == "alice"


def test_recipient_from_username_true_mails_names_that_are_addresses(make_app, smtp):
    """True, the form the credential generators sites run take: the name is the address
    (a visitor's); a name that is no address gets nothing. False: no address is made."""
    app = make_app(credgen=smtp.ini() + "email_recipient_from_username = True\n")
    assert app.config.credgen.recipient_template == "{0}"
    add_users(app, "guest@visitors.example", "bert", email="")
    result = run_batch(app)
    assert (result.issued, dict(result.skipped)) == (1, {"no e-mail address": 1})
    assert pin_owner(app, pin_in(mailed(smtp, "guest@visitors.example"))) == (
        "guest@visitors.example"
    )
    off = make_app(credgen=smtp.ini() + "email_recipient_from_username = False\n")
    assert off.config.credgen.recipient_template == ""
    assert run_user(off, "bert").reason.startswith("no e-mail address")


@pytest.mark.parametrize(
    ("value", "problem"),
    [("alice", "True, False, or an address naming {0}"), ("{1}@x", "naming {0}")],
)
def test_recipient_from_username_must_be_a_boolean_or_name_the_user(value, problem, tmp_path):
    line = f"email_recipient_from_username = {value}"
    with pytest.raises(ConfigError, match=re.escape(problem)):
        config.parse_text(station_ini("sqlite://", tmp_path, credgen=line), "site.ini")


@pytest.mark.parametrize(
    ("station", "readers", "warned"),
    [
        ("", "", False),  # follows pin_length
        ("pin_max_digits = 4", "", True),  # set below it
        ("pin_max_digits = 0", "keypad", False),  # PIN pads only, on purpose
        ("pin_max_digits = 0", "papercut", True),  # PINs typed nowhere
        ("pin_max_digits = 0", "", False),  # a file without readers (a credgen host)
    ],
)
def test_credgen_warns_when_its_pins_cannot_be_typed_on_card_terminals(
    station, readers, warned, caplog
):
    kind = {"keypad": "device = /dev/null", "papercut": "host = 10.0.0.9"}.get(readers)
    section = f"[reader:r]\ntype = {readers}\n{kind}\n" if readers else ""
    text_ = f"[station]\nhold_queues = Q\n{station}\n[credgen]\npin_length = 6\n{section}"
    warn_unusable_pins(config.parse_text(text_))
    assert ("PINs can be typed" in caplog.text) is warned


def test_cost_centers_are_mapped_and_kept(make_app):
    rules = (
        r"cost_center_from_username = ^(sales|ops)-.* -> cc-\1; ^x -> X" "\ncost_center = general\n"
    )
    app = make_app(credgen="email_notifications = no\n" + rules)
    add_users(app, "sales-ann", "ops-bob", "carol", "xena")
    with app.store.write() as s:
        store_users.find_user(s, "xena").cost_center = "kept"
    run_batch(app)
    assert cost_centers(app) == {
        "sales-ann": "cc-sales",
        "ops-bob": "cc-ops",
        "carol": "general",
        "xena": "kept",
    }
    moved = make_app(credgen="email_notifications = no\nmove_to_cost_center = yes\n" + rules)
    run_batch(moved)
    assert cost_centers(app)["xena"] == "X"


def user_rows(count: int) -> list[dict]:
    """Rows for `count` local users without mail, for a bulk insert."""
    return [
        {"username": f"u{i}", "username_key": f"u{i}", "display_name": "", "email": "",
         "source": "local", "disabled": False, "created_at": T0}
        for i in range(count)
    ]  # fmt: skip


def cost_centers(app) -> dict[str, str | None]:
    with app.store.read() as s:
        return {u.username: u.cost_center for u in store_users.list_users(s)}


def test_a_pin_space_too_small_for_the_users_is_refused(make_app, tmp_path, db_url, capsys):
    app = make_app(credgen="email_notifications = no\npin_length = 4\n")
    with app.store.write() as s:
        s.execute(insert(UserRow), user_rows(1000))
    with pytest.raises(ConfigError, match="PINs must have at least 5 digits"):
        run_batch(app)
    ini = tmp_path / "credgen.ini"
    ini.write_text(
        station_ini(db_url, tmp_path, credgen="email_notifications = no\npin_length = 4\n")
    )
    assert credgen_main(["-c", str(ini), "batch"]) == 2
    assert "set pin_length = 5" in capsys.readouterr().err
    with app.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 0


def test_mail_off_batches_in_groups_and_dry_run_writes_nothing(make_app):
    app = make_app(credgen="email_notifications = no\n")
    with app.store.write() as s:
        s.execute(insert(UserRow), user_rows(1200))
    dry = run_batch(app, dry_run=True)
    assert dry.dry_run and dry.issued == 1200 and dry.kinds == {"pin": 1200}
    with app.store.read() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 0
        assert s.scalar(text("SELECT count(*) FROM audit")) == 0
    result = run_batch(app)
    assert result.ok and result.issued == 1200
    with app.store.read() as s:
        digests = s.scalars(select(Credential.pin_digest)).all()
        assert len(set(digests)) == 1200 and None not in digests
        assert s.scalar(text("SELECT count(*) FROM audit")) == 1200
    assert run_batch(app).current == 1200


# -- one user, visitors -------------------------------------------------------------------
def test_a_visitor_is_created_and_mailed(make_app, smtp, clock):
    app = make_app(credgen=smtp.ini() + "allowed_usernames = guest-\\d+\n")
    result = run_user(app, "guest-17", email="g17@visitors.example", clock=clock)
    assert (result.status, result.visitor_created, result.issued) == ("issued", True, ("pin",))
    assert result.credentials is None, "mailed, so not handed back"
    with app.store.read() as s:
        row = store_users.find_user(s, "guest-17")
        assert (row.source, row.email) == ("visitor", "g17@visitors.example")
    assert pin_owner(app, pin_in(mailed(smtp, "g17@visitors.example"))) == "guest-17"
    refused = run_user(app, "mallory", email="m@evil.example")
    assert refused.status == "failed" and "allowed_usernames" in refused.reason
    assert run_user(app, "guest-17", clock=clock).status == "current"


def test_a_visitor_whose_mail_fails_is_not_created(make_app, refusing_smtp):
    app = make_app(credgen=refusing_smtp.ini())
    result = run_user(app, "guest-18", email="g18@visitors.example")
    assert result.status == "failed" and "refused" in result.reason
    with app.store.read() as s:
        assert store_users.find_user(s, "guest-18") is None


def test_credgen_user_with_mail_off_prints_the_pin_once(make_app, tmp_path, db_url, capsys):
    app = make_app(credgen="email_notifications = no\ngenerate_puk = yes\n")
    add_users(app, "alice")
    ini = tmp_path / "credgen.ini"
    ini.write_text(
        station_ini(db_url, tmp_path, credgen="email_notifications = no\ngenerate_puk = yes\n")
    )
    assert credgen_main(["-c", str(ini), "user", "alice", "--dry-run"]) == 0
    assert "alice: would issue pin, cac" in capsys.readouterr().out
    assert credgen_main(["-c", str(ini), "user", "alice"]) == 0
    out = capsys.readouterr().out
    pin = re.search(r"PIN: (\d{6})", out).group(1)
    assert "card-assignment code:" in out and pin_owner(app, pin) == "alice"
    assert credgen_main(["-c", str(ini), "user", "guest"]) == 0, "empty allowed_usernames: all"
    assert "guest: issued pin, cac (new visitor)" in capsys.readouterr().out
    assert credgen_main(["-c", str(ini), "user", "bad\nname"]) == 1
    assert "not a valid user name" in capsys.readouterr().out


def test_a_user_who_got_a_pin_from_the_admin_is_current(make_app, smtp):
    app = make_app(credgen=smtp.ini())
    add_users(app, "alice")
    with app.store.write() as s:
        records.set_pin(s, app.hasher, store_users.find_user(s, "alice"), "583920", T0, 0)
    assert run_user(app, "alice").status == "current"
    assert smtp.messages == []


def test_starttls_validates_the_certificate(make_app, tls_smtp):
    base = f"{tls_smtp.ini()}smtp_starttls = yes\n"
    good = make_app(credgen=base + f"smtp_ca_certificates_pem_file = {tls_smtp.ca_file}\n")
    add_users(good, "alice")
    assert run_user(good, "alice").status == "issued"
    assert len(tls_smtp.to("alice@example.org")) == 1
    bad = make_app(credgen=base + f"smtp_ca_certificates_pem_file = {tls_smtp.wrong_ca_file}\n")
    add_users(bad, "bob")
    result = run_user(bad, "bob")
    assert result.status == "failed" and "CERTIFICATE_VERIFY_FAILED" in result.reason
    with bad.store.read() as s:
        assert records.credential_of(s, store_users.find_user(s, "bob")) is None
    insecure = make_app(credgen=base + "smtp_insecure_dont_validate_certificate = yes\n")
    add_users(insecure, "carol")
    assert run_user(insecure, "carol").status == "issued"


def test_expiry_helpers():
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert records.expiry(now, 0) is None
    assert records.is_expired(records.expiry(now, 1), now + dt.timedelta(days=1))


def test_smtp_login_reads_the_password_from_a_file(make_app, auth_smtp, tmp_path, caplog):
    from tests.fixtures.smtp import AUTH_PASSWORD, AUTH_USER

    secret = tmp_path / "smtp.pw"
    secret.write_text(AUTH_PASSWORD + "\n")
    secret.chmod(0o600)
    base = (
        f"{auth_smtp.ini()}smtp_starttls = yes\nsmtp_user = {AUTH_USER}\n"
        f"smtp_ca_certificates_pem_file = {auth_smtp.ca_file}\n"
    )
    app = make_app(credgen=base + f"smtp_password_file = {secret}\n")
    add_users(app, "alice", "bob")
    assert run_batch(app).ok
    assert "smtp_password_file" not in caplog.text
    secret.chmod(0o644)
    add_users(app, "dora")
    refused = run_batch(app)
    assert not refused.ok and "must be 0600" in refused.aborted
    assert len(auth_smtp.messages) == 2, "nothing is sent with a password file others can read"
    secret.chmod(0o600)
    assert run_batch(app).ok
    assert len(auth_smtp.messages) == 3
    assert auth_smtp.connections == 3, "one connection a batch"
    wrong = make_app(credgen=base + "smtp_password = not-it\n")
    add_users(wrong, "carol")
    result = run_batch(wrong)
    assert [u for u, _ in result.failed] == ["carol"] and "535" in result.aborted
    assert "not-it" not in result.aborted


def test_progress_draws_a_bar_on_a_terminal_and_logs_tenths_otherwise(caplog):
    import io
    import logging

    from credgen.progress import Progress
    from credgen.results import BatchResult

    out = io.StringIO()
    bar = Progress(200, stream=out, tty=True)
    result = BatchResult(issued=5)
    bar.advance(100, result)
    bar.advance(100, result)
    bar.finish()
    assert "credgen [##############################] 100% 200/200 users, 5 issued" in out.getvalue()
    caplog.set_level(logging.INFO, logger="credgen.progress")
    plain = Progress(1000, stream=io.StringIO(), tty=False)
    for _ in range(100):
        plain.advance(10, result)
    lines = [r.getMessage() for r in caplog.records if r.name == "credgen.progress"]
    assert len(lines) == 10 and lines[0].startswith(" 10% 100/1000 users")


@pytest.mark.parametrize("command", [["batch"], ["batch", "--dry-run"], ["user", "bob"]])
def test_cli_options_work_before_or_after_the_command(command):
    from credgen.cli import build_parser

    def parsed(argv):
        return {k: v for k, v in vars(build_parser().parse_args(argv)).items() if k != "handler"}

    before = parsed(["--config", "/x.ini", "-v", *command])
    assert before["config"] == "/x.ini" and before["verbose"] == 1
    assert parsed([*command, "-c", "/x.ini", "--verbose"]) == before
    assert parsed(["-v", *command, "-v"])["verbose"] == 2
    assert parsed([*command, "-q"])["verbose"] == -1 and parsed(command)["config"] is None


def test_batch_with_config_after_the_command_reports_the_config_error(tmp_path, capsys):
    missing = tmp_path / "missing.ini"
    assert credgen_main(["batch", "--config", str(missing), "-q"]) == 2
    assert f"cannot read config file {missing}" in capsys.readouterr().err
