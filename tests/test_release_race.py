# SPDX-License-Identifier: GPL-3.0-or-later
"""Two stations on one database and one cupsd: a job is released and audited once."""

from __future__ import annotations

import dataclasses

from sqlalchemy import text

from releasestation import config as config_mod
from releasestation.app import App
from releasestation.audit import Event
from releasestation.directory import User
from releasestation.store import users as store_users


def station_of_alice(make_app, write_config) -> App:
    """A station whose store knows the local user alice."""
    app = make_app(write_config())
    app.record_secret()
    with app.store.write() as session:
        store_users.add_user(session, "alice")
    return app


def test_jobs_released_by_another_station_meanwhile_are_not_released_or_audited_again(
    write_config, make_app, cups_clean
):
    first = station_of_alice(make_app, write_config)
    other_config = config_mod.replace(
        first.config, station=dataclasses.replace(first.config.station, name="second")
    )
    second = App(other_config)
    try:
        jobs = {cups_clean.submit("alice", f"doc {n}") for n in range(3)}
        listed_by_second = second.releaser.held_jobs_for("alice")
        assert {j.id for j in listed_by_second} == jobs
        alice = User("alice")
        assert {j.id for j in first.releaser.release_user_jobs(alice, "card").released} == jobs
        base = Event("release", method="card", username="alice")
        late = second.releaser._release(listed_by_second, base)
        assert late.released == [] and late.failed == []
        assert len(cups_clean.wait_printed(3)) == 3
        with first.store.read() as session:
            rows = session.execute(
                text("SELECT job_id, station FROM audit WHERE event = 'release' AND outcome = 'ok'")
            ).all()
        assert sorted(r[0] for r in rows) == sorted(jobs)
        assert {r[1] for r in rows} == {"test-station"}
        with first.store.read() as session:
            assert session.execute(text("SELECT count(*) FROM job_claims")).scalar() == 0
    finally:
        second.close()


def test_a_release_audited_for_another_cupsd_does_not_hide_our_job(
    write_config, make_app, cups_clean
):
    app = station_of_alice(make_app, write_config)
    job = cups_clean.submit("alice", "ours")
    # A station of the same site, on its own cupsd, released its job with the same number.
    app.audit.record(Event("release", username="bob", queue="Secure", job_id=job))
    outcome = app.releaser.release_user_jobs(User("alice"), "card")
    assert [j.id for j in outcome.released] == [job]
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [job]
