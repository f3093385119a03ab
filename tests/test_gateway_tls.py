# SPDX-License-Identifier: GPL-3.0-or-later
"""The gateway's API client over real TLS on loopback: the certificate is checked against
`ca_file` (a stranger's CA fails, and counts as the API being unreachable), the token goes
only where the endpoint says, and a redirect is not followed."""

from __future__ import annotations

import os
import ssl
import time

import pytest

from bench.servers.slapd_data import make_certificates
from releasestation.gateway.client import ApiClient, ApiUnavailable
from releasestation.gateway.settings import GatewaySettings
from tests.fixtures.gateway import StandIn

TOKEN = "tls-token-0123"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("gateway-tls"))


@pytest.fixture
def https_api(certs):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert_file, certs.key_file)
    api = StandIn(tls=context)
    api.start()
    yield api
    api.stop()


@pytest.fixture
def token(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o600)
    return str(path)


def test_the_certificate_is_checked_against_ca_file(https_api, certs, token):
    good = ApiClient(GatewaySettings(endpoint=https_api.endpoint, token_file=token,
                                     ca_file=str(certs.ca_file)))  # fmt: skip
    assert good.authorize({"job": {"id": 1}}).status == 200
    assert https_api.seen[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    stranger = ApiClient(GatewaySettings(endpoint=https_api.endpoint, token_file=token,
                                         ca_file=str(certs.wrong_ca_file)))  # fmt: skip
    with pytest.raises(ApiUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        stranger.authorize({"job": {"id": 2}})
    system_cas = ApiClient(GatewaySettings(endpoint=https_api.endpoint, token_file=token))
    with pytest.raises(ApiUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        system_cas.authorize({"job": {"id": 3}})
    assert len(https_api.seen) == 1  # nothing was sent where the certificate failed


def test_a_redirect_is_not_followed(stand_in, token):
    stand_in.seen.clear()
    stand_in.answer = lambda seen: (307, {"_headers": {"Location": "http://127.0.0.1:9/x"}})
    client = ApiClient(GatewaySettings(endpoint=stand_in.endpoint, token_file=token))
    answer = client.authorize({"job": {"id": 1}})
    assert answer.status == 307 and answer.verdict == "unknown"
    assert [s.path for s in stand_in.seen] == ["/api/authorize"]
    stand_in.answer = 200


def test_printmanager_in_cupsd_asks_over_https(gateway, certs, tmp_path):
    """The backend, run by cupsd as lp, checks the API's certificate with ca_file."""
    from tests.fixtures.gateway import lp_submit, write_settings

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert_file, certs.key_file)
    api = StandIn(tls=context)
    api.start()
    try:
        ca = gateway.ini.parent / "ca.pem"
        ca.write_bytes(certs.ca_file.read_bytes())
        os.chmod(ca, 0o644)
        write_settings(gateway.ini.parent, api.endpoint, ca_file=str(ca))
        job_id = lp_submit(gateway, "Gate", b"%!PS\nshowpage\n", tmp_path, "-o", "raw")
        assert [p.job_id for p in gateway.wait_printed(1)] == [job_id]
        assert api.wait_calls("/complete", 1)[0].body["printed"] is True
        stranger = gateway.ini.parent / "stranger.pem"
        stranger.write_bytes(certs.wrong_ca_file.read_bytes())
        os.chmod(stranger, 0o644)
        write_settings(gateway.ini.parent, api.endpoint, ca_file=str(stranger))
        refused = lp_submit(gateway, "Gate", b"%!PS\nshowpage\n", tmp_path, "-o", "raw")
        deadline = time.monotonic() + 10
        while "CERTIFICATE_VERIFY_FAILED" not in gateway.error_log(100):
            assert time.monotonic() < deadline, gateway.error_log()
            time.sleep(0.1)
        assert len(gateway.printed()) == 1 and len(api.calls("/authorize")) == 1
        assert gateway.job_attributes(refused)["job-state"] in (3, 4, 5)  # waits to retry
    finally:
        api.stop()
