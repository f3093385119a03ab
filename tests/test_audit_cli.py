# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation audit verify` and `audit purge` as cron and an admin run them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from releasestation.audit import Audit, Event
from releasestation.cli import main
from releasestation.store.models import utcnow


@pytest.fixture
def ini(store, db_url, tmp_path):
    def write(audit: str = "") -> str:
        path = tmp_path / "station.ini"
        path.write_text(
            f"[station]\nname = lobby\nhold_queues = Secure\nsecret_file = {tmp_path}/secret\n"
            f"[database]\nurl = {db_url}\n[audit]\n{audit}"
        )
        return str(path)

    return write


def fill(store, count: int = 6, days_old: float = 0) -> None:
    audit = Audit(store, "lobby")
    at = utcnow() - dt.timedelta(days=days_old)
    for i in range(count):
        audit.record(Event("release", method="card", username="alice", job_id=i + 1, at=at))


def test_verify_catches_a_changed_row(store, ini, capsys):
    fill(store)
    assert main(["-c", ini(), "audit", "verify"]) == 0
    assert "intact: 6 row(s)" in capsys.readouterr().out
    with store.write() as s:
        s.execute(text("UPDATE audit SET username = 'bob' WHERE job_id = 4"))
        bad = s.execute(text("SELECT id FROM audit WHERE job_id = 4")).scalar()
    assert main(["-c", ini(), "audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"BROKEN at row {bad}: row was altered (3 row(s) before it are intact)" in out


def test_verify_catches_a_deleted_row(store, ini, capsys):
    fill(store)
    with store.write() as s:
        s.execute(text("DELETE FROM audit WHERE job_id = 2"))
    assert main(["-c", ini(), "audit", "verify"]) == 1
    assert "a row before it was removed or altered" in capsys.readouterr().out


def test_purge_by_the_config(store, ini, capsys):
    fill(store, 4, days_old=40)
    fill(store, 2)
    assert main(["-c", ini(), "audit", "purge"]) == 0
    assert "retention is off" in capsys.readouterr().out
    config = ini("retain_days = 30\nretention = purge\n")
    assert main(["-c", config, "audit", "purge", "--dry-run"]) == 0
    assert "4 audit row(s) from before" in capsys.readouterr().out
    assert main(["-c", config, "audit", "purge"]) == 0
    assert "4 audit row(s) from before" in capsys.readouterr().out
    assert main(["-c", config, "audit", "verify"]) == 0
    assert "intact: 3 row(s)" in capsys.readouterr().out  # two rows and the checkpoint
