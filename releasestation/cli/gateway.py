# SPDX-License-Identifier: GPL-3.0-or-later
"""`gateway install`: the `printmanager` backend in CUPS's backend/ (docs/gateway.md)."""

from __future__ import annotations

import argparse
import sys

from releasestation.cli import FAILED, OK, USAGE


def register(sub) -> None:
    p = sub.add_parser("gateway", help="the print gateway: a CUPS backend that asks an API")
    commands = p.add_subparsers(dest="gateway_command", metavar="COMMAND", required=True)
    install = commands.add_parser(
        "install",
        help="write the printmanager backend into CUPS's backend/ and check that cupsd can run it",
    )
    install.add_argument(
        "--serverbin", default="/usr/lib/cups", help="CUPS's ServerBin (default: /usr/lib/cups)"
    )
    install.add_argument(
        "--python", help="the interpreter the backend runs (default: this one); lp must reach it"
    )
    install.add_argument(
        "--mode",
        choices=("0755", "0700"),
        default="0755",
        help="0755: cupsd runs it as lp (default); 0700: as root, to wrap root-only backends",
    )
    install.set_defaults(handler=cmd_install)
    check = commands.add_parser(
        "check", help="check the installed gateway as cupsd will run it, and its API"
    )
    check.add_argument(
        "--serverbin", default="/usr/lib/cups", help="CUPS's ServerBin (default: /usr/lib/cups)"
    )
    check.set_defaults(handler=cmd_check)


def cmd_install(args: argparse.Namespace) -> int:
    from releasestation.gateway.install import install

    try:
        done = install(args.serverbin, args.python, int(args.mode, 8))
    except (OSError, ValueError) as exc:
        print(f"releasestation: gateway install: {exc}", file=sys.stderr)
        return USAGE if isinstance(exc, ValueError) else FAILED
    if done.installed:
        print(f"installed {done.path} (mode {done.mode:04o})")
    else:
        kept = "the one there is left as it was" if done.path.exists() else "nothing installed"
        print(f"releasestation: gateway install: {done.path} not written ({kept}):",
              file=sys.stderr)  # fmt: skip
    for problem in done.problems:
        print(f"problem: {problem}", file=sys.stderr)
    for note in done.notes:
        print(f"note: {note}", file=sys.stderr)
    if not done.problems:
        print("use it with: lpadmin -p QUEUE -v printmanager:<the real device URI>")
    return FAILED if done.problems else OK


def cmd_check(args: argparse.Namespace) -> int:
    import configparser

    from releasestation import config as config_mod
    from releasestation.gateway.backend import load_settings
    from releasestation.gateway.check import check

    path = config_mod.locate(args.config)
    try:
        settings = load_settings({"RELEASESTATION_CONFIG": path})
    except (OSError, ValueError, configparser.Error) as exc:
        print(f"releasestation: gateway check: {path}: {exc}", file=sys.stderr)
        return USAGE
    found = check(settings, path, args.serverbin)
    for line in found.ok:
        print(f"ok: {line}")
    for line in found.notes:
        print(f"note: {line}")
    for line in found.problems:
        print(f"problem: {line}", file=sys.stderr)
    return FAILED if found.problems else OK
