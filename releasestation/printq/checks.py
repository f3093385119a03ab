# SPDX-License-Identifier: GPL-3.0-or-later
"""`PrintServer.check()`: is this cupsd fit to hold jobs for a release station?

Decision, and why: the policy is judged from its text (cupsd.conf), not by probing. A
probe would have to create a job on a production hold queue and try to release it while
claiming to be its owner — a job others can see, audit noise, and a printout if the policy
is as weak as feared. The text is read the way cupsd serves it (`/admin/conf/cupsd.conf`,
open to @SYSTEM accounts only) and, failing that, from /etc/cups/cupsd.conf when cupsd is
on this machine. If neither can be read, that is reported: an unverified policy is a
problem, not a pass. The one live probe is harmless: held jobs whose owner cupsd still
hides from the station are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from releasestation.errors import PrintServerError

if TYPE_CHECKING:
    from releasestation.printq.server import PrintServer


def run_check(server: PrintServer, queues: Sequence[str], printer: str | None) -> list[str]:
    problems: list[str] = []
    policies: set[str] = set()
    where = f"cupsd at {server.server}"
    targets = [(q, True) for q in queues] + ([(printer, False)] if printer else [])
    for queue, must_hold in targets:
        try:
            attrs = server.queue_attributes(queue)
        except PrintServerError as exc:
            return [f"{where} cannot be reached: {exc}"]
        problems += _queue_problems(queue, attrs, must_hold, where)
        if attrs is not None:
            policies.add(str(attrs.get("printer-op-policy") or "default"))
    if policies:
        problems += _policy_problems(server, policies, where)
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


def _policy_problems(server: PrintServer, policies: set[str], where: str) -> list[str]:
    try:
        conf = server.cupsd_conf()
    except PrintServerError as exc:
        local = server.local_cupsd_conf()
        if local is None:
            names = ", ".join(sorted(policies))
            return [
                f"cannot read cupsd.conf of {where} to verify policy {names} ({exc}); "
                "run the check as root or as a member of cupsd's SystemGroup"
            ]
        conf = local
    return server.policy_text_problems(conf, policies)


def _hidden_owners(server: PrintServer, queue: str) -> list[str]:
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
