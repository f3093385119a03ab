# SPDX-License-Identifier: GPL-3.0-or-later
"""The files a PrivateCups directory holds: cups-files.conf, cupsd.conf and ServerBin.

cups-files.conf points every directory cupsd uses into the private root. cupsd.conf listens
on the domain socket only, lifts the job limits a hold queue hits (MaxJobs 500 by default),
never expires held jobs, and carries CUPS's stock `<Policy default>` — read from the
distribution's cupsd.conf.default, so "default" means what a fresh install runs — plus, when
asked, the shipped releasestation policy. ServerBin holds our `capture`, `discard` and `tally`
backends and links to the system's helpers (cups-exec, filters, notifiers).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from releasestation.demo import capture_backend
from releasestation.errors import PrintServerError

STOCK_CUPSD_CONF = Path("/usr/share/cups/cupsd.conf.default")
# The glibc tunables the shipped systemd/cups.service.d/releasestation.conf gives cupsd: its
# heap in transparent huge pages (glibc 2.35+, kernel THP `madvise`). cupsd walks every
# unfinished job after each release; with thousands held, part of that walk's cost is
# finding the pages the jobs are on. In the release bench, cupsd's CPU for a 10-job swipe
# was 12-20 % lower with them (docs/cups.md, "Measured").
CUPSD_GLIBC_TUNABLES = "glibc.malloc.hugetlb=1"
_HUGETLB = re.compile(r"glibc\.malloc\.hugetlb=[^:]*")
SYSTEM_SERVER_BIN = Path("/usr/lib/cups")
DATA_DIR = Path("/usr/share/cups")


# `discard:` reads each job and keeps nothing, for benchmarks that release thousands of jobs
# (the capture backend starts Python per job): `discard:/` prints in a few milliseconds,
# `discard:/SECONDS` takes that long over each job, as a printer does (a real one, seconds).
DISCARD_BACKEND = """#!/bin/sh
if [ $# -eq 0 ]; then echo 'direct discard "Unknown" "releasestation discard backend"'; exit 0; fi
if [ $# -ge 6 ]; then cat -- "$6" >/dev/null; else cat >/dev/null; fi
seconds=${DEVICE_URI#discard:/}
case $seconds in ''|*[!0-9.]*) ;; *) sleep "$seconds" ;; esac
exit 0
"""

# `tally:/FILE` appends one line per job that comes out, "JOB-ID QUEUE", to FILE and keeps
# no data: what the site bench counts, at the cost of a shell (the capture backend starts
# Python per job, ~40 ms of CPU: at 100 jobs a second that alone would fill two cores).
# One short line appended (O_APPEND) is written whole even with eight printers at once.
TALLY_BACKEND = """#!/bin/sh
if [ $# -eq 0 ]; then echo 'direct tally "Unknown" "releasestation tally backend"'; exit 0; fi
if [ $# -lt 6 ]; then cat >/dev/null; fi
printf '%s %s\\n' "$1" "$PRINTER" >>"${DEVICE_URI#tally:}" || exit 1
exit 0
"""


def files_conf(root: Path, user: str, group: str, system_group: str) -> str:
    return f"""\
ServerRoot {root}/conf
RequestRoot {root}/spool
TempDir {root}/spool/tmp
StateDir {root}/state
CacheDir {root}/cache
ServerBin {root}/bin
DataDir {DATA_DIR}
DocumentRoot {DATA_DIR}/doc-root
ErrorLog {root}/log/error_log
AccessLog {root}/log/access_log
PageLog {root}/log/page_log
User {user}
Group {group}
SystemGroup {system_group}
FileDevice No
CreateSelfSignedCerts No
"""


def cupsd_conf(socket: str, policies: Sequence[str]) -> str:
    joined = "\n".join(p.rstrip("\n") for p in policies)
    return f"""\
LogLevel warn
Listen {socket}
Browsing No
BrowseLocalProtocols none
DefaultAuthType Basic
WebInterface No
MaxJobs 0
MaxJobsPerPrinter 0
MaxJobsPerUser 0
MaxHoldTime 0
MaxClients 1000
PreserveJobHistory Yes
PreserveJobFiles No
<Location />
  Order allow,deny
</Location>
<Location /admin/conf>
  AuthType Default
  Require user @SYSTEM
  Order allow,deny
</Location>
DefaultPolicy default
{joined}
"""


def cupsd_environment(base: Mapping[str, str], stock: bool) -> dict[str, str]:
    """cupsd's environment: `base` with the shipped drop-in's glibc tunables added after any
    already set, or, when `stock`, with any huge-page tunable taken out (as a
    distribution's cups.service runs it)."""
    env = dict(base)
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
    tunables = [t for t in tunables if not _HUGETLB.fullmatch(t)]
    if not stock:
        tunables.append(CUPSD_GLIBC_TUNABLES)
    env.pop("GLIBC_TUNABLES", None)
    if tunables:
        env["GLIBC_TUNABLES"] = ":".join(tunables)
    return env


def stock_default_policy() -> str:
    """The distribution's stock `<Policy default>` block (CUPS's shipped default)."""
    try:
        text = STOCK_CUPSD_CONF.read_text("utf-8")
    except OSError as exc:
        raise PrintServerError(f"cannot read CUPS's stock {STOCK_CUPSD_CONF}: {exc}") from None
    found = re.search(r"^<Policy default>.*?^</Policy>", text, re.S | re.M)
    if not found:
        raise PrintServerError(f"no <Policy default> in {STOCK_CUPSD_CONF}")
    return found.group(0) + "\n"


def install_server_bin(bin_dir: Path, as_root: bool) -> None:
    """Our capture backend plus links to the system's helpers cupsd runs.

    With `as_root` the backend is mode 0700, which makes cupsd run it as root instead of
    `User lp`: the capture directory then needs no permissions for lp, and a private root
    inside a 0700 temporary directory (the demo's) works.
    """
    (bin_dir / "backend").mkdir(parents=True, exist_ok=True)
    for part in ("daemon", "filter", "notifier", "monitor", "cgi-bin"):
        target, link = SYSTEM_SERVER_BIN / part, bin_dir / part
        if target.is_dir() and not link.exists():
            link.symlink_to(target)
    backend = bin_dir / "backend" / "capture"
    source = Path(capture_backend.__file__).read_text("utf-8")
    backend.write_text(f"#!{_system_python()}\n{source}")
    os.chmod(backend, 0o700 if as_root else 0o755)
    discard = bin_dir / "backend" / "discard"
    discard.write_text(DISCARD_BACKEND)
    os.chmod(discard, 0o700 if as_root else 0o755)
    tally = bin_dir / "backend" / "tally"
    tally.write_text(TALLY_BACKEND)
    os.chmod(tally, 0o700 if as_root else 0o755)


def _system_python() -> str:
    """A python3 the unprivileged backend can run (a venv under /root is out of its reach)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK):
            return candidate
    return os.path.realpath(sys.executable)
