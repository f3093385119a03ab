# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation gateway check`: what would stop the installed gateway from working.

Checks, as cupsd will run the backend: the backend file (root's, not writable by others),
that its account (`lp` for a 0755 backend) can read the INI, the token file and the CA
file, the token file's mode, that the endpoint answers and accepts the token (an empty
authorize request: any answer but 401 means the token was taken; the station's API says
400), and cupsd's retry settings. Each finding is one line; problems make the exit code 1.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from releasestation.gateway.client import ApiClient, ApiUnavailable
from releasestation.gateway.install import BACKEND_NAME, CUPSD_CONF, file_problems, retry_notes
from releasestation.gateway.settings import GatewaySettings


@dataclass
class Findings:
    ok: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check(
    settings: GatewaySettings, config_path: str, serverbin: str, cupsd_conf: str = CUPSD_CONF
) -> Findings:
    found = Findings()
    backend = Path(serverbin) / "backend" / BACKEND_NAME
    account = _backend_account(backend, found)
    for what, path in (("the config", config_path), ("token_file", settings.token_file),
                       ("ca_file", settings.ca_file)):  # fmt: skip
        if path:
            _readable_by(account, what, path, found)
    if settings.token_file:
        _token_file(settings.token_file, account, found)
    _endpoint(settings, found)
    found.notes += retry_notes(cupsd_conf)
    return found


def _backend_account(backend: Path, found: Findings) -> str:
    if not backend.is_file():
        found.problems.append(f"{backend} is missing: run `releasestation gateway install`")
        return "lp"
    found.problems += file_problems(backend)
    mode = stat.S_IMODE(backend.stat().st_mode)
    account = "root" if mode & 0o077 == 0 else "lp"
    found.ok.append(f"{backend}: mode {mode:04o}, cupsd runs it as {account}")
    return account


def _readable_by(account: str, what: str, path: str, found: Findings) -> None:
    if account == "root" or os.geteuid() != 0:
        if not os.access(path, os.R_OK):
            found.problems.append(f"{what} {path} cannot be read")
        return
    done = subprocess.run(["runuser", "-u", account, "--", "test", "-r", path],
                          capture_output=True, timeout=30, check=False)  # fmt: skip
    if done.returncode:
        found.problems.append(f"{what} {path} cannot be read by {account}")
    else:
        found.ok.append(f"{account} can read {what} {path}")


def _token_file(path: str, account: str, found: Findings) -> None:
    try:
        info = os.stat(path)
    except OSError as exc:
        found.problems.append(f"token_file {path}: {exc.strerror}")
        return
    if stat.S_IMODE(info.st_mode) & 0o077:
        found.problems.append(f"token_file {path} must be 0600 (it is {info.st_mode & 0o777:04o})")
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    if owner != account:
        found.notes.append(f"token_file {path} belongs to {owner}, the backend runs as {account}")


def _endpoint(settings: GatewaySettings, found: Findings) -> None:
    if not settings.endpoint:
        found.problems.append(f"[gateway] endpoint is not set: every job meets "
                              f"on_api_error = {settings.on_api_error}")  # fmt: skip
        return
    try:
        answer = ApiClient(settings).authorize({})
    except ApiUnavailable as exc:
        found.problems.append(f"{settings.endpoint}: no answer ({exc})")
        return
    if answer.status == 401:
        found.problems.append(f"{settings.endpoint}: the token was refused (401)")
    else:
        found.ok.append(f"{settings.endpoint} answers ({answer.status} to an empty request)")
