# SPDX-License-Identifier: GPL-3.0-or-later
"""The `credgen` command: `credgen batch [--dry-run]`, `credgen user NAME [--email ADDR]`.

Reads the `[credgen]` section of the station's config file. Exit codes, for cron and
systemd: 0 done, 1 some users failed (named on stderr), 2 bad usage or config, 3 the
directory, database or SMTP server cannot be used.
"""

from __future__ import annotations

import argparse
import sys

from credgen.batch import run_batch
from credgen.user import run_user
from releasestation import __version__
from releasestation.cli import FAILED, OK, UNAVAILABLE, USAGE, setup_logging
from releasestation.cli.common import load_app
from releasestation.cli.options import CommandParser
from releasestation.credentials.mail import MailServerError
from releasestation.credentials.results import UserResult
from releasestation.errors import ConfigError, ReleaseStationError


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; -c, -v and -q work before or after the command, as for
    releasestation (releasestation.cli.options)."""
    parser = CommandParser(prog="credgen", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    p = sub.add_parser("batch", help="every directory and local user who lacks credentials")
    p.add_argument("--dry-run", action="store_true", help="show what would be issued")
    p.set_defaults(handler=cmd_batch)
    p = sub.add_parser("user", help="one user; an unknown allowed name becomes a visitor")
    p.add_argument("name")
    p.add_argument("--email", help="send to this address (and keep it for a visitor)")
    p.add_argument("--dry-run", action="store_true", help="show what would be issued")
    p.set_defaults(handler=cmd_user)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        print("credgen: config error:\n  " + "\n  ".join(exc.problems), file=sys.stderr)
        return USAGE
    except ReleaseStationError as exc:
        print(f"credgen: {exc}", file=sys.stderr)
        return UNAVAILABLE
    except KeyboardInterrupt:
        return FAILED


def cmd_batch(args: argparse.Namespace) -> int:
    app = load_app(args)
    try:
        result = run_batch(app, dry_run=args.dry_run)
    finally:
        app.close()
    print(result.summary())
    if result.failed or result.aborted:
        names = ", ".join(user for user, _why in result.failed) or "nobody"
        print(f"credgen: failed: {names}", file=sys.stderr)
    if result.aborted and not result.failed:
        return UNAVAILABLE
    return OK if result.ok else FAILED


def cmd_user(args: argparse.Namespace) -> int:
    app = load_app(args)
    try:
        result = run_user(app, args.name, args.email, args.dry_run)
    except MailServerError as exc:
        print(f"credgen: {exc}", file=sys.stderr)
        return UNAVAILABLE
    finally:
        app.close()
    print(describe(result))
    return OK if result.ok else FAILED


def describe(result: UserResult) -> str:
    """What happened, for the operator; credentials appear only when they were not mailed."""
    name = result.username
    if result.status == "failed":
        return f"{name}: FAILED: {result.reason}"
    if result.status in ("skipped", "current"):
        return f"{name}: nothing issued: {result.reason}"
    what = ", ".join(result.issued)
    if result.status == "dry-run":
        return f"{name}: would issue {what}" + (f" to {result.email}" if result.email else "")
    lines = [f"{name}: issued {what}" + (" (new visitor)" if result.visitor_created else "")]
    issued = result.credentials
    if issued is None:
        lines.append(f"  sent to {result.email}")
    else:
        lines += [f"  {label}: {value}" for label, value in
                  (("PIN", issued.pin), ("card-assignment code", issued.cac),
                   ("password", issued.password)) if value]  # fmt: skip
    return "\n".join(lines)
