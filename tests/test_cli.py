# SPDX-License-Identifier: GPL-3.0-or-later
"""The `releasestation` command against real cupsd and the store: exit codes and output."""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from releasestation.cli import build_parser, main, set_log_levels


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


def test_user_set_changes_a_local_user_and_keeps_the_cards(local_station, capsys):
    """A local user added without an address gets one later (a PIN reset needs it),
    without losing the cards `user remove` would take."""
    path = local_station
    assert run(capsys, path, "user", "add", "dave")[0] == 0
    assert run(capsys, path, "card", "add", "dave", "0012345678")[0] == 0
    code, out, _ = run(capsys, path, "user", "set", "dave", "--email", "dave@example.org",
                       "--cost-center", "4711")  # fmt: skip
    assert code == 0 and "changed email, cost_center of dave" in out
    code, out, _ = run(capsys, path, "user", "list")
    [line] = [row for row in out.splitlines() if row.startswith("dave")]
    assert "dave@example.org" in line and "4711" in line and line.split()[-1] == "1"
    assert run(capsys, path, "user", "set", "dave", "--cost-center", "")[0] == 0
    assert "4711" not in run(capsys, path, "user", "list")[1]
    code, _, err = run(capsys, path, "user", "set", "dave")
    assert code == 1 and "nothing to change" in err
    code, _, err = run(capsys, path, "user", "set", "nobody", "--email", "x@example.org")
    assert code == 1 and "no user 'nobody'" in err


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


def test_db_upgrade_says_what_it_did(write_config, db_url, capsys, tmp_path):
    """An admin upgrading the package runs `db upgrade` on last release's store: the
    answer names the revisions it was at and is at now, not just "up to date"."""
    from sqlalchemy import create_engine, inspect

    from releasestation.store.migrate import upgrade

    path = write_config()
    engine = create_engine(db_url)
    upgrade(engine, "0002_credentials")
    upgrade(engine, "0005_mail_messages")  # the release before the offline directory
    code, out, _ = run(capsys, path, "db", "upgrade")
    assert code == 0
    assert "database upgraded from 0002_credentials, 0005_mail_messages to " in out
    assert "0006_offline_directory" in out
    assert {"offline_users", "offline_cards"} <= set(inspect(engine).get_table_names())
    engine.dispose()
    code, out, _ = run(capsys, path, "db", "upgrade")
    assert code == 0 and out.startswith("database is up to date (at 0002_credentials")
    fresh = tmp_path / "fresh.ini"
    fresh.write_text(path.read_text().replace(db_url, f"sqlite:///{tmp_path}/fresh.db"))
    assert run(capsys, fresh, "db", "upgrade")[1].startswith("database created (at ")


def test_status_on_an_unmigrated_store_says_to_run_db_upgrade(write_config, capsys):
    path = write_config()
    code, out, err = run(capsys, path, "status")
    assert code == 1, out + err
    assert "FAIL  database: database is empty: run `releasestation db upgrade`" in out
    assert "no such table" not in out + err


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


# -- options before or after the command -----------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


def parsed(argv: list[str]) -> dict:
    return {k: v for k, v in vars(build_parser().parse_args(argv)).items() if k != "handler"}


@pytest.mark.parametrize(
    "command",
    [["run"], ["demo", "--keep"], ["check"], ["jobs", "alice"], ["user", "add", "bob"],
     ["card", "list"], ["pin", "reset", "bob"], ["db", "upgrade"], ["audit", "verify"],
     ["report", "--by", "printer"]],
)  # fmt: skip
def test_common_options_work_before_or_after_every_command(command):
    before = parsed(["--config", "/x.ini", "-v", *command])
    assert before["config"] == "/x.ini" and before["verbose"] == 1
    assert parsed([*command, "--config", "/x.ini", "-v"]) == before
    assert parsed([*command[:1], "-c", "/x.ini", *command[1:], "--verbose"]) == before
    assert parsed(["-q", *command])["verbose"] == parsed([*command, "--quiet"])["verbose"] == -1
    assert parsed(command)["config"] is None and parsed(command)["verbose"] == 0


def test_v_adds_up_anywhere_and_otherwise_the_last_one_given_wins():
    assert parsed(["-v", "user", "-v", "add", "bob", "-v"])["verbose"] == 3
    assert parsed(["-c", "/before.ini", "run", "-c", "/after.ini"])["config"] == "/after.ini"
    assert parsed(["-v", "run", "-q"])["verbose"] == -1
    assert parsed(["-q", "run", "-v"])["verbose"] == 1


def test_run_with_config_after_the_command_reports_the_config_error(tmp_path, capsys):
    missing = tmp_path / "missing.ini"
    assert main(["run", "--config", str(missing)]) == 2
    assert f"cannot read config file {missing}" in capsys.readouterr().err


@pytest.fixture
def station_script(tmp_path) -> Path:
    """bin/station in a copy of the tree whose bin/setup does nothing (the real one may
    install packages) and whose .venv is the one running the tests."""
    if not (Path(sys.prefix) / "bin" / "releasestation").exists():
        pytest.skip("the releasestation command is not installed in this environment")
    (tmp_path / "tree" / "bin").mkdir(parents=True)
    script = tmp_path / "tree" / "bin" / "station"
    shutil.copy(ROOT / "bin" / "station", script)
    (tmp_path / "tree" / "bin" / "setup").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "tree" / "bin" / "setup").chmod(0o755)
    (tmp_path / "tree" / ".venv").symlink_to(sys.prefix)
    return script


@pytest.mark.parametrize(
    "args", [["--config", "{}"], ["-c", "{}"], ["--config={}", "-v"], ["-q", "-c{}"]]
)
def test_bin_station_runs_the_daemon_with_the_config_given(station_script, tmp_path, args):
    missing = tmp_path / "missing.ini"
    env = {k: v for k, v in os.environ.items() if k != "RELEASESTATION_CONFIG"}
    argv = [str(station_script), *(a.format(missing) for a in args)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"config error:\n  cannot read config file {missing}" in done.stderr
    assert "unrecognized arguments" not in done.stderr


# -- log levels -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("verbose", "default", "own", "libraries"),
    [(0, "info", logging.INFO, logging.WARNING), (0, "debug", logging.DEBUG, logging.WARNING),
     (0, "error", logging.ERROR, logging.ERROR), (1, "error", logging.INFO, logging.WARNING),
     (2, "info", logging.DEBUG, logging.DEBUG), (-1, "debug", logging.ERROR, logging.ERROR)],
)  # fmt: skip
def test_libraries_log_warnings_only_unless_v_v(verbose, default, own, libraries):
    set_log_levels(verbose, default)
    for name in ("releasestation.daemon", "readers.papercut", "credgen.batch"):
        assert logging.getLogger(name).getEffectiveLevel() == own
    # (sqlalchemy sets its own logger to WARNING: its SQL log is `echo`, not a level)
    for name in ("alembic.runtime.migration", "ldap3", "aiosmtpd", "urllib3"):
        assert logging.getLogger(name).getEffectiveLevel() == libraries
