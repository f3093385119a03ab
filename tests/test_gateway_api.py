# SPDX-License-Identifier: GPL-3.0-or-later
"""The station's own gateway API (/api/v1/gateway) through Flask's test client, on the real
store (SQLite and PostgreSQL), the local directory and the real cupsd: the token, known
users, allowed groups, quotas per user and cost center and their periods, the follow-me
rule against a real release, the audit rows and `releasestation report`."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from bench.servers.slapd_data import BASE_DN
from releasestation import reports
from releasestation.directory import User
from releasestation.gateway.authority import GatewayAuthority, period_start
from releasestation.web import create_app, web_parts
from releasestation.web.gateway_api import gateway_authority
from tests.fixtures.station import add_user, audit_rows, ldap_section

TOKEN = "station-api-token-abcdef"


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "api-token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def station(make_app, token_file):
    def make(gateway: str = "", **sections: str):
        lines = f"api_token_file = {token_file}\n{gateway}"
        app = make_app(gateway=lines, **sections)
        add_user(app, "alice", cost_center="sales")
        add_user(app, "bob", cost_center="sales")
        return app

    return make


def client_for(app, authority=None):
    authority = authority or gateway_authority(app)
    flask = create_app(web_parts(app), app.config.web, gateway=authority)
    return flask.test_client()


def ask(client, user="alice", job_id=41, queue="Direct", pages=None, token=TOKEN, copies=1):
    body = {
        "job": {"id": job_id, "uuid": f"urn:uuid:{job_id}", "user": user, "title": "t",
                "copies": copies, "pages": pages},
        "queue": {"name": queue},
        "device": {"scheme": "socket", "host": "printer"},
    }  # fmt: skip
    return client.post(
        "/api/v1/gateway/authorize", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def done(client, user="alice", job_id=41, pages=3, printed=True, queue="Direct"):
    body = {"job": {"id": job_id, "uuid": f"urn:uuid:{job_id}", "user": user},
            "queue": {"name": queue}, "exit_code": 0 if printed else 1,
            "printed": printed, "pages": pages}  # fmt: skip
    return client.post(
        "/api/v1/gateway/complete", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )


def test_the_token_is_required(station):
    client = client_for(station())
    assert ask(client, token="wrong").status_code == 401
    answer = client.post("/api/v1/gateway/authorize", json={"job": {"id": 1}})
    assert answer.status_code == 401
    assert ask(client).status_code == 200  # no CSRF token needed: a bearer token


def test_the_api_is_off_without_a_token_file(make_app):
    app = make_app()
    client = client_for(app, authority=None)
    assert ask(client).status_code == 404


def test_a_bad_request_is_400(station):
    client = client_for(station())
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.post("/api/v1/gateway/authorize", json=[1], headers=headers).status_code == 400
    answer = client.post("/api/v1/gateway/authorize", json={"job": {}}, headers=headers)
    assert answer.status_code == 400


def test_known_users_print_unknown_ones_are_refused_and_both_are_audited(station):
    app = station()
    client = client_for(app)
    allowed = ask(client, "alice", 41)
    assert allowed.status_code == 200 and allowed.get_json() == {"decision": "print"}
    refused = ask(client, "mallory", 42)
    assert refused.status_code == 403
    assert refused.get_json()["reason"] == "account-authorization-failed"
    rows = [r for r in audit_rows(app) if r["method"] == "gateway"]
    assert [(r["event"], r["outcome"], r["username"], r["job_id"]) for r in rows] == [
        ("gateway", "allowed", "alice", 41),
        ("deny", "account-authorization-failed", "mallory", 42),
    ]
    assert rows[0]["cost_center"] == "sales" and "urn:uuid:41" in rows[0]["detail"]
    assert rows[1]["detail"].startswith("not a known user")


def test_allowed_groups_refuse_users_outside_them(station):
    client = client_for(station("allowed_groups = printing\n"))
    answer = ask(client, "alice")  # local users belong to no group
    assert answer.status_code == 403
    assert answer.get_json()["detail"] == "not in an allowed group"


@pytest.fixture(scope="module")
def gateway_printers(slapd):
    """gw-gina in the group gateway-printers, gw-hank not (the session's slapd)."""
    gina = slapd.add_user("gw-gina", password="Gina-Secret-1", mail="gw-gina@example.org")
    hank = slapd.add_user("gw-hank", password="Hank-Secret-1", mail="gw-hank@example.org")
    group = f"cn=gateway-printers,{BASE_DN}"
    slapd.add_entry(group, {"objectClass": ["groupOfNames"], "cn": "gateway-printers",
                            "member": [gina]})  # fmt: skip
    yield group
    for dn in (group, gina, hank):
        slapd.delete(dn)


@pytest.mark.parametrize("by", ["cn", "dn", "two"])
def test_allowed_groups_in_ldap(station, slapd, gateway_printers, tmp_path, by):
    group = {"cn": "gateway-printers", "dn": gateway_printers,
             "two": f"cn=nobody-here,{BASE_DN}; {gateway_printers}"}[by]  # fmt: skip
    app = station(f"allowed_groups = {group}\n", directory=ldap_section(slapd, tmp_path))
    client = client_for(app)
    assert ask(client, "gw-gina", 70).status_code == 200
    refused = ask(client, "gw-hank", 71)
    assert refused.status_code == 403
    assert refused.get_json()["detail"] == "not in an allowed group"
    assert ask(client, "gw-nobody", 72).get_json()["detail"] == "not a known user"


def test_user_quota_refuses_once_reached_and_the_next_period_allows(station):
    app = station("quota_pages = 5\nquota_period = day\n")
    now = [dt.datetime(2026, 12, 3, 10, tzinfo=dt.UTC)]
    authority = GatewayAuthority(
        app.store, app.directory, app.audit, app.config.gateway, None, clock=lambda: now[0]
    )
    client = client_for(app, authority)
    assert ask(client, pages=3).status_code == 200
    assert done(client, pages=3).status_code == 200
    over = ask(client, job_id=42, pages=3)  # 3 printed + 3 > 5
    assert over.status_code == 402 and over.get_json()["reason"] == "account-limit-reached"
    assert ask(client, job_id=43, pages=None).status_code == 200  # pages unknown: 3 < 5
    done(client, job_id=43, pages=2)
    assert ask(client, job_id=44).status_code == 402  # 5 printed: reached
    assert ask(client, "bob", 45).status_code == 200  # another user
    assert ask(client, "bob", 48, pages=2, copies=3).status_code == 402  # 6 pages > 5
    assert done(client, job_id=46, printed=False, pages=9).status_code == 200  # failed: 0
    assert authority.used_pages("alice") == 5
    now[0] = dt.datetime(2026, 12, 4, 0, 0, 1, tzinfo=dt.UTC)
    assert ask(client, job_id=47).status_code == 200


def test_cost_center_quota_with_an_override(station):
    app = station("cost_center_quota_pages = 100\ncost_center_quotas = sales:4\n")
    client = client_for(app)
    assert ask(client, "alice").status_code == 200
    done(client, "alice", pages=4)
    answer = ask(client, "bob", 50)  # bob is in sales too
    assert answer.status_code == 402
    assert answer.get_json()["detail"] == "cost center quota of 4 pages reached"


def test_refusals_appear_in_the_report(station):
    app = station()
    client = client_for(app)
    ask(client, "mallory", 60)
    ask(client, "mallory", 61)
    rows = {r.key: r for r in reports.report(app.store, by="user")}
    assert rows["mallory"].denials == 2


def test_follow_me_printer_only_prints_jobs_a_station_released(station, cups_clean):
    app = station(station="printer = Lobby\n")
    client = client_for(app)
    direct = cups_clean.submit("alice", "direct", queue="Lobby")
    answer = ask(client, "alice", direct, queue="Lobby")
    assert answer.status_code == 403
    assert answer.get_json()["detail"] == "not released at a station"
    held = cups_clean.submit("alice", "held", queue="Secure")
    outcome = app.releaser.release_user_jobs(User("alice"), "web")
    assert [job.id for job in outcome.released] == [held]
    assert ask(client, "alice", held, queue="Lobby").status_code == 200
    assert ask(client, "alice", held, queue="Secure2").status_code == 200  # not follow-me


def test_period_start():
    at = dt.datetime(2026, 12, 3, 15, 30, tzinfo=dt.UTC)  # a Thursday
    assert period_start(at, "day") == dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    assert period_start(at, "week") == dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    assert period_start(at, "month") == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_pages_the_printer_did_not_report_are_those_counted_at_release(station):
    from releasestation.audit import Event

    app = station(station="printer = Lobby\n")
    app.audit.record(Event("release", job_id=77, printer="Lobby", username="alice", pages=4))
    client = client_for(app)
    done(client, "alice", 77, pages=None, queue="Lobby")
    done(client, "alice", 78, pages=None, queue="Lobby")
    rows = [(r["job_id"], r["pages"], r["detail"].split(";")[1].strip())
            for r in audit_rows(app, "gateway")]  # fmt: skip
    assert rows == [(77, 4, "pages as counted when released"), (78, None, "pages unknown")]


def test_a_completion_sent_again_is_recorded_once(station):
    app = station()
    client = client_for(app)
    body = {"job": {"id": 90, "uuid": "urn:uuid:90", "user": "alice"},
            "queue": {"name": "Direct"}, "exit_code": 0, "printed": True, "pages": 5,
            "completion": "0123456789abcdef"}  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(2):  # the first answer was lost: the backend sends it again
        answer = client.post("/api/v1/gateway/complete", json=body, headers=headers)
        assert answer.status_code == 200
    rows = [r for r in audit_rows(app, "gateway") if r["job_id"] == 90]
    assert [(r["outcome"], r["pages"]) for r in rows] == [("printed", 5)]
    body["completion"] = "fedcba9876543210"  # the job printed again (a restarted job)
    client.post("/api/v1/gateway/complete", json=body, headers=headers)
    rows = [r for r in audit_rows(app, "gateway") if r["job_id"] == 90]
    assert [(r["outcome"], r["pages"]) for r in rows] == [("printed", 5), ("printed", 5)]


def test_decisions_are_counted_on_the_portals_metrics(station):
    app = station("quota_pages = 3\n")
    client = client_for(app)
    ask(client, "alice", 90)
    done(client, "alice", 90, pages=3)
    ask(client, "alice", 91)  # over quota
    ask(client, "mallory", 92)
    done(client, "alice", 93, printed=False)
    client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
    text = client.get("/metrics").get_data(as_text=True)
    for decision, count in (("allowed", 1), ("account-limit-reached", 1),
                            ("account-authorization-failed", 1), ("printed", 1),
                            ("failed", 1)):  # fmt: skip
        assert f'releasestation_gateway_decisions_total{{decision="{decision}"}} {count}.0' in text
    assert "releasestation_gateway_pages_total 3.0" in text
