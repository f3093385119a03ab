# SPDX-License-Identifier: GPL-3.0-or-later
"""The `releasestation` command against real cupsd and the store: exit codes and output."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from releasestation.cli import main


def run(capsys, path, *args, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["--config", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def local_station(write_config, capsys):
    path = write_config()
    assert run(capsys, path, "db", "upgrade")[0] == 0
    return path


def test_users_and_cards(local_station, capsys, monkeypatch):
    path = local_station
    assert run(capsys, path, "user", "add", "alice", "--email", "a@example.org")[0] == 0
    code, _, err = run(capsys, path, "user", "add", "ALICE")
    assert code == 1 and "already exists" in err
    code, out, _ = run(capsys, path, "card", "add", "alice", "-", stdin="0012345678\n",
                       monkeypatch=monkeypatch)  # fmt: skip
    assert code == 0 and "card ending 5678 bound to alice" in out
    code, out, _ = run(capsys, path, "card", "list")
    assert "…5678" in out and "0012345678" not in out
    code, _, err = run(capsys, path, "card", "add", "bob", "0087654321")
    assert code == 1 and "no user 'bob'" in err
    code, out, _ = run(capsys, path, "user", "list")
    assert "alice" in out and "a@example.org" in out
    assert run(capsys, path, "card", "remove", "0012345678")[0] == 0
    assert run(capsys, path, "card", "remove", "0012345678")[0] == 1
    assert run(capsys, path, "user", "remove", "alice")[0] == 0
    assert run(capsys, path, "user", "remove", "alice")[0] == 1


def test_jobs_and_admin_release(local_station, capsys, cups_clean):
    path = local_station
    run(capsys, path, "user", "add", "alice")
    mine = cups_clean.submit("CORP\\alice", "mine")
    cups_clean.submit("bob", "not mine")
    code, out, _ = run(capsys, path, "jobs")
    assert code == 0 and "CORP\\alice" in out and "bob" in out
    code, out, _ = run(capsys, path, "jobs", "alice")
    assert "mine" in out and "not mine" not in out
    code, out, _ = run(capsys, path, "release", "alice")
    assert code == 0 and f"released job {mine}" in out
    assert [p.job_id for p in cups_clean.wait_printed(1)] == [mine]
    code, out, _ = run(capsys, path, "release", "alice")
    assert code == 0 and "no held jobs" in out


def test_check_passes_on_the_shipped_policy(local_station, capsys):
    run(capsys, local_station, "user", "list")  # creates the secret file
    code, out, _ = run(capsys, local_station, "check")
    assert code == 0, out
    assert "FAIL" not in out


def test_check_fails_on_the_default_policy(write_config, capsys, cups_default_clean):
    path = write_config(cups=cups_default_clean.socket)
    main(["--config", str(path), "db", "upgrade"])
    code, out, _ = run(capsys, path, "check")
    assert code == 1
    assert "FAIL  cupsd, hold queues and policy" in out


def test_check_reports_unreachable_cupsd_and_unmigrated_db(write_config, capsys, tmp_path):
    path = write_config(cups=str(tmp_path / "no-such.sock"))
    code, out, _ = run(capsys, path, "check")
    assert code == 1
    assert "FAIL  database" in out and "releasestation db upgrade" in out
    assert "FAIL  cupsd, hold queues and policy" in out


def test_config_errors_exit_2_naming_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.ini"
    bad.write_text("[station]\nhold_queues = Secure\ndebounce = 3\n")
    code = main(["--config", str(bad), "check"])
    assert code == 2
    expected = "[station] debounce: unknown key (did you mean 'debounce_seconds'?)"
    assert expected in capsys.readouterr().err


def test_unreachable_database_exits_3(write_config, capsys, tmp_path):
    path = write_config()
    text = path.read_text().replace("url = ", "url = postgresql+psycopg://nobody@127.0.0.1:1/x#")
    path.write_text(text)
    code, _, err = run(capsys, path, "user", "list")
    assert code == 3 and "database" in err


def test_config_shows_secrets_masked(write_config, capsys):
    ldap = "type = ldap\nuri = ldap://x\nbase_dn = dc=x\nbind_password = s3cret"
    path = write_config(directory=ldap)
    code, out, _ = run(capsys, path, "config")
    assert code == 0 and "s3cret" not in out and "bind_password = ********" in out


def test_daemon_notifies_systemd_and_stops_on_sigterm(write_config, tmp_path, terminal):
    reader = f"\n[reader:desk]\ntype = papercut\nhost = 127.0.0.1\nport = {terminal.port}\n"
    path = write_config(readers=reader)
    assert main(["--config", str(path), "db", "upgrade"]) == 0
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(20)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "releasestation", "--config", str(path), "run"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert notify.recv(1024).startswith(b"READY=1")
        terminal.wait_connections(1, timeout=10)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 3, "SIGTERM stops the daemon promptly"
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    assert b"received SIGTERM, stopping" in proc.stdout.read()


def test_daemon_refuses_an_unmigrated_database(write_config, capsys, terminal):
    reader = f"\n[reader:desk]\ntype = papercut\nhost = 127.0.0.1\nport = {terminal.port}\n"
    code, _, err = run(capsys, write_config(readers=reader), "run")
    assert code == 1 and "db upgrade" in err
