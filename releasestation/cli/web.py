# SPDX-License-Identifier: GPL-3.0-or-later
"""`web`: the web portal (releasestation.web), served by gunicorn on `[web] listen`."""

from __future__ import annotations

import argparse

from releasestation import config as config_mod
from releasestation.cli import set_log_levels


def register(sub) -> None:
    p = sub.add_parser(
        "web",
        help="serve the web portal: upload, my jobs, release, status (the daemon need not run)",
    )
    p.set_defaults(handler=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    from releasestation.web.server import serve

    config = config_mod.load(args.config)
    set_log_levels(args.verbose, config.logging.level)
    return serve(config, args.verbose)
