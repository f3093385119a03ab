# SPDX-License-Identifier: GPL-3.0-or-later
"""The options every `releasestation` and `credgen` command takes, before or after its name.

`-c/--config PATH`, `-v/--verbose` and `-q/--quiet` work anywhere on the command line:
`releasestation -c X run`, `releasestation run -c X` and `releasestation user add -c X bob`
are the same. The rule: `-v` counts add up wherever they appear (`-v run -v` is `-vv`);
otherwise the last one given wins, so a value after the command beats one before it, and of
`-v` and `-q` the later one counts.

argparse hands the words after a command's name to that command's parser, which fills a
namespace of its own and copies it over its parent's. So every parser declares the common
options with no default (a value given before the command survives), and the top-level
parser fills the defaults in once everything is parsed.
"""

from __future__ import annotations

import argparse
import itertools
from typing import Any

CONFIG_HELP = (
    "config file (default: $RELEASESTATION_CONFIG, else /etc/releasestation/releasestation.ini)"
)

_VERBOSITY_STEPS = "verbosity steps"  # namespace key prefix, one key per parser
_order = itertools.count()  # command-line order of -v and -q across the parsers


class _Verbosity(argparse.Action):
    """-v (one more) or -q (errors only), recorded with its place on the command line under
    a key of this parser's own, so that a sub-command's copy does not overwrite it."""

    def __init__(self, option_strings: list[str], dest: str, step: int, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)
        self.step = step

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        key = f"{_VERBOSITY_STEPS} {parser.prog}"
        setattr(namespace, key, [*getattr(namespace, key, []), (next(_order), self.step)])


def add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    parser.add_argument(
        "-v", "--verbose", action=_Verbosity, step=1, help="more log output (-v -v: debug)"
    )
    parser.add_argument("-q", "--quiet", action=_Verbosity, step=-1, help="errors only")


def settle(args: argparse.Namespace) -> argparse.Namespace:
    """Fill in what the command line left out: `config` None (the default lookup) and
    `verbose`, the -v count (-1 for -q, 0 for neither)."""
    steps = []
    for key in [k for k in vars(args) if k.startswith(_VERBOSITY_STEPS)]:
        steps += getattr(args, key)
        delattr(args, key)
    verbose = 0
    for _place, step in sorted(steps):
        verbose = -1 if step < 0 else max(verbose, 0) + 1
    args.verbose = verbose
    if not hasattr(args, "config"):
        args.config = None
    return args


class SubcommandParser(argparse.ArgumentParser):
    """A command's parser, at any depth: it takes the common options too."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        add_common_options(self)


class CommandParser(SubcommandParser):
    """The top-level parser: its commands' parsers are SubcommandParsers, and what it
    returns has `config` and `verbose` settled."""

    def add_subparsers(self, **kwargs: Any) -> Any:
        kwargs.setdefault("parser_class", SubcommandParser)
        return super().add_subparsers(**kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        return settle(parsed), extras
