# SPDX-License-Identifier: GPL-3.0-or-later
"""`printmanager` — the print gateway backend: ask the API, then run the real backend.

Device URI: `printmanager:<real device URI>`, e.g. `printmanager:socket://printer:9100`.

cupsd runs it as any backend (`printmanager JOB-ID USER TITLE COPIES OPTIONS [FILE]`,
`DEVICE_URI` set; with no arguments it prints its discovery line). It reads `[gateway]`
from the station's INI (`$RELEASESTATION_CONFIG`, else /etc/releasestation/releasestation.ini),
posts the job's description to `<endpoint>/authorize`, and on yes runs
`$CUPS_SERVERBIN/backend/<scheme>` itself: no shell, argv[0] and `DEVICE_URI` the inner URI,
the other arguments unchanged (a FILE stays a file, so the real backend makes the copies
exactly as without the gateway), stdin and the back and side channels (fds 3 and 4)
inherited, SIGTERM forwarded. The data never passes through this process. Its exit code is
returned unchanged, and `<endpoint>/complete` is told how the job ended and the pages the
real backend reported (`PAGE:` lines, relayed to cupsd as they come).

A refusal never stops the queue: the job is cancelled (exit 5) or held (exit 3) with the
reason as job-state-reasons; when the API cannot be asked, `on_api_error` decides, retry
(exit 6: cupsd holds the job for JobRetryInterval and tries it again) by default.
Messages for cupsd's log are `WARNING:` (denials) and `ERROR:` (failures) lines that name
the job id and the reason but never the user (printer-state-message is public).
"""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from releasestation.gateway.client import ALLOW, HOLD, REFUSE, Answer, ApiClient, ApiUnavailable
from releasestation.gateway.job import Device, Job, JobError
from releasestation.gateway.settings import GatewaySettings, from_values

DEFAULT_CONFIG = "/etc/releasestation/releasestation.ini"
CONFIG_ENV = "RELEASESTATION_CONFIG"
DEFAULT_SERVERBIN = "/usr/lib/cups"
DISCOVERY = 'network printmanager "Unknown" "releasestation print gateway"'

# cups/backend.h
OK, FAILED, AUTH_REQUIRED, HOLD_JOB, STOP, CANCEL, RETRY, RETRY_CURRENT = range(8)
RELAY_GRACE = 2.0  # seconds to finish relaying the real backend's messages after it ended
# A completion the API did not take is sent again after these pauses (seconds), with the
# same `completion` id so that the API records it once; then it is given up (logged).
COMPLETE_RETRIES = (1.0, 3.0)
ON_API_ERROR = {"retry": RETRY, "hold": HOLD_JOB, "cancel": CANCEL}
ON_REFUSED = {"cancel": CANCEL, "hold": HOLD_JOB}


class Terminated(Exception):
    """cupsd sent SIGTERM (the job was cancelled or the queue stopped) before we ran the
    real backend."""


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    env = dict(os.environ if env is None else env)
    if len(argv) == 1:
        print(DISCOVERY, flush=True)
        return OK
    gateway = Gateway(env)
    previous = signal.signal(signal.SIGTERM, gateway.on_sigterm)
    try:
        return gateway.run(argv)
    except Terminated:
        say("INFO", "Print gateway: stopped before printing")
        return FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)


def say(level: str, message: str) -> None:
    """One line for cupsd: LEVEL: message (no newlines inside)."""
    text = " ".join(message.split())
    sys.stderr.write(f"{level}: {text}\n")
    sys.stderr.flush()


class Gateway:
    def __init__(self, env: dict[str, str]):
        self.env = env
        self.child: subprocess.Popen[bytes] | None = None
        self.terminated = False
        self.starting = False  # from just before the real backend starts

    def on_sigterm(self, _signo: int, _frame: object) -> None:
        self.terminated = True
        if self.child is not None:
            self.child.send_signal(signal.SIGTERM)
        elif not self.starting:  # still asking: end here, nothing was started
            raise Terminated()

    def run(self, argv: list[str]) -> int:
        try:
            device = Device.from_uri(self.env.get("DEVICE_URI", ""))
            job = Job.from_argv(argv, self.env)
        except JobError as exc:
            say("ERROR", f"Print gateway: {exc}")
            return FAILED
        try:
            settings = load_settings(self.env)
        except (OSError, ValueError, configparser.Error) as exc:
            say("ERROR", f"Print gateway: cannot read its settings ({exc}); job {job.job_id} waits")
            return RETRY
        if device.has_credentials:  # cupsd strips them from a plain URI, not a nested one
            say(
                "WARNING",
                "Print gateway: the device URI holds a user name or password, "
                "which every user can read (lpstat -v); keep them out of it",
            )
        backend = real_backend(self.env, device.scheme)
        if isinstance(backend, str):
            say("ERROR", f"Print gateway: {backend}")
            return FAILED
        client = ApiClient(settings) if settings.endpoint else None
        verdict = self.ask(client, job, device, settings)
        if verdict is not None:
            return verdict
        code, pages = self.print_with(backend, device, argv)
        self.tell(client, job, device, code, pages)
        return code

    def ask(
        self, client: ApiClient | None, job: Job, device: Device, settings: GatewaySettings
    ) -> int | None:
        """None to print, else the exit code that ends the job here."""
        try:
            if client is None:
                raise ApiUnavailable("[gateway] endpoint is not set")
            answer: Answer | None = client.authorize(job.payload(device))
            problem = ""
        except ApiUnavailable as exc:
            answer, problem = None, str(exc)
        if self.terminated:
            raise Terminated()
        if answer is not None and answer.verdict == ALLOW:
            say("DEBUG", f"Print gateway: job {job.job_id} allowed")
            return None
        if answer is not None and answer.verdict in (REFUSE, HOLD):
            reason = answer.reason
            action = settings.on_refused if answer.verdict == REFUSE else "hold"
            print(f"JOBSTATE: {reason}", file=sys.stderr, flush=True)
            say("WARNING", f"Print gateway: job {job.job_id} {_done(action)} ({reason})")
            return ON_REFUSED[action]
        if answer is not None:
            problem = f"the API answered {answer.status}"
        action = settings.on_api_error
        say("ERROR", f"Print gateway: cannot ask the API for job {job.job_id}: {problem}; "
                     f"{'printing anyway' if action == 'print' else _done(action)}")  # fmt: skip
        return None if action == "print" else ON_API_ERROR[action]

    def print_with(self, backend: Path, device: Device, argv: list[str]) -> tuple[int, int | None]:
        """Run the real backend; (its exit code, the pages it reported or None)."""
        env = dict(self.env, DEVICE_URI=device.inner_uri)
        fds = tuple(fd for fd in (3, 4) if _is_open(fd))
        self.starting = True  # a SIGTERM now must not leave a real backend untracked
        self.child = child = subprocess.Popen(
            [device.inner_uri, *argv[1:]],
            executable=str(backend),
            env=env,
            stdin=None,
            stdout=None,
            stderr=subprocess.PIPE,
            pass_fds=fds,
            close_fds=True,
        )
        if self.terminated:  # SIGTERM while it was being started
            child.send_signal(signal.SIGTERM)
        relayed: list[int | None] = [None]
        relaying = threading.Thread(
            target=lambda: relayed.__setitem__(0, relay(child.stderr, sys.stderr.buffer)),
            daemon=True,
        )
        relaying.start()
        # Wait for the real backend itself, not for the end of its stderr: a process it left
        # behind may hold that open long after it ended.
        code = self.child.wait()
        relaying.join(RELAY_GRACE)
        pages = relayed[0]
        if code < 0:
            say("ERROR", f"Print gateway: the {device.scheme} backend ended by signal {-code}")
            return FAILED, pages
        return code, pages

    def tell(
        self, client: ApiClient | None, job: Job, device: Device, code: int, pages: int | None
    ) -> None:
        if client is None:
            return
        payload: dict[str, Any] = {
            "job": {"id": job.job_id, "uuid": job.uuid, "user": job.user},
            "queue": {"name": job.queue},
            "device": device.describe(),
            "exit_code": code,
            "printed": code == OK,
            "pages": pages,
            "completion": os.urandom(8).hex(),  # the same on every try of this one
        }
        for pause in (*COMPLETE_RETRIES, None):
            try:
                answer = client.complete(payload)
            except ApiUnavailable as exc:
                problem = f"could not report job {job.job_id} as done: {exc}"
            else:
                if answer.status < 300:
                    return
                problem = f"the API answered {answer.status} to job {job.job_id}'s completion"
                if answer.status < 500:  # the API refuses it: trying again changes nothing
                    break
            if pause is None:
                break
            time.sleep(pause)
        say("ERROR", f"Print gateway: {problem}")


def relay(source: IO[bytes] | None, sink: IO[bytes]) -> int | None:
    """Copy the real backend's stderr to ours line by line; the pages its `PAGE:` lines
    add up to (`PAGE: N COPIES`, or `PAGE: total N`), None if it gave none."""
    pages: int | None = None
    for line in source or ():
        sink.write(line)
        sink.flush()
        if line.startswith(b"PAGE:"):
            words = line[5:].split()
            if len(words) == 2 and words[0] == b"total" and words[1].isdigit():
                pages = int(words[1])
            elif len(words) == 2 and words[1].isdigit():
                pages = (pages or 0) + int(words[1])
    return pages


def load_settings(env: Mapping[str, str]) -> GatewaySettings:
    """[gateway] of the station's INI, alone (the backend needs nothing else)."""
    path = env.get(CONFIG_ENV) or DEFAULT_CONFIG
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=(";", "#"), empty_lines_in_values=False
    )
    with open(path, encoding="utf-8") as f:
        parser.read_file(f, source=path)
    raw = dict(parser.items("gateway")) if parser.has_section("gateway") else {}
    return from_values(raw)


def real_backend(env: Mapping[str, str], scheme: str) -> Path | str:
    """The real backend's path, or what is wrong with it."""
    path = Path(env.get("CUPS_SERVERBIN") or DEFAULT_SERVERBIN) / "backend" / scheme
    if not path.is_file():
        return f"no {scheme} backend in {path.parent}"
    if not os.access(path, os.X_OK):
        return (f"the {scheme} backend cannot be run by this account (root-only?); "
                "install the gateway with --mode 0700 to wrap it")  # fmt: skip
    return path


def _done(action: str) -> str:
    return {"cancel": "cancelled", "hold": "held", "retry": "will be retried"}[action]


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
