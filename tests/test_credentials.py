# SPDX-License-Identifier: GPL-3.0-or-later
"""Credentials: trivial PINs, drawing without repeats, the PIN length rule, the [credgen]
section's checks, storage as digests, and `releasestation pin set|reset|remove`.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import select, text

from releasestation import config
from releasestation.app import App
from releasestation.cli import main as releasestation_main
from releasestation.credentials import records
from releasestation.credentials.codes import (
    Drawer,
    SpaceExhausted,
    check_pin_length,
    hash_password,
    is_trivial,
    new_password,
    required_pin_length,
    verify_password,
)
from releasestation.credentials.models import Credential
from releasestation.credentials.settings import PASSWORD_CHARS
from releasestation.errors import ConfigError, ConflictError
from releasestation.secret import Hasher
from releasestation.store import users as store_users
from tests.fixtures.clock import T0
from tests.fixtures.station import station_ini

H = Hasher(b"k" * 64)


@pytest.fixture
def app(make_app):
    return make_app(credgen="email_notifications = no\n")


# -- making codes -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "pin", ["0000", "7777777", "1234", "3456789", "9876", "6543210", "8901", "2109", "1212"]
)
def test_trivial_pins_are_recognised(pin):
    assert is_trivial(pin, blocklist={"1212"})


@pytest.mark.parametrize("pin", ["1235", "4821", "1357", "9075", "1122334"])
def test_ordinary_pins_are_not_trivial(pin):
    assert not is_trivial(pin)


def test_a_draw_looks_at_each_candidate_once_and_finds_the_last_free_one():
    """Only one 4-digit PIN is free: it is found, each candidate asked about once."""
    wanted = H.digest("pin", "4821")
    asked: list[str] = []

    def taken(digest: str) -> bool:
        asked.append(digest)
        return digest != wanted

    drawer = Drawer(H, "pin", 4)
    assert drawer.draw(taken) == ("4821", wanted)
    assert len(asked) == len(set(asked)) <= 10_000


def test_a_full_space_is_reported_not_looped_on():
    drawer = Drawer(H, "pin", 4)
    with pytest.raises(SpaceExhausted, match="no unused PIN of 4 digits"):
        drawer.draw(lambda digest: True)


def test_draws_are_unique_and_never_trivial():
    drawer = Drawer(H, "pin", 4, blocklist={"2580"})
    used: set[str] = set()
    pins = []
    for _ in range(3000):
        pin, digest = drawer.draw(used.__contains__)
        used.add(digest)
        pins.append(pin)
    assert len(set(pins)) == 3000
    assert all(len(p) == 4 and p.isdigit() and not is_trivial(p, {"2580"}) for p in pins)


@pytest.mark.parametrize(
    ("users", "length"), [(0, 4), (999, 4), (1000, 5), (9999, 5), (10_000, 6), (100_000, 7)]
)
def test_pin_length_rule(users, length):
    assert required_pin_length(users) == length


def test_too_short_pins_are_refused_saying_how_long_they_must_be():
    with pytest.raises(ConfigError, match="PINs must have at least 6 digits"):
        check_pin_length(5, 10_000)
    check_pin_length(6, 10_000)


def test_passwords_avoid_lookalike_characters_and_are_kept_hashed():
    password = new_password(40, PASSWORD_CHARS)
    assert not set(password) & set("0O1lI")
    stored = hash_password(password)
    assert password not in stored and stored.startswith("$pbkdf2-sha256$")
    assert verify_password(password, stored) and not verify_password(password + "x", stored)


# -- the [credgen] section ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("lines", "problem"),
    [
        ("pin_rewrite = Sometimes", "[credgen] pin_rewrite: must be one of Never | Always"),
        ("pin_rewrite = Expired", "needs pin_expiration_days > 0"),
        ("pin_rewrite = Extend\npin_expiration_days = 0", "needs pin_expiration_days > 0"),
        ("generate_pin = no\ngenerate_puk = yes\npin_rewrite = Always", "needs generate_pin = yes"),
        ("pin_send_existing = yes", "cannot be sent again"),
        ("password_rewrite = Always", "needs generate_password = yes"),
        ("smtp_ssl = yes\nsmtp_starttls = yes", "smtp_ssl and smtp_starttls: choose one"),
        ("allowed_usernames = (unclosed", "allowed_usernames: '(unclosed' is not a valid"),
        ("email_body_2 = Your {5}", "email_body_2: unknown placeholder {5}"),
        ("email_subject = PIN {0}", "email_subject: may name {3}"),
        ("email_errors = yes", "admin_email: an address is needed"),
        ("email_encoding = klingon", "email_encoding: unknown encoding"),
        ("cost_center_from_username = ^a.*", "is not `regex -> name`"),
        ("pin_length = 3", "pin_length: must be between 4 and 12"),
        ("generate_pin = no", "all off"),
        ("pin_lenght = 6", "unknown key (did you mean 'pin_length'?)"),
    ],
)
def test_bad_credgen_settings_are_config_errors(lines, problem, tmp_path):
    with pytest.raises(ConfigError) as err:
        config.parse_text(station_ini("sqlite://", tmp_path, credgen=lines), "site.ini")
    assert problem in str(err.value)
    assert "[credgen]" in str(err.value)


def test_credgen_settings_read_and_mask_the_smtp_password(tmp_path):
    cfg = config.parse_text(
        station_ini(
            "sqlite://",
            tmp_path,
            credgen="pin_rewrite = extend\npin_expiration_days = 90\nsmtp_password = hunter2\n"
            "email_body_0 = PIN:\\n{0}\ncost_center_from_username = ^(\\w+)-.* -> cc-\\1;"
            " ^x -> X\n",
        )
    )
    assert cfg.credgen.pin_rewrite == "Extend"
    assert "PIN:\n{0}" in cfg.credgen.bodies()
    assert [r.apply("sales-anna") for r in cfg.credgen.cost_center_rules] == ["cc-sales", None]
    assert "hunter2" not in cfg.show() and "smtp_password = ********" in cfg.show()


# -- the store --------------------------------------------------------------------------
def test_pins_are_stored_as_digests_and_unique(store):
    with store.write() as s:
        alice = store_users.add_user(s, "alice")
        bob = store_users.add_user(s, "bob")
        records.set_pin(s, H, alice, "482913", T0, days=30)
    with pytest.raises(ConflictError, match="that PIN is in use"), store.write() as s:
        records.set_pin(s, H, s.merge(bob), "482913", T0, days=30)
    with store.read() as s:
        cred = records.pin_owner(s, H, "482913")
        assert cred is not None and cred.user.username == "alice"
        assert cred.pin_expires_at == T0 + dt.timedelta(days=30)
        assert records.pin_owner(s, H, "482914") is None
        dump = " ".join(str(v) for v in s.execute(text("SELECT * FROM credentials")).one())
        assert "482913" not in dump


def test_removing_a_user_removes_their_credentials(store):
    with store.write() as s:
        records.set_pin(s, H, store_users.add_user(s, "alice"), "482913", T0, days=0)
    with store.write() as s:
        store_users.remove_user(s, "alice")
    with store.read() as s:
        assert s.scalars(select(Credential)).all() == []


# -- releasestation pin set | reset | remove ----------------------------------------------
def write_config(tmp_path, db_url: str) -> str:
    path = tmp_path / "station.ini"
    path.write_text(station_ini(db_url, tmp_path, credgen="email_notifications = no\n"))
    return str(path)


def test_admin_sets_resets_and_removes_a_pin(app, db_url, tmp_path, capsys, monkeypatch):
    ini = write_config(tmp_path, db_url)
    with app.store.write() as s:
        store_users.add_user(s, "carol", email="carol@example.org")
    monkeypatch.setattr("sys.stdin", io.StringIO("583920\n"))
    assert releasestation_main(["-c", ini, "pin", "set", "carol", "-"]) == 0
    assert "583920" not in capsys.readouterr().out
    assert owner_of(app, "583920") == "carol"

    assert releasestation_main(["-c", ini, "pin", "reset", "carol"]) == 0
    new_pin = re.search(r"new PIN for carol: (\d{6})", capsys.readouterr().out).group(1)
    assert owner_of(app, new_pin) == "carol" and owner_of(app, "583920") is None

    assert releasestation_main(["-c", ini, "pin", "remove", "carol"]) == 0
    assert owner_of(app, new_pin) is None
    assert releasestation_main(["-c", ini, "pin", "remove", "carol"]) == 1
    assert "carol has no PIN" in capsys.readouterr().err
    with app.store.read() as s:
        rows = s.execute(text("SELECT outcome, method, detail FROM audit ORDER BY id")).all()
    assert [r[0] for r in rows] == ["pin-set", "pin-reset", "pin-removed"]
    assert all(r[1] == "admin" for r in rows)
    assert not any(p in str(rows) for p in ("583920", new_pin))


@pytest.mark.parametrize(
    ("pin", "why"), [("1234", "too easy to guess"), ("12ab", "4 to 12 digits"), ("99", "4 to")]
)
def test_admin_cannot_set_a_weak_pin(app, db_url, tmp_path, capsys, pin, why):
    ini = write_config(tmp_path, db_url)
    with app.store.write() as s:
        store_users.add_user(s, "carol")
    assert releasestation_main(["-c", ini, "pin", "set", "carol", pin]) == 1
    err = capsys.readouterr().err
    assert why in err and pin not in err


def test_admin_pin_for_an_unknown_user_is_refused(app, db_url, tmp_path, capsys):
    ini = write_config(tmp_path, db_url)
    assert releasestation_main(["-c", ini, "pin", "set", "nobody", "583920"]) == 1
    assert "no user 'nobody'" in capsys.readouterr().err


def owner_of(app: App, pin: str) -> str | None:
    with app.store.read() as s:
        cred = records.pin_owner(s, app.hasher, pin)
        return cred.user.username if cred else None


def test_the_example_config_shows_the_credgen_defaults():
    from pathlib import Path

    from releasestation.credentials.settings import CredgenSettings

    example = Path(__file__).parent.parent / "examples" / "releasestation.ini"
    assert config.load(str(example)).credgen == CredgenSettings()
