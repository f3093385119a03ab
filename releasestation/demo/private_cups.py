# SPDX-License-Identifier: GPL-3.0-or-later
"""A private cupsd in a temporary directory: `releasestation demo`'s printer, and the tests'
and the bench's.

It listens only on a domain socket inside its directory (`PrivateCups.socket`, usable as
`CupsSettings.server`), runs in the foreground as a child process (never a stray daemon),
and prints through the `capture` backend, so what "came out of the printer" can be read
back with `printed()`. Raw queues; no TCP port; no browsing.

policy="hardened" gives hold queues and printers the shipped releasestation policy
(`releasestation/data/cups-policy.conf`, exactly, with the station's account filled in);
policy="default" leaves them on the distribution's stock `<Policy default>`.

cupsd runs with the glibc tunables the shipped systemd drop-in gives a station's cupsd
(its heap in transparent huge pages); `stock=True` starts it without them, as a
distribution's cups.service does.

cupsd refuses `User root`: run as root it runs with `User lp`/`Group lp` and owns its spool
accordingly (the capture backend alone, mode 0700, runs as root so that captures can live
anywhere); run as another user, cupsd runs everything as that user.
"""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cups

from releasestation.demo.private_setup import (
    cupsd_conf,
    cupsd_environment,
    files_conf,
    install_server_bin,
    stock_default_policy,
)
from releasestation.errors import PrintServerError
from releasestation.printq.policy import POLICY_NAME, render_policy

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0  # seconds; cupsd reloads every held job from the spool at start
STOP_TIMEOUT = 5.0
RAW = "application/vnd.cups-raw"
DEFAULT_DATA = b"%!PS-Adobe-3.0\n%%Title: releasestation test page\nshowpage\n"


@dataclass(frozen=True)
class Captured:
    """One job as the capture backend received it."""

    job_id: int
    user: str
    title: str
    queue: str
    data: bytes
    copies: int = 1

    def __repr__(self) -> str:
        return f"Captured(#{self.job_id} {self.user!r} {self.title!r} on {self.queue})"


class PrivateCups:
    """A real cupsd of our own; a context manager that starts it and removes it all after."""

    def __init__(
        self,
        root: Path | None = None,
        policy: str = "hardened",
        station_user: str | None = None,
        stock: bool = False,
    ):
        if policy not in ("hardened", "default"):
            raise ValueError(f"policy must be 'hardened' or 'default', not {policy!r}")
        self.policy = policy
        self.station_user = station_user or _current_user()
        self.stock = stock
        self._made_root = root is None
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="rs-cups-"))
        self.socket = str(self.root / "cups.sock")
        self.captures = self.root / "capture"
        self.tally = self.root / "tally"  # what the `tally` queues printed, a line a job
        self.queues: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None

    # -- life cycle ---------------------------------------------------------------------

    def __enter__(self) -> PrivateCups:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """cupsd's process id while it runs."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> None:
        """Start cupsd (set up its directory first) and wait until it answers."""
        if self.running:
            return
        self._prepare()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket)
        out = (self.root / "log" / "cupsd.out").open("ab")
        with out:
            self._proc = subprocess.Popen(
                [_cupsd(), "-f", "-c", str(self._conf("cupsd.conf")), "-s", str(self._files())],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.cupsd_env(),
            )
        self._wait_ready()
        log.debug("private cupsd %d listening on %s", self._proc.pid, self.socket)

    def cupsd_env(self) -> dict[str, str]:
        """The environment cupsd starts with (private_setup.cupsd_environment)."""
        return cupsd_environment(os.environ, self.stock)

    def stop(self) -> None:
        """Stop cupsd (SIGTERM, then SIGKILL); its spool and queues stay for start()."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        """SIGHUP: cupsd rereads its configuration and reopens its socket; wait for that."""
        if self._proc is None or not self.running:
            raise PrintServerError(f"private cupsd in {self.root} is not running")
        before = _inode(self.socket)
        self._proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if _inode(self.socket) not in (None, before) and _accepts(self.socket):
                return
            time.sleep(0.01)
        raise PrintServerError(
            f"private cupsd in {self.root} did not come back:\n{self.error_log()}"
        )

    def close(self) -> None:
        """Stop cupsd and remove the directory if this object made it."""
        self.stop()
        if self._made_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def error_log(self, lines: int = 30) -> str:
        """The tail of cupsd's error_log (and its console output)."""
        text = ""
        for name in ("cupsd.out", "error_log"):
            path = self.root / "log" / name
            if path.exists():
                text += path.read_text("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self) -> None:
        proc = self._proc
        deadline = time.monotonic() + START_TIMEOUT
        while proc is not None and time.monotonic() < deadline:
            if proc.poll() is not None:
                self._proc = None
                raise PrintServerError(
                    f"private cupsd in {self.root} exited at start:\n{self.error_log()}"
                )
            if _accepts(self.socket):
                return
            time.sleep(0.01)
        self.stop()
        raise PrintServerError(
            f"private cupsd in {self.root} did not listen on {self.socket} within "
            f"{START_TIMEOUT:.0f} s:\n{self.error_log()}"
        )

    # -- set-up ---------------------------------------------------------------------------

    def _prepare(self) -> None:
        user, group = self._run_as()
        for sub in ("conf", "spool", "spool/tmp", "state", "cache", "log", "bin/backend"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Clients run as other users (the tests' spoofing attempts) must reach the socket.
        os.chmod(self.root, 0o755)  # noqa: S103
        self.captures.mkdir(exist_ok=True)
        install_server_bin(self.root / "bin", as_root=os.geteuid() == 0)
        system_group = "root" if os.geteuid() == 0 else group
        self._files().write_text(files_conf(self.root, user, group, system_group))
        self._conf("cupsd.conf").write_text(self._cupsd_conf())

    def _run_as(self) -> tuple[str, str]:
        if os.geteuid() == 0:
            return "lp", "lp"
        return _current_user(), grp.getgrgid(os.getegid()).gr_name

    def _conf(self, name: str) -> Path:
        return self.root / "conf" / name

    def _files(self) -> Path:
        return self._conf("cups-files.conf")

    def _cupsd_conf(self) -> str:
        policies = [stock_default_policy()]
        if self.policy == "hardened":
            policies.append(render_policy(self.station_user))
        return cupsd_conf(self.socket, policies)

    # -- queues ---------------------------------------------------------------------------

    def add_hold_queue(
        self, name: str, discard: bool = False, print_seconds: float = 0, tally: bool = False
    ) -> None:
        """A raw capture queue that holds every job (job-hold-until-default=indefinite);
        with `discard`, released jobs are thrown away instead of captured (benchmarks),
        each after `print_seconds`, as a printer takes a while over each job; with `tally`,
        each job that comes out is only counted (`tallied`)."""
        if print_seconds and not discard:
            raise ValueError("print_seconds is for a discard queue")
        if not 0 <= print_seconds <= 60:
            raise ValueError(f"print_seconds must be between 0 and 60, not {print_seconds!r}")
        self._add_queue(
            name, "-o", "job-hold-until-default=indefinite", discard=discard, pace=print_seconds,
            tally=tally,
        )  # fmt: skip

    def add_printer(self, name: str, tally: bool = False) -> None:
        """A raw capture queue that prints at once: a follow-me target (with `tally`, one
        that only counts what comes out)."""
        self._add_queue(name, tally=tally)

    def _add_queue(
        self, name: str, *extra: str, discard: bool = False, pace: float = 0, tally: bool = False
    ) -> None:
        if discard and tally:
            raise ValueError("a queue either discards or tallies its jobs")
        policy = ["-o", f"printer-op-policy={POLICY_NAME}"] if self.policy == "hardened" else []
        uri = f"capture:{self.captures}"
        if discard:
            uri = f"discard:/{pace:.6f}" if pace else "discard:/"
        elif tally:
            uri = f"tally:{self.tally}"
        self._run("lpadmin", "-p", name, "-E", "-v", uri, *policy, *extra)
        if name not in self.queues:
            self.queues.append(name)

    def stop_printer(self, name: str, reason: str = "stopped by test") -> None:
        self._run("cupsdisable", "-r", reason, name)

    def start_printer(self, name: str) -> None:
        self._run("cupsenable", name)

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [_tool(tool), "-h", self.socket, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            env=self.client_env(),
            check=False,
        )
        if done.returncode:
            raise PrintServerError(
                f"{tool} {' '.join(args)} failed at {self.socket}: {done.stderr.strip()}"
            )
        return done

    def client_env(self) -> dict[str, str]:
        """Environment for CUPS command-line clients aimed at this cupsd."""
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CUPS_SERVER": self.socket}

    # -- jobs -----------------------------------------------------------------------------

    def submit(
        self, user: str, title: str, data: bytes = DEFAULT_DATA, queue: str = "Secure"
    ) -> int:
        """Submit one job owned by `user` (as the requesting-user-name) and return its id."""
        return self.submit_many([(user, title)], queue, data)[0]

    def submit_many(
        self, jobs: Iterable[tuple[str, str]], queue: str = "Secure", data: bytes = DEFAULT_DATA
    ) -> list[int]:
        """Submit (owner, title) pairs as fast as one connection allows; return the job ids."""
        if not isinstance(data, bytes):  # pycups crashes the process on anything else
            raise TypeError(f"job data must be bytes, not {type(data).__name__}")
        with self._submitting() as conn:
            return [self._submit_one(conn, user, title, queue, data) for user, title in jobs]

    @contextlib.contextmanager
    def _submitting(self) -> Iterator[cups.Connection]:
        # A fresh, never-authenticated connection: an authenticated one would make every
        # job the station's, whatever requesting-user-name says.
        before = cups.getUser()
        try:
            yield cups.Connection(host=self.socket)
        except (cups.IPPError, RuntimeError) as exc:
            raise PrintServerError(f"cannot submit to {self.socket}: {exc}") from exc
        finally:
            cups.setUser(before)

    @staticmethod
    def _submit_one(conn: cups.Connection, user: str, title: str, queue: str, data: bytes) -> int:
        cups.setUser(user)
        job_id: int = conn.createJob(queue, title, {})
        conn.startDocument(queue, job_id, title, RAW, 1)
        conn.writeRequestData(data, len(data))
        conn.finishDocument(queue)
        return job_id

    def reset(self) -> None:
        """Cancel and purge every job, clear the captures, re-enable every queue."""
        self._run("cancel", "-a", "-x")
        for name in self.queues:
            self.start_printer(name)
        for path in self.captures.iterdir():
            path.unlink()
        self.tally.unlink(missing_ok=True)

    # -- what came out ----------------------------------------------------------------------

    def printed(self) -> list[Captured]:
        """Every job the capture backend has received, by job id."""
        out = []
        for meta_path in self.captures.glob("*.json"):
            meta = json.loads(meta_path.read_text("utf-8"))
            data = meta_path.with_suffix(".data").read_bytes()
            out.append(
                Captured(
                    job_id=meta["job_id"],
                    user=meta["user"],
                    title=meta["title"],
                    queue=meta["queue"],
                    data=data,
                    copies=meta["copies"],
                )
            )
        return sorted(out, key=lambda c: c.job_id)

    def tallied(self) -> list[tuple[int, str]]:
        """(job id, queue) of every job the `tally` queues printed, in the order they came
        out; a job printed twice is there twice."""
        try:
            text = self.tally.read_text("utf-8")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            job_id, _, queue = line.partition(" ")
            if job_id.isdigit():
                out.append((int(job_id), queue))
        return out

    def wait_printed(self, count: int, timeout: float = 10.0) -> list[Captured]:
        """printed(), once at least `count` jobs have come out (or the timeout passed)."""
        deadline = time.monotonic() + timeout
        while True:
            done = self.printed()
            if len(done) >= count or time.monotonic() > deadline:
                return done
            time.sleep(0.02)


def _current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _cupsd() -> str:
    return _tool("cupsd")


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if not found:
        raise PrintServerError(f"{name} not found: install cups-daemon and cups-client")
    return found


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
    return True
