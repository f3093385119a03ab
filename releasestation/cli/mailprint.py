# SPDX-License-Identifier: GPL-3.0-or-later
"""`mailprint`: print by e-mail (releasestation.mailprint, docs/mailprint.md).

    releasestation mailprint          # the service: IDLE (or polling) until stopped
    releasestation mailprint --once   # one look at the mailbox, for cron

Exit codes: 0 done; 1 a mail was left for later (cupsd or the database away; it is taken
again next time); 2 bad usage or config (`[mailprint] imap_server` empty included); 3 the
mailbox could not be used.
"""

from __future__ import annotations

import argparse
import signal

from releasestation.cli import OK, USAGE
from releasestation.cli.common import load_app
from releasestation.errors import ReleaseStationError


def register(sub) -> None:
    p = sub.add_parser(
        "mailprint",
        help="print by e-mail: hold each attachment mailed to [mailprint]'s mailbox as a job",
    )
    p.add_argument("--once", action="store_true", help="look at the mailbox once (cron)")
    p.set_defaults(handler=cmd_mailprint)


def cmd_mailprint(args: argparse.Namespace) -> int:
    from releasestation import sdnotify

    app = load_app(args, daemon=True)
    if not app.config.mailprint.enabled:
        print("releasestation: [mailprint] imap_server is empty: mail-to-print is off")
        return USAGE
    problem = app.store.migration_problem()
    if problem:
        raise ReleaseStationError(problem)
    service = app.mailprint()
    if args.once:
        return service.run(once=True)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop())
    sdnotify.notify("READY=1\nSTATUS=taking mail")
    code = service.run()
    sdnotify.notify("STOPPING=1")
    return code or OK
