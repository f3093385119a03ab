# SPDX-License-Identifier: GPL-3.0-or-later
"""The print gateway's parts without cupsd: [gateway], a job's arguments, the device URI,
the relay of the real backend's messages, the API client's answers, and the installer."""

from __future__ import annotations

import io
import os
import stat

import pytest

from releasestation import config as config_mod
from releasestation.cli import main
from releasestation.errors import ConfigError
from releasestation.gateway.backend import relay
from releasestation.gateway.client import Answer, ApiClient, ApiUnavailable, read_token
from releasestation.gateway.job import Device, Job, JobError, parse_options
from releasestation.gateway.settings import GatewaySettings

STATION = "[station]\nhold_queues = Secure\n"


def test_gateway_section_is_read_and_checked():
    config = config_mod.parse_text(
        STATION + "[gateway]\nendpoint = https://api.example.org/print\non_refused = hold\n"
        "cost_center_quotas = sales:500, lab:20\ncost_center_quota_pages = 100\n"
    )
    assert config.gateway.endpoint == "https://api.example.org/print"
    assert config.gateway.on_api_error == "retry"
    assert config.gateway.cost_center_limit("sales") == 500
    assert config.gateway.cost_center_limit("other") == 100
    assert config.gateway.cost_center_limit(None) == 0


@pytest.mark.parametrize(
    "line",
    [
        "endpoint = http://api.example.org/",  # clear text off loopback
        "endpoint = https://user:pw@api.example.org/",
        "endpoint = ftp://api.example.org/",
        "on_api_error = ignore",
        "on_refused = print",
        "timeout = 0",
        "cost_center_quotas = sales",
        "quota_period = year",
    ],
)
def test_bad_gateway_settings_are_refused_with_the_key(line):
    with pytest.raises(ConfigError) as caught:
        config_mod.parse_text(STATION + "[gateway]\n" + line + "\n")
    assert f"[gateway] {line.split()[0]}" in str(caught.value) or "[gateway]" in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "localhost"])
def test_plain_http_only_to_loopback(host):
    assert GatewaySettings(endpoint=f"http://{host}:8631/api/v1/gateway").endpoint


def test_options_are_parsed_and_secrets_never_reach_the_payload():
    env = {"PRINTER": "Q", "DEVICE_URI": "printmanager:socket://u:pw@10.0.0.5:9100"}
    options = "job-password=1234 job-uuid=urn:uuid:abc noduplex collate job-billing=CC1"
    job = Job.from_argv(["Q", "7", "alice", "t", "2", options], env)
    device = Device.from_uri(env["DEVICE_URI"])
    payload = job.payload(device)
    assert job.uuid == "urn:uuid:abc" and job.file is None and job.size is None
    assert "job-password" not in payload["job"]["options"]
    assert payload["job"]["options"]["duplex"] == "false"
    assert payload["job"]["options"]["collate"] == "true"
    assert payload["job"]["billing"] == {"job-billing": "CC1"}
    assert payload["device"] == {"scheme": "socket", "host": "10.0.0.5"}
    assert "pw" not in str(payload)


def test_quoted_option_values():
    assert parse_options("a='x y' b=\"1 2\" c") == {"a": "x y", "b": "1 2", "c": "true"}


@pytest.mark.parametrize(
    "uri",
    [
        "socket://printer:9100",  # not ours
        "printmanager:printmanager:socket://p",  # itself
        "printmanager:file:/dev/null",
        "printmanager:../../bin/sh:x",
        "printmanager:Socket://p",
        "printmanager:",
        "printmanager:socket",
    ],
)
def test_device_uris_that_are_refused(uri):
    with pytest.raises(JobError):
        Device.from_uri(uri)


def test_bad_arguments():
    with pytest.raises(JobError):
        Job.from_argv(["Q", "x", "u", "t", "1", ""], {})
    with pytest.raises(JobError):
        Job.from_argv(["Q", "1", "u"], {})


def test_relay_copies_every_line_and_adds_up_pages():
    source = io.BytesIO(b"INFO: start\nPAGE: 1 3\nPAGE: 2 3\nDEBUG: x\n")
    sink = io.BytesIO()
    assert relay(source, sink) == 6
    assert sink.getvalue() == source.getvalue()
    assert relay(io.BytesIO(b"PAGE: total 4\n"), io.BytesIO()) == 4
    assert relay(io.BytesIO(b"INFO: none\n"), io.BytesIO()) is None


@pytest.mark.parametrize(
    ("status", "verdict", "reason"),
    [
        (200, "allow", None),
        (402, "refuse", "account-limit-reached"),
        (403, "refuse", "account-authorization-failed"),
        (409, "hold", None),
        (423, "hold", None),
        (500, "unknown", None),
        (401, "unknown", None),
    ],
)
def test_answers(status, verdict, reason):
    answer = Answer(status, {})
    assert answer.verdict == verdict
    if reason:
        assert answer.reason == reason


def test_an_answers_reason_must_be_a_keyword():
    assert Answer(403, {"reason": "user-not-allowed"}).reason == "user-not-allowed"
    assert Answer(403, {"reason": "Evil\nSTATE: x"}).reason == "account-authorization-failed"


def test_token_file_must_be_private(tmp_path):
    token = tmp_path / "token"
    token.write_text("abc\n")
    os.chmod(token, 0o600)
    assert read_token(str(token)) == "abc"
    os.chmod(token, 0o644)
    with pytest.raises(ApiUnavailable, match="0600"):
        read_token(str(token))


def test_refused_connection_is_unavailable():
    client = ApiClient(GatewaySettings(endpoint="http://127.0.0.1:9/api", timeout=1))
    with pytest.raises(ApiUnavailable):
        client.authorize({})


def test_https_checks_the_certificate(tmp_path):
    client = ApiClient(GatewaySettings(endpoint="https://127.0.0.1:9/api", timeout=1))
    conn = client._connection()
    assert conn._context.verify_mode.name == "CERT_REQUIRED"  # type: ignore[attr-defined]
    assert conn._context.check_hostname  # type: ignore[attr-defined]


@pytest.mark.skipif(os.geteuid() != 0, reason="checks what lp can run: needs root")
def test_install_writes_a_root_owned_0755_backend_and_checks_lp_can_run_it(tmp_path, capsys):
    (tmp_path / "backend").mkdir()
    code = main(
        ["gateway", "install", "--serverbin", str(tmp_path), "--python", "/usr/bin/python3"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    backend = tmp_path / "backend" / "printmanager"
    info = backend.stat()
    assert stat.S_IMODE(info.st_mode) == 0o755 and info.st_uid == 0
    assert backend.read_text().startswith("#!/usr/bin/python3 -I\n")
    assert "lpadmin -p QUEUE -v printmanager:" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="checks what lp can run: needs root")
def test_install_says_what_to_fix_when_lp_cannot_reach_the_interpreter(tmp_path, capsys):
    (tmp_path / "backend").mkdir()
    hidden = tmp_path / "private"
    hidden.mkdir(mode=0o700)
    python = hidden / "python3"
    python.symlink_to("/usr/bin/python3")
    code = main(["gateway", "install", "--serverbin", str(tmp_path), "--python", str(python)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "lp cannot run the gateway" in err and "--mode 0700" in err
    assert "not written (nothing installed)" in err
    assert sorted(p.name for p in (tmp_path / "backend").iterdir()) == [], "no backend left"
    # A working backend is not replaced by one lp cannot run.
    usable = ["--python", "/usr/bin/python3"]
    assert main(["gateway", "install", "--serverbin", str(tmp_path), *usable]) == 0
    working = (tmp_path / "backend" / "printmanager").read_text()
    code = main(["gateway", "install", "--serverbin", str(tmp_path), "--python", str(python)])
    assert code == 1 and "the one there is left as it was" in capsys.readouterr().err
    assert (tmp_path / "backend" / "printmanager").read_text() == working


def test_install_refuses_a_missing_serverbin(tmp_path, capsys):
    code = main(["gateway", "install", "--serverbin", str(tmp_path / "nope")])
    assert code != 0
    assert "not a directory" in capsys.readouterr().err


def test_the_backend_reads_gateway_as_the_config_does():
    from releasestation.gateway.settings import from_values

    raw = {
        "endpoint": "https://api.example.org/p",
        "timeout": "3.5",
        "follow_me_only_released": "no",
        "allowed_groups": "cn=a,dc=example,dc=org; b",
        "quota_pages": "7",
    }
    settings = from_values(raw)
    text = STATION + "[gateway]\n" + "".join(f"{k} = {v}\n" for k, v in raw.items())
    assert settings == config_mod.parse_text(text).gateway
    assert settings.groups == ("cn=a,dc=example,dc=org", "b")
    with pytest.raises(ValueError, match=r"\[gateway\] endpint: unknown key"):
        from_values({"endpint": "https://x"})
    with pytest.raises(ValueError, match=r"\[gateway\] timeout"):
        from_values({"timeout": "soon"})
    with pytest.raises(ValueError, match=r"\[gateway\] on_api_error"):
        from_values({"on_api_error": "shrug"})


def test_install_notes_retry_settings_that_would_abort_jobs_during_an_outage(tmp_path):
    from releasestation.gateway.install import retry_notes

    conf = tmp_path / "cupsd.conf"
    conf.write_text("LogLevel warn\n")
    (note,) = retry_notes(str(conf))  # CUPS's defaults: 30 s x 5
    assert "after 150 s" in note
    conf.write_text("JobRetryInterval 60\nJobRetryLimit 1440\n")
    assert retry_notes(str(conf)) == []
    assert retry_notes(str(tmp_path / "missing.conf")) == []


def test_pages_where_the_file_says_so(tmp_path, monkeypatch):
    from releasestation.gateway import job as job_mod

    def pages(data: bytes) -> int | None:
        path = tmp_path / "doc"
        path.write_bytes(data)
        return job_mod.count_pages(str(path))

    assert pages(b"%!PS-Adobe-3.0\n%%Pages: 7\n%%EndComments\n") == 7
    assert pages(b"%!PS-Adobe-3.0\n%%Pages: (atend)\n") is None
    pdf = b"%PDF-1.4\n" + b"".join(
        b"%d 0 obj << /Type /Page /Parent 2 0 R >> endobj\n" % n for n in range(3, 3 + 500)
    ) + b"2 0 obj << /Type /Pages /Count 500 >> endobj\n" + b"x" * 3000  # fmt: skip
    assert pages(pdf) == 500
    monkeypatch.setattr(job_mod, "PDF_TAIL", 64)
    # Pieces of 1 MiB: put page objects across the boundaries of the reads.
    filler = b"%PDF-1.4\n" + b" " * (1024 * 1024 - 20)
    assert pages(filler + b"/Type /Page\n" * 3 + b" " * (1024 * 1024 - 5) + b"/Type /Pages\n") == 3
    across_head = b"%PDF-1.4\n" + b" " * (65536 - 5 - 9) + b"/Type /Page\n"  # the first read
    assert pages(across_head + b" " * (1024 * 1024 - 3) + b"/Type /Pages /Type /Page") == 2
    assert pages(b"PCL\x1bE") is None
    assert pages(b"%PDF-1.5 compressed object streams only") is None
