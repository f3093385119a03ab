# SPDX-License-Identifier: GPL-3.0-or-later
"""The README's run command with no config: the self-contained demo on a private cupsd."""

import os
import subprocess
from pathlib import Path

import pytest

from releasestation.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_demo_prints_only_alices_jobs(capsys):
    assert main(["demo"]) == 0
    out, err = capsys.readouterr()
    assert "PRINTED  job 1 'Quarterly report' of alice" in out
    assert "PRINTED  job 2 'Boarding pass' of CORP\\alice" in out
    assert "HELD     job 3 'Payslip' of bob" in out
    assert "demo: OK: only alice's jobs printed" in out
    assert "0012345678" not in out
    assert "alembic" not in err and "sqlalchemy" not in err, "libraries log warnings only"
    assert "INFO releasestation.secret: created a new site secret" in err, "the station's log"


def test_bin_station_without_config_runs_the_demo(tmp_path):
    if Path("/etc/releasestation/releasestation.ini").exists():
        pytest.skip("this machine has a real station config: bin/station would run it")
    env = {k: v for k, v in os.environ.items() if k != "RELEASESTATION_CONFIG"}
    done = subprocess.run(
        [str(ROOT / "bin" / "station")], env=env, text=True, timeout=120,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert "demo: OK: only alice's jobs printed" in done.stdout
    lines = done.stdout.splitlines()
    story = next(i for i, line in enumerate(lines) if line.startswith("demo: "))
    assert not [line for line in lines[:story] if " INFO " in line], "the story comes first"
    assert "alembic" not in done.stdout
