# SPDX-License-Identifier: GPL-3.0-or-later
"""`PrintServer.check()`: is this cupsd fit to hold jobs for a release station?

Decision, and why: the policy is judged from its text (cupsd.conf), not by probing. A
probe would have to create a job on a production hold queue and try to release it while
claiming to be its owner — a job others can see, audit noise, and a printout if the policy
is as weak as feared. The text is read the way cupsd serves it (`/admin/conf/cupsd.conf`,
open to @SYSTEM accounts only) and, failing that, from /etc/cups/cupsd.conf when cupsd is
on this machine. If neither can be read, that is reported: an unverified policy is a
problem, not a pass — except for a cupsd on another host, whose cupsd.conf only its own
SystemGroup may read (a station's account should not be a CUPS admin of the print server):
that is said as a warning (`Unverified`), and the policy is verified on the print server
itself, where `releasestation check` run as root reads it. The one live probe is
harmless: held jobs whose owner cupsd still hides from the station are counted.
"""

from __future__ import annotations

import ipaddress
import pwd
import socket
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from releasestation.errors import PrintServerError
from releasestation.printq.failures import Forbidden
from releasestation.printq.ipp import split_server
from releasestation.printq.policy import parse_policies, unauthenticated_owner_ops

# Debian's cupsd crashes on unauthenticated @OWNER checks for users NSS does not know from
# this bookworm build on (docs/cups.md); no fixed build is known, so later ones count too.
CRASHING_FROM, CRASHING_BEFORE = "2.4.2-3+deb12u10", "2.4.3"


LOCAL_SOCKETS = ("/run/cups/cups.sock", "/var/run/cups/cups.sock")  # this machine's cupsd


class Unverified(str):
    """What the check could not verify from here and says as a warning, not a failure."""


def remote(server: str) -> bool:
    """Whether `server` (CupsSettings.server) is a cupsd on another host: not a domain
    socket, and no address its name has is a loopback one (IPv4-mapped too) or one of
    this machine's own (one a socket can be bound to here). A name that does not resolve
    is not called remote: the check then fails on reaching it anyway."""
    host = split_server(server)[0]
    if host.startswith("/"):
        return False
    try:
        found = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    for family, kind, proto, _name, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        if ip.is_loopback or ip.is_unspecified or (mapped is not None and mapped.is_loopback):
            return False
        try:
            with socket.socket(family, kind, proto) as probe:
                probe.bind(address)  # only this machine's own addresses can be bound
            return False
        except OSError:
            continue
    return bool(found)


class CheckedServer(Protocol):
    """What the check asks of the print server (releasestation.printq.server)."""

    server: str
    account: str

    def queue_attributes(self, queue: str) -> dict[str, Any] | None: ...
    def held_job_attributes(self, queue: str) -> list[dict[str, Any]]: ...
    def cupsd_conf(self) -> str: ...
    def local_cupsd_conf(self) -> str | None: ...
    def local_cupsd_version(self) -> str | None: ...
    def policy_text_problems(self, conf: str, names: Iterable[str]) -> list[str]: ...


def run_check(
    server: CheckedServer, queues: Sequence[str], printer: str | None, owners: Sequence[str] = ()
) -> list[str]:
    problems: list[str] = []
    policies: set[str] = set()
    where = f"cupsd at {server.server}"
    targets = [(q, True) for q in queues] + ([(printer, False)] if printer else [])
    for queue, must_hold in targets:
        try:
            attrs = server.queue_attributes(queue)
        except PrintServerError as exc:
            said = str(exc)  # it names cupsd's address already, mostly
            said = said if server.server in said else f"{where} cannot be reached: {said}"
            if "mismatch" in said.lower() or "doesn't match" in said:
                hint = "name cupsd in [cups] server as its certificate does"
            elif "CERTIFICATE_VERIFY_FAILED" in said or "certificate" in said.lower():
                hint = "trust the CA that signed cupsd's certificate: [cups] ca_file"
            elif "[cups] ca_file" in said:
                hint = "[cups] ca_file must name a readable PEM file"
            else:
                hint = "is cupsd running? systemctl status cups"
            return [f"{said} ({hint})"]
        problems += _queue_problems(queue, attrs, must_hold, where)
        if attrs is not None:
            policies.add(str(attrs.get("printer-op-policy") or "default"))
    if policies:
        problems += _policy_problems(server, policies, where, owners)
    for queue in queues:
        problems += _hidden_owners(server, queue)
    return problems


def _queue_problems(queue: str, attrs: dict[str, Any] | None, hold: bool, where: str) -> list[str]:
    kind = "hold queue" if hold else "printer"
    if attrs is None:
        return [f"{kind} {queue!r} does not exist at {where}"]
    if hold and attrs.get("job-hold-until-default") != "indefinite":
        return [
            f"hold queue {queue!r} does not hold new jobs "
            f"(lpadmin -p {queue} -o job-hold-until-default=indefinite)"
        ]
    return []


def _policy_problems(
    server: CheckedServer, policies: set[str], where: str, owners: Sequence[str]
) -> list[str]:
    try:
        conf = server.cupsd_conf()
    except PrintServerError as exc:
        local = server.local_cupsd_conf()
        names = ", ".join(sorted(policies))
        if local is None and isinstance(exc, Forbidden) and remote(server.server):
            return [
                Unverified(
                    f"policy {names} of {where} not verified: its cupsd.conf is for cupsd's "
                    f"SystemGroup only ({exc}); verify it on the print server, as root there: "
                    'releasestation check (docs/site.md, "One central cupsd")'
                )
            ]
        if local is None:
            said = f"cannot read cupsd.conf of {where} to verify policy {names} ({exc})"
            if not isinstance(exc, Forbidden):  # not a matter of who: what cupsd said is it
                return [said]
            if server.server in LOCAL_SOCKETS:
                return [f"{said}; run the check as root (it then reads /etc/cups/cupsd.conf)"
                        " or as a member of cupsd's SystemGroup"]  # fmt: skip
            return [f"{said}; run the check as a member of cupsd's SystemGroup"]
        conf = local
    problems = server.policy_text_problems(conf, policies)
    return problems + crash_hazards(conf, policies, server.local_cupsd_version(), owners)


def crash_hazards(
    conf: str, policies: set[str], version: str | None, owners: Sequence[str] = ()
) -> list[str]:
    """What in the policies crashes Debian's cupsd 2.4.2-3+deb12u10 (and later bookworm
    builds): a limit that checks @OWNER without authentication, met by a request naming a
    user NSS does not resolve. `version` is cupsd's Debian version when cupsd is on this
    machine, else None (not known: the hazard is reported as possible); `owners` are a few
    directory users, to say whether this machine's NSS knows them."""
    if version is not None and not crashing_version(version):
        return []
    parsed = parse_policies(conf)
    found = {n: unauthenticated_owner_ops(parsed[n]) for n in sorted(policies) if n in parsed}
    if not any(found.values()):
        return []
    which = f"cupsd {version}" if version else f"cupsd, if it is Debian's {CRASHING_FROM} or later,"
    unknown = [o for o in owners if not _nss_knows(o)]
    who = (
        f"; directory users such as {', '.join(repr(o) for o in unknown[:3])} are not known "
        "to this machine's NSS"
        if unknown
        else ""
    )
    return [
        f"policy {name!r} checks @OWNER without AuthType for {', '.join(ops)}: {which} "
        "crashes when such a request names a user NSS does not know (any client can send "
        f"one){who}; use the shipped releasestation policy (docs/cups.md)"
        for name, ops in found.items()
        if ops
    ]


def crashing_version(version: str) -> bool:
    """True for a Debian cups-daemon version known to crash (dpkg's version order)."""
    return _dpkg_compare(version, "ge", CRASHING_FROM) and _dpkg_compare(
        version, "lt", CRASHING_BEFORE
    )


def installed_cupsd_version() -> str | None:
    """This machine's Debian cups-daemon version, or None where dpkg does not know it."""
    try:
        done = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "cups-daemon"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _dpkg_compare(a: str, op: str, b: str) -> bool:
    try:
        done = subprocess.run(["dpkg", "--compare-versions", a, op, b], timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return True  # cannot tell: the hazard is reported, not hidden
    return done.returncode == 0


def _nss_knows(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except (KeyError, ValueError):
        return False
    return True


def _hidden_owners(server: CheckedServer, queue: str) -> list[str]:
    try:
        jobs = server.held_job_attributes(queue)
    except PrintServerError as exc:
        return [f"cannot list held jobs on {queue!r}: {exc}"]
    hidden = [a for a in jobs if "job-originating-user-name" not in a]
    if not hidden:
        return []
    return [
        f"{len(hidden)} held job(s) on {queue!r} come back without their owner: cupsd hides "
        f"job-originating-user-name from the station's account {server.account!r}"
    ]
