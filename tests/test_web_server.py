# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation web`: the real gunicorn on a free port, driven over HTTP and HTTPS as a
script would drive it (the JSON API's contract), on the real cupsd and store."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from bench.servers.slapd_data import make_certificates
from releasestation.cli import main
from releasestation.lifecycle import pages
from releasestation.store.models import utcnow
from tests.fixtures.web import Script, pdf


def whole_flow(script: Script, cups) -> None:
    """Log in, send a PDF, see it held, release it, see it printed; a forged write fails."""
    assert script.log_in("alice").status == 200, "logged in, on My jobs"
    sent = script.upload(pdf(2), "Flyer.pdf")
    assert sent.status == 201, sent.body
    job = sent.json()["id"]
    jobs = script.request("/api/v1/jobs").json()
    assert [(j["id"], j["title"]) for j in jobs] == [(job, "Flyer.pdf")]
    assert script.post_api(f"/api/v1/jobs/{job}/release", token="forged").status == 400
    released = script.post_api(f"/api/v1/jobs/{job}/release")
    assert released.status == 200, released.body
    (printed,) = cups.wait_printed(1)
    assert (printed.job_id, printed.user) == (job, "alice")
    assert printed.data.startswith(b"%PDF-")
    assert script.request("/api/v1/jobs").json() == []
    logged_out = script.request(
        "/logout", urllib.parse.urlencode({"csrf_token": script.token}).encode(),
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert logged_out.status == 200
    assert script.request("/api/v1/jobs").status == 401


def test_over_http(portal_config, served_portal, cups_clean):
    path, port = portal_config()
    base = served_portal(path, port)
    whole_flow(Script(base), cups_clean)
    status = Script(base).request("/api/v1/status")
    assert status.status == 401, "status is for logged-in users unless status_public"


def test_over_https_with_a_secure_cookie(portal_config, served_portal, cups_clean, tmp_path):
    certs = make_certificates(tmp_path / "tls")
    path, port = portal_config(f"cert_file = {certs.cert_file}\nkey_file = {certs.key_file}\n")
    base = served_portal(path, port, scheme="https")
    context = ssl.create_default_context(cafile=str(certs.ca_file))
    script = Script(base, context)
    page = script.request("/login")
    assert "Secure" in page.headers["Set-Cookie"] and "HttpOnly" in page.headers["Set-Cookie"]
    whole_flow(script, cups_clean)
    with pytest.raises(OSError):  # refused, or closed without an answer
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)  # TLS only


def test_plain_http_beyond_loopback_is_said_loudly(portal_config, served_portal, tmp_path):
    path, port = portal_config()
    path.write_text(path.read_text().replace(f"127.0.0.1:{port}", f"0.0.0.0:{port}"))
    served_portal(path, port)
    log = (tmp_path / f"web-{port}.log").read_text()
    assert "WARNING: the web portal serves plain HTTP on 0.0.0.0" in log


def test_an_unreadable_certificate_stops_it_at_start(portal_config, tmp_path, capsys):
    missing = f"cert_file = {tmp_path}/none.pem\nkey_file = {tmp_path}/none.key\n"
    path, _port = portal_config(missing)
    assert main(["--config", str(path), "web"]) == 1
    assert "[web] cert_file: cannot read" in capsys.readouterr().err


def test_the_unit_is_hardened_as_the_daemons_is():
    def settings(name: str) -> dict[str, str]:
        text = (Path(__file__).parent.parent / "systemd" / name).read_text()
        lines = (line.split("=", 1) for line in text.splitlines() if "=" in line)
        return {key: value for key, value in lines if not key.startswith("#")}

    daemon, web = settings("releasestation.service"), settings("releasestation-web.service")
    hardening = [
        key
        for key in daemon
        if key.startswith(("Protect", "Restrict", "Private", "Lock", "Memory", "SystemCall"))
        or key in ("NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "UMask")
    ]
    assert hardening, "the daemon's unit is hardened"
    for key in hardening:
        if key == "RestrictAddressFamilies":  # the daemon's netlink is for its readers
            assert set(web[key].split()) == set(daemon[key].split()) - {"AF_NETLINK"}
        else:
            assert web.get(key) == daemon[key], key
    assert web["PrivateDevices"] == "yes" and "DeviceAllow" not in web
    assert web["User"] == "releasestation" and web["ExecStart"].endswith(" web")


def test_the_served_portal_mails_when_a_web_job_printed(
    portal_config, served_portal, cups_clean, make_app, smtp
):
    path, port = portal_config("notify_by_mail = yes\n")
    path.write_text(path.read_text() + f"[credgen]\n{smtp.ini()}")
    script = Script(served_portal(path, port))
    script.log_in("alice")
    job = script.upload(pdf(1), "Notice.pdf").json()["id"]
    assert script.post_api(f"/api/v1/jobs/{job}/release").status == 200
    cups_clean.wait_printed(1)
    app = make_app(path)
    deadline = time.monotonic() + 40
    while not smtp.to("alice@example.org") and time.monotonic() < deadline:
        pages.record(app.printq, app.store, app.audit, utcnow())  # the daemon's housekeeping
        time.sleep(0.5)
    [mail] = smtp.to("alice@example.org")
    assert f"job {job}" in mail.text() and "has printed" in mail.text()
