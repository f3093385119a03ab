# SPDX-License-Identifier: GPL-3.0-or-later
"""End to end: the printmanager backend in a real cupsd asks the station's own API, served
over real HTTP on loopback, on the station's real store and cupsd. The follow-me printer
`Lobby` is `printmanager:lpcapture:…`: a job sent straight to it is refused, a job the
station released from the hold queue prints; a user's quota, reached, refuses the next job
with the reason, and the queue keeps printing for others."""

from __future__ import annotations

import os
import time

import pytest

from releasestation import reports
from releasestation.directory import User
from releasestation.web import create_app, web_parts
from releasestation.web.gateway_api import gateway_authority
from tests.fixtures.gateway import TOKEN, GatewayCups, lp_submit, write_settings
from tests.fixtures.station import add_user, audit_rows

DATA = b"%!PS-Adobe-3.0\n%%Pages: 2\nshowpage\nshowpage\n"
CANCELED, COMPLETED = 7, 9


@pytest.fixture
def station_gateway(gateway: GatewayCups, make_app, served_flask, tmp_path, stand_in):
    """(app, cups): a station on the gateway's cupsd (hold queues Secure and Secure2, the
    follow-me printer Lobby behind the gateway) whose own API the backend asks."""
    for queue in ("Secure", "Secure2"):
        if queue not in gateway.queues:
            gateway.add_hold_queue(queue)
    if "Lobby" not in gateway.queues:
        gateway.add_gateway_queue("Lobby")
    gateway.reset()
    api_token = tmp_path / "api-token"
    api_token.write_text(TOKEN + "\n")
    os.chmod(api_token, 0o600)

    def make(gateway_lines: str = ""):
        app = make_app(
            cups=f"server = {gateway.socket}\n",
            owners=f"spool_dir = {gateway.root}/spool\n",
            station="printer = Lobby\n",
            gateway=f"api_token_file = {api_token}\n{gateway_lines}",
        )
        add_user(app, "daemon", cost_center="ops")
        add_user(app, "bin", cost_center="ops")
        flask = create_app(web_parts(app), app.config.web, gateway=gateway_authority(app))
        write_settings(gateway.ini.parent, served_flask(flask) + "/api/v1/gateway")
        return app

    yield make
    write_settings(gateway.ini.parent, stand_in.endpoint)


def wait_state(cups: GatewayCups, job_id: int, state: int, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while (found := cups.job_attributes(job_id)["job-state"]) != state:
        if time.monotonic() > deadline:
            return found
        time.sleep(0.05)
    return found


def test_direct_jobs_to_the_follow_me_printer_are_refused_released_ones_print(
    station_gateway, gateway: GatewayCups, tmp_path
):
    app = station_gateway()
    direct = lp_submit(gateway, "Lobby", DATA, tmp_path, "-o", "raw")
    assert wait_state(gateway, direct, CANCELED) == CANCELED
    assert gateway.printer_attributes("Lobby")["printer-is-accepting-jobs"]
    held = gateway.submit("daemon", "held", DATA, queue="Secure")
    outcome = app.releaser.release_user_jobs(User("daemon"), "card", reader="door")
    assert [job.id for job in outcome.released] == [held]
    printed = gateway.wait_printed(1)
    assert [(p.job_id, p.queue, p.data) for p in printed] == [(held, "Lobby", DATA)]
    assert wait_state(gateway, held, COMPLETED) == COMPLETED
    deadline = time.monotonic() + 10
    while not [r for r in audit_rows(app, "gateway") if r["outcome"] == "printed"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    rows = [(r["event"], r["outcome"], r["job_id"], r["pages"])
            for r in audit_rows(app) if r["method"] == "gateway"]  # fmt: skip
    assert rows == [
        ("deny", "account-authorization-failed", direct, 2),  # the job's own pages, known
        ("gateway", "allowed", held, 2),
        ("gateway", "printed", held, 2),
    ]
    assert {r.key: r.denials for r in reports.report(app.store, by="user")}["daemon"] == 1


def test_a_reached_quota_refuses_the_next_job_and_others_still_print(
    station_gateway, gateway: GatewayCups, tmp_path
):
    app = station_gateway("quota_pages = 2\nfollow_me_only_released = no\n")
    first = lp_submit(gateway, "Lobby", DATA, tmp_path, "-o", "raw")
    assert wait_state(gateway, first, COMPLETED) == COMPLETED
    deadline = time.monotonic() + 10
    while not [r for r in audit_rows(app, "gateway") if r["outcome"] == "printed"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = lp_submit(gateway, "Lobby", DATA, tmp_path, "-o", "raw")
    assert wait_state(gateway, second, CANCELED) == CANCELED
    assert "account-limit-reached" in gateway.job_attributes(second)["job-printer-state-message"]
    other = lp_submit(gateway, "Lobby", DATA, tmp_path, "-o", "raw", user="bin")
    assert wait_state(gateway, other, COMPLETED) == COMPLETED
    assert [p.job_id for p in gateway.wait_printed(2)] == [first, other]
