# SPDX-License-Identifier: GPL-3.0-or-later
"""The demo's portal, tried as a newcomer would: `releasestation demo --keep`, log in as
alice with the password it printed, send a PDF, see it held, release it, and the demo says
it printed; SIGTERM then stops everything as Ctrl-C does. Without `--keep` the portal
stops when the demo's story ends."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.fixtures.web import Script, pdf

ROOT = Path(__file__).resolve().parent.parent


class Lines:
    """A process's stdout, line by line, waited for with a timeout."""

    def __init__(self, process: subprocess.Popen[str]):
        self.seen: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line like {pattern!r} in:\n" + "\n".join(self.seen))


@pytest.fixture
def demo():
    env = {k: v for k, v in os.environ.items() if k != "RELEASESTATION_CONFIG"}
    process = subprocess.Popen(
        [sys.executable, "-m", "releasestation", "demo", "--keep"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        yield process, Lines(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_newcomer_sends_a_pdf_through_the_demos_portal(demo):
    process, lines = demo
    url = lines.wait_for(r"^demo: web portal at (http://127\.0\.0\.1:\d+)/$").group(1)
    password = lines.wait_for(r"^demo:   log in as alice with password (\S+)$").group(1)
    lines.wait_for(r"^demo: OK: only alice's jobs printed$")
    lines.wait_for(r"^demo: still serving")
    script = Script(url)
    assert script.log_in("alice", password).status == 200
    sent = script.upload(pdf(3), "Newcomer.pdf")
    assert sent.status == 201 and sent.json()["pages"] == 3
    job = sent.json()["id"]
    assert [j["id"] for j in script.request("/api/v1/jobs").json()] == [job]
    assert script.post_api(f"/api/v1/jobs/{job}/release").status == 200
    lines.wait_for(rf"^demo: PRINTED  job {job} 'Newcomer.pdf' of alice$", timeout=15)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def test_the_demo_without_keep_stops_its_portal_when_the_story_ends():
    env = {k: v for k, v in os.environ.items() if k != "RELEASESTATION_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "releasestation", "demo"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"web portal at http://127\.0\.0\.1:(\d+)/ while the demo runs \(--keep",
                      done.stdout)  # fmt: skip
    assert found, done.stdout
    assert "the station and the portal have stopped. `bin/station --keep`" in done.stdout
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(found.group(1))), timeout=2).close()
