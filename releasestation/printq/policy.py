# SPDX-License-Identifier: GPL-3.0-or-later
"""The cupsd operation policy hold queues need, and a reader that judges a cupsd.conf.

The shipped policy lives once, in `releasestation/data/cups-policy.conf`, with the token
`STATION_ACCOUNT` where the station's Unix account goes; `render_policy()` fills it in.
`python3 -m releasestation.printq.policy ACCOUNT` prints it ready for cupsd.conf.

`policy_problems()` reads a `<Policy>` block the way cupsd does (an operation's own `<Limit>`,
else `<Limit All>`/`<LimitExcept>`) and reports what makes a release station pointless:
anyone may release / move / restart / re-time a held job (no AuthType, or a `Require` that
admits more than the station and @SYSTEM), or the station cannot see job owners and titles.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import pwd
import re
import sys
from dataclasses import dataclass, field
from importlib import resources

POLICY_NAME = "releasestation"
STATION_TOKEN = "STATION_ACCOUNT"  # noqa: S105 - a placeholder, not a secret

# Operations that let a held job print (or take it elsewhere): the station's alone.
RELEASE_OPS = ("Release-Job", "Set-Job-Attributes", "Restart-Job", "CUPS-Move-Job")
# What the station must read on every held job.
NEEDED_VALUES = ("job-originating-user-name", "job-name")
# Operations cupsd checks against a job's (or a subscription's) owner. Debian's cupsd
# 2.4.2-3+deb12u10 crashes when one of them, not authenticated, names a user this machine's
# NSS does not know and meets a `Require user` list with @OWNER in it (docs/cups.md).
OWNER_OPS = (
    "Send-Document", "Send-URI", "Close-Job", "Cancel-Job", "Hold-Job", "Release-Job",
    "Restart-Job", "Set-Job-Attributes", "CUPS-Move-Job", "CUPS-Get-Document",
    "Get-Job-Attributes", "Cancel-Current-Job", "Suspend-Current-Job", "Resume-Job",
    "Reprocess-Job", "CUPS-Authenticate-Job", "Cancel-Subscription", "Renew-Subscription",
    "Get-Notifications",
)  # fmt: skip
DEFAULT_PRIVATE_ACCESS = ("@OWNER", "@SYSTEM")
DEFAULT_PRIVATE_VALUES = (
    "job-name",
    "job-originating-host-name",
    "job-originating-user-name",
    "phone",
)
_ACCOUNT = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@-]*\$?$")


@dataclass(frozen=True)
class Limit:
    """One `<Limit ops>` (or `<LimitExcept ops>`) block of a policy."""

    ops: frozenset[str]
    except_ops: bool = False
    auth_type: str | None = None
    require: tuple[str, ...] | None = None  # ("user", names...) | ("valid-user",) | ...

    def covers(self, op: str) -> bool:
        return (op.lower() in self.ops) != self.except_ops


@dataclass
class Policy:
    """One `<Policy name>` block: private-value rules and its limits, in file order."""

    name: str
    job_private_access: tuple[str, ...] = DEFAULT_PRIVATE_ACCESS
    job_private_values: tuple[str, ...] = DEFAULT_PRIVATE_VALUES
    limits: list[Limit] = field(default_factory=list)

    def limit_for(self, op: str) -> Limit | None:
        """The limit cupsd applies to `op`: the first naming it (or a LimitExcept not
        naming it), else `<Limit All>`."""
        for limit in self.limits:
            if limit.covers(op):
                return limit
        for limit in self.limits:
            if "all" in limit.ops and not limit.except_ops:
                return limit
        return None


def shipped_policy() -> str:
    """The canonical policy text, with the STATION_ACCOUNT token still in it."""
    return resources.files("releasestation").joinpath("data/cups-policy.conf").read_text("utf-8")


def render_policy(station: str) -> str:
    """The shipped policy with `station` as the station's account."""
    if not _ACCOUNT.match(station):
        raise ValueError(f"not a usable account name for a CUPS policy: {station!r}")
    return shipped_policy().replace(STATION_TOKEN, station)


def parse_policies(conf: str) -> dict[str, Policy]:
    """Every `<Policy>` block of a cupsd.conf text, by name (case as written)."""
    policies: dict[str, Policy] = {}
    policy: Policy | None = None
    limit: dict[str, object] | None = None
    for line in _lines(conf):
        word, _, rest = line.partition(" ")
        key, rest = word.lower(), rest.strip()
        if key == "<policy":
            policy = policies.setdefault(rest.rstrip(">").strip(), Policy(rest.rstrip(">").strip()))
        elif key == "</policy>":
            policy = None
        elif policy is None:
            continue
        elif key in ("<limit", "<limitexcept"):
            ops = frozenset(op.lower() for op in rest.rstrip(">").split())
            limit = {"ops": ops, "except_ops": key == "<limitexcept"}
        elif key in ("</limit>", "</limitexcept>") and limit is not None:
            policy.limits.append(Limit(**limit))  # type: ignore[arg-type]
            limit = None
        elif limit is not None:
            _limit_directive(limit, key, rest)
        else:
            _policy_directive(policy, key, rest)
    return policies


def _lines(conf: str) -> list[str]:
    out = []
    for raw in conf.splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line:
            out.append(" ".join(line.split()))
    return out


def _limit_directive(limit: dict[str, object], key: str, rest: str) -> None:
    if key == "authtype":
        limit["auth_type"] = rest
    elif key == "require":
        limit["require"] = tuple(rest.split())


def _policy_directive(policy: Policy, key: str, rest: str) -> None:
    values = tuple(rest.split())
    if key == "jobprivateaccess":
        is_default = [v.lower() for v in values] == ["default"]
        policy.job_private_access = DEFAULT_PRIVATE_ACCESS if is_default else values
    elif key == "jobprivatevalues":
        is_default = [v.lower() for v in values] == ["default"]
        policy.job_private_values = DEFAULT_PRIVATE_VALUES if is_default else values


@dataclass(frozen=True)
class Station:
    """Who the station is at cupsd: its account and the Unix groups it belongs to."""

    account: str
    groups: frozenset[str] = frozenset()
    system: bool = False  # member of cupsd's SystemGroup (root always is)

    @classmethod
    def local(cls, account: str) -> Station:
        """The account as this machine knows it (groups from the local user database)."""
        return cls(account, frozenset(_groups_of(account)), system=account == "root")


def _groups_of(account: str) -> set[str]:
    try:
        entry = pwd.getpwnam(account)
    except KeyError:
        return set()
    names = {g.gr_name for g in grp.getgrall() if account in g.gr_mem}
    with contextlib.suppress(KeyError):
        names.add(grp.getgrgid(entry.pw_gid).gr_name)
    return names


def policy_problems(policy: Policy, station: Station) -> list[str]:
    """What in `policy` lets others release held jobs or hides jobs from the station."""
    problems = [p for op in RELEASE_OPS for p in _release_problems(policy, op, station)]
    hidden = _hidden_from(policy, station)
    if hidden:
        problems.append(
            f"policy {policy.name!r} hides {', '.join(hidden)} of other users' jobs from "
            f"the station's account {station.account!r} (JobPrivateAccess / JobPrivateValues)"
        )
    return problems


def unauthenticated_owner_ops(policy: Policy) -> list[str]:
    """The OWNER_OPS that `policy` checks against @OWNER without asking for authentication:
    each crashes Debian's cupsd 2.4.2-3+deb12u10 for a user name NSS does not resolve."""
    return [op for op in OWNER_OPS if _owner_without_auth(policy.limit_for(op))]


def _owner_without_auth(limit: Limit | None) -> bool:
    if limit is None or (limit.auth_type and limit.auth_type.lower() != "none"):
        return False
    require = limit.require or ()
    names = [n.lower() for n in require[1:]]
    return bool(require) and require[0].lower() == "user" and "@owner" in names


def _release_problems(policy: Policy, op: str, station: Station) -> list[str]:
    where = f"policy {policy.name!r}, {op}"
    limit = policy.limit_for(op)
    if limit is None or not limit.auth_type or limit.auth_type.lower() == "none":
        return [f"{where}: no AuthType, so anyone may claim to be the job's owner"]
    require = limit.require or ()
    if not require or require[0].lower() != "user":
        shown = " ".join(require) or "no Require"
        return [f"{where}: {shown} admits users other than the station's account"]
    named = [n.lower() for n in require[1:]]
    if station.account.lower() not in named and not (station.system and "@system" in named):
        return [f"{where}: the station's account {station.account!r} may not do it"]
    others = [n for n in require[1:] if not _is_station(n, station)]
    if others:
        return [f"{where}: 'Require user' admits {' '.join(others)}, not only the station"]
    return []


def _is_station(name: str, station: Station) -> bool:
    return name.lower() in (station.account.lower(), "@system")


def _hidden_from(policy: Policy, station: Station) -> list[str]:
    values = {v.lower() for v in policy.job_private_values}
    if "none" in values:
        return []
    hidden = [v for v in NEEDED_VALUES if v in values or "all" in values]
    return [] if not hidden or _may_see(policy.job_private_access, station) else hidden


def _may_see(access: tuple[str, ...], station: Station) -> bool:
    for name in (a.lower() for a in access):
        if name in ("all", station.account.lower()):
            return True
        if name == "@system" and station.system:
            return True
        if name.startswith("@") and name[1:] in {g.lower() for g in station.groups}:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m releasestation.printq.policy",
        description="Print the releasestation cupsd.conf policy for the station's account.",
    )
    parser.add_argument("account", help="the Unix account the release station runs as")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(render_policy(args.account))
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
