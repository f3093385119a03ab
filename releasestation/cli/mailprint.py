# SPDX-License-Identifier: GPL-3.0-or-later
"""`mailprint`: print by e-mail (releasestation.mailprint, docs/mailprint.md).

    releasestation mailprint          # the service: IDLE (or polling) until stopped
    releasestation mailprint --once   # one look at the mailbox, for cron
    releasestation mailprint --check  # log in, count the mails waiting, IDLE or not

Exit codes: 0 done; 1 a mail was left for later (cupsd or the database away; it is taken
again next time); 2 bad usage or config (`[mailprint] imap_server` empty included); 3 the
mailbox could not be used.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import TYPE_CHECKING

from releasestation.cli import OK, UNAVAILABLE, USAGE
from releasestation.cli.common import load_app
from releasestation.errors import ReleaseStationError

if TYPE_CHECKING:
    from releasestation.mailprint.settings import MailprintSettings


def register(sub) -> None:
    p = sub.add_parser(
        "mailprint",
        help="print by e-mail: hold each attachment mailed to [mailprint]'s mailbox as a job",
    )
    p.add_argument("--once", action="store_true", help="look at the mailbox once (cron)")
    p.add_argument(
        "--check",
        action="store_true",
        help="log in to the mailbox and say what is there; nothing is taken",
    )
    p.set_defaults(handler=cmd_mailprint)


def cmd_mailprint(args: argparse.Namespace) -> int:
    from releasestation import sdnotify

    app = load_app(args, daemon=True)
    if not app.config.mailprint.enabled:
        print("releasestation: [mailprint] imap_server is empty: mail-to-print is off")
        return USAGE
    if args.check:
        return check(app.config.mailprint)
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


def check(settings: MailprintSettings) -> int:
    """Log in as the service would: 0 and what is there, or 3 and why not."""
    from releasestation.mailprint.mailbox import Mailbox, MailboxError

    try:
        with Mailbox(settings) as box:
            waiting = len(box.uids())
            how = "IDLE" if box.can_idle else f"no IDLE: polled every {settings.poll_seconds:g} s"
    except MailboxError as exc:
        print(f"releasestation: {exc}", file=sys.stderr)
        return UNAVAILABLE
    print(f"mailbox {settings.user} at {box.where}: {waiting} mail(s) in {settings.folder}; {how}")
    return OK
