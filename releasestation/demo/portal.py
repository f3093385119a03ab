# SPDX-License-Identifier: GPL-3.0-or-later
"""The demo's web portal: `releasestation web` on the demo's config, in a process of its own
(as it runs on a real station, apart from the daemon), on a free loopback port. Its log
goes to a file in the demo's directory; the demo shows its tail if it fails to start."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT = 30.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DemoPortal:
    """`releasestation --config CONFIG web`, listening on 127.0.0.1:`port`."""

    def __init__(self, config: Path, port: int, log: Path):
        self.config = config
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}/"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it and wait until it answers; RuntimeError with its log's tail if not."""
        command = [sys.executable, "-m", "releasestation", "--config", str(self.config), "web"]
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the web portal did not start:\n{tail}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
