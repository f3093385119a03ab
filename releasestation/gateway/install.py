# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation gateway install`: put the `printmanager` backend in CUPS's backend/.

The backend is a small executable file (not a link: cupsd checks the file's owner and mode)
that starts this package's `releasestation.gateway.backend` with a chosen interpreter,
isolated from the caller's environment (`python3 -I`) and with the package's directory on
its path. cupsd runs a backend that is mode 0755 as its `User` (`lp`), and one that is 0700
as root: with 0755, `lp` must be able to run the interpreter and read the package (a
virtual environment under /root is out of its reach), which `check_reachable` proves by
running the import as that account.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import releasestation

BACKEND_NAME = "printmanager"
DEFAULT_SERVERBIN = "/usr/lib/cups"
RUN_AS = "lp"
TEMPLATE = """#!{python} -I
# SPDX-License-Identifier: GPL-3.0-or-later
# The releasestation print gateway (docs/gateway.md), written by `releasestation gateway
# install`. Device URI: printmanager:<the real device URI>.
import sys
import types

sys.path.insert(0, {path!r})
# cupsd starts a backend for every job: load the gateway without the releasestation
# package's __init__ (which imports the reader drivers), the one start-up cost worth saving.
package = types.ModuleType("releasestation")
package.__path__ = [{package!r}]
sys.modules.setdefault("releasestation", package)
from releasestation.gateway.backend import main

sys.exit(main())
"""


CUPSD_CONF = "/etc/cups/cupsd.conf"
# CUPS 2.4's defaults: a job the gateway asks cupsd to retry is aborted after 5 tries 30 s
# apart. An API outage should not lose jobs that soon.
RETRY_DEFAULTS = {"jobretryinterval": 30, "jobretrylimit": 5}
RETRY_WANTED_SECONDS = 3600


@dataclass(frozen=True)
class Installed:
    path: Path
    mode: int
    problems: list[str]
    notes: list[str] = field(default_factory=list)
    installed: bool = True  # False: a problem kept it from replacing what was there


def package_root() -> str:
    """The directory holding the `releasestation` package (and `readers`)."""
    return str(Path(releasestation.__file__).resolve().parent.parent)


def script_text(python: str, root: str | None = None) -> str:
    root = root or package_root()
    return TEMPLATE.format(python=python, path=root, package=str(Path(root) / "releasestation"))


def install(
    serverbin: str = DEFAULT_SERVERBIN,
    python: str | None = None,
    mode: int = 0o755,
    run_as: str = RUN_AS,
    cupsd_conf: str = CUPSD_CONF,
) -> Installed:
    """Write backend/printmanager (atomically) unless something would stop cupsd running
    it: then nothing is replaced (a backend already there stays as it was) and the problems
    say what to fix."""
    if mode not in (0o755, 0o700):
        raise ValueError("mode: 0755 (runs as lp) or 0700 (runs as root)")
    interpreter = python or sys.executable
    backend_dir = Path(serverbin) / "backend"
    if not backend_dir.is_dir():
        raise FileNotFoundError(f"{backend_dir} is not a directory (CUPS's ServerBin?)")
    path = backend_dir / BACKEND_NAME
    partial = backend_dir / f".{BACKEND_NAME}.new"
    partial.write_text(script_text(interpreter), encoding="utf-8")
    try:
        os.chmod(partial, mode)
        if os.geteuid() == 0:
            os.chown(partial, 0, 0)
        problems = file_problems(partial, shown=path)
        if mode == 0o755:
            problems += check_reachable(interpreter, run_as)
        if problems:
            partial.unlink()
            return Installed(path, mode, problems, retry_notes(cupsd_conf), installed=False)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Installed(path, mode, problems, retry_notes(cupsd_conf))


def retry_notes(cupsd_conf: str) -> list[str]:
    """A note when cupsd.conf makes cupsd abort a job the gateway asks it to retry within
    an hour (JobRetryInterval x JobRetryLimit), as CUPS's defaults (30 s x 5) do."""
    values = dict(RETRY_DEFAULTS)
    try:
        lines = Path(cupsd_conf).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        words = line.split()
        if len(words) == 2 and words[0].lower() in values and words[1].isdigit():
            values[words[0].lower()] = int(words[1])
    interval, limit = values["jobretryinterval"], values["jobretrylimit"]
    if interval * limit >= RETRY_WANTED_SECONDS:
        return []
    return [
        f"{cupsd_conf}: JobRetryInterval {interval} x JobRetryLimit {limit}: cupsd aborts a "
        f"job the gateway retries (on_api_error = retry) after {interval * limit} s of API "
        "outage; e.g. JobRetryInterval 60 and JobRetryLimit 1440 wait a day"
    ]


def file_problems(path: Path, shown: Path | None = None) -> list[str]:
    """What makes cupsd refuse or mistrust the backend file `path` (named as `shown`)."""
    info = path.stat()
    name = shown or path
    problems = []
    if info.st_uid != 0:
        problems.append(f"{name} is not owned by root: cupsd will not run it (run install as root)")
    if info.st_mode & 0o022:
        problems.append(f"{name} is writable by others: cupsd will not run it")
    return problems


def check_reachable(python: str, run_as: str = RUN_AS) -> list[str]:
    """Run `python -I -c 'import releasestation.gateway.backend'` as `run_as` (needs root
    to switch); the problems found, with what to do about them."""
    root = package_root()
    probe = f"import sys; sys.path.insert(0, {root!r}); import releasestation.gateway.backend"
    command = [python, "-I", "-c", probe]
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            return [f"no account {run_as!r} to check the interpreter with"]
        command = ["runuser", "-u", run_as, "--", *command]
    elif pwd.getpwuid(os.geteuid()).pw_name != run_as:
        return [f"not checked whether {run_as} can run {python} (run install as root)"]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=30, check=False, cwd="/"
        )
    except OSError as exc:
        return [f"cannot run {python}: {exc.strerror}"]
    if done.returncode == 0:
        return []
    last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
    return [
        f"{run_as} cannot run the gateway with {python} from {root}: {last}. Install "
        f"releasestation where {run_as} can read it (e.g. a virtual environment under /opt, "
        "not /root) and pass --python, or install with --mode 0700 (cupsd then runs the "
        "gateway as root)"
    ]
