# SPDX-License-Identifier: GPL-3.0-or-later
"""The `readers` command: diagnostics for card readers and PIN pads, and `learn`.

    readers list                          input devices that look like card readers or
                                          keypads (with their by-id paths), and serial ports
    readers watch [SECTION]               show each swipe of a configured reader
    readers watch --hid PATH | --keypad PATH | --serial PORT [--baud N] [--terminator T]
    readers learn RAW=WANTED ...          find a conversion chain from examples

`watch` is the one place a full card number is shown: it is an admin's diagnostic, printed
on the admin's own terminal and never logged. PINs are not shown even there. Exit codes: 0
done, 1 nothing found (learn), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import itertools
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import readers
from readers.conversion import Chain
from readers.learn import learn, parse_pair
from readers.logtext import CleanFormatter

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "/etc/releasestation/releasestation.ini"
CONFIG_ENV = "RELEASESTATION_CONFIG"
# -v count (-1 for -q) -> (level of the readers loggers, least level of every library's).
VERBOSITY = {
    -1: (logging.ERROR, logging.ERROR),
    0: (logging.WARNING, logging.WARNING),
    1: (logging.INFO, logging.WARNING),
    2: (logging.DEBUG, logging.DEBUG),
}

WATCH_HELP = """Open one reader and print every swipe, as sent and as converted, until Ctrl-C
or --count swipes. This prints full card numbers on purpose: it is an admin diagnostic for
your own terminal (PINs stay hidden). Stop the station's daemon first if it holds the
device."""


class UsageError(Exception):
    """A problem with the command line or the config file, said to the person at it."""


# -- list ---------------------------------------------------------------------------------
def links_by_target(*dirs: Path) -> dict[str, list[str]]:
    """Map each real device path to the stable links (by-id, by-path) pointing at it."""
    links: dict[str, list[str]] = {}
    for folder in dirs:
        if not folder.is_dir():
            continue
        for link in sorted(folder.iterdir()):
            links.setdefault(os.path.realpath(link), []).append(str(link))
    return links


def input_rows(input_dir: Path) -> Iterator[str]:
    import evdev

    stable = links_by_target(input_dir / "by-id", input_dir / "by-path")
    for path in sorted(evdev.list_devices(str(input_dir), writable=False)):
        shown = "\n      ".join([path, *stable.get(os.path.realpath(path), [])])
        try:
            device = evdev.InputDevice(path)
        except OSError as exc:
            yield f"  {shown}\n      cannot open: {exc.strerror or exc}"
            continue
        try:
            what = kind_of(set(device.capabilities().get(evdev.ecodes.EV_KEY, [])))
            usb_id = f"{device.info.vendor:04x}:{device.info.product:04x}"
            if what:
                yield f"  {shown}\n      {what}: {device.name!r} usb_id {usb_id}"
        finally:
            device.close()


def kind_of(codes: set[int]) -> str | None:
    """What a device with these key codes looks like, or None when it types no numbers."""
    from readers import keys

    if not codes & set(keys.DIGITS) or not codes & keys.ENTER:
        return None  # mice, power buttons, lid switches
    letters = {c for c in codes if (keys.char_for(c, False) or "").isalpha()}
    return "keyboard or card reader" if letters else "keypad"


def serial_rows(serial_dir: Path) -> Iterator[str]:
    from serial.tools import list_ports

    stable = links_by_target(serial_dir / "by-id", serial_dir / "by-path")
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        shown = "\n      ".join([port.device, *stable.get(os.path.realpath(port.device), [])])
        yield f"  {shown}\n      {port.description} [{port.hwid}]"


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    print("Input devices that type digits and Enter (card readers, keypads, keyboards):", file=out)
    rows = list(input_rows(Path(args.input_dir)))
    print("\n".join(rows) if rows else "  (none)", file=out)
    print("Serial ports:", file=out)
    rows = list(serial_rows(Path(args.serial_dir)))
    print("\n".join(rows) if rows else "  (none)", file=out)
    return 0


# -- watch --------------------------------------------------------------------------------
def locate_config(path: str | None) -> str:
    """The same lookup as the station: --config, else $RELEASESTATION_CONFIG, else /etc."""
    return path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def configured_readers(path: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=(";", "#"), empty_lines_in_values=False
    )
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror}") from None
    except configparser.Error as exc:
        raise UsageError(f"{path}: {exc}") from None
    return {
        section.split(":", 1)[1].strip(): dict(parser.items(section))
        for section in parser.sections()
        if section.startswith("reader:")
    }


def watch_target(args: argparse.Namespace) -> tuple[str, readers.ReaderSettings]:
    """The reader to watch: from the command line, or a `[reader:NAME]` of the config."""
    if args.hid or args.keypad:
        kind = "hid" if args.hid else "keypad"
        return kind, _settings(kind, {"type": kind, "device": args.hid or args.keypad})
    if args.serial:
        values = {"type": "serial", "port": args.serial, "baud": str(args.baud)}
        values["terminator"] = args.terminator
        return "serial", _settings("serial", values)
    path = locate_config(args.config)
    sections = configured_readers(path)
    name = (args.section or "").removeprefix("reader:")
    if not name and len(sections) == 1:
        name = next(iter(sections))
    if name not in sections:
        known = ", ".join(sections) or "none"
        raise UsageError(f"{path}: name a [reader:NAME] section to watch (there: {known})")
    return name, _settings(f"reader:{name}", sections[name])


def _settings(section: str, values: dict[str, str]) -> readers.ReaderSettings:
    try:
        return readers.reader_settings(section, values)
    except readers.SettingsError as exc:
        raise UsageError(str(exc)) from None


class Watcher:
    """Prints each swipe, raw and converted, and says when `count` swipes were seen."""

    def __init__(self, chain: Chain, count: int | None, out: TextIO):
        self.chain, self.count, self.out = chain, count, out
        self.seen = 0
        self.done = threading.Event()
        self._lock = threading.Lock()

    def emit(self, swipe: readers.Swipe) -> None:
        with self._lock:
            if self.done.is_set():
                return
            raw = swipe.raw or swipe.value
            if swipe.kind == "pin":
                line = f"{swipe.reader}  pin  ({len(raw)} digits, not shown)"
            else:
                value = self.chain.apply(raw) or "(no value: this read would be dropped)"
                line = f"{swipe.reader}  card  raw={raw}  value={value}"
            print(line, file=self.out, flush=True)
            self.seen += 1
            if self.count is not None and self.seen >= self.count:
                self.done.set()


def cmd_watch(args: argparse.Namespace, out: TextIO) -> int:
    name, settings = watch_target(args)
    spec = settings.convert if args.convert is None else args.convert
    try:
        chain = Chain.parse(spec)
    except ValueError as exc:
        raise UsageError(f"convert: {exc}") from None
    watcher = Watcher(chain, args.count, out)
    # The reader hands on raw values; the watcher converts, so it can show failures too.
    reader = readers.build_reader(name, dataclasses.replace(settings, convert=""), watcher.emit)
    print(f"watching {name} ({settings.type}); Ctrl-C to stop", file=sys.stderr, flush=True)
    reader.start()
    try:
        while not watcher.done.wait(0.1):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        reader.stop()
    return 0


# -- learn --------------------------------------------------------------------------------
def read_pairs(args: argparse.Namespace) -> list[tuple[str, str]]:
    pairs = []
    try:
        pairs = [parse_pair(text) for text in args.pairs]
        if args.file:
            for line in Path(args.file).read_text(encoding="utf-8").splitlines():
                words = line.split("#", 1)[0].replace("=", " ").split()
                if words:
                    pairs.append(parse_pair("=".join(words)))
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    return pairs


def cmd_learn(args: argparse.Namespace, out: TextIO) -> int:
    pairs = read_pairs(args)
    try:
        chain = learn(pairs, max_steps=args.max_steps)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if chain is None:
        print(
            f"no chain of up to {args.max_steps} steps maps every pair; check the pairs, "
            "or write a regex step by hand (docs/readers.md)",
            file=sys.stderr,
        )
        return 1
    print(f"convert = {chain}", file=out)
    return 0


# -- main ---------------------------------------------------------------------------------
# -c, -v and -q work before or after the command, by the rule of the releasestation command
# (releasestation/cli/options.py, which this package may not import): -v counts add up
# wherever they appear, else the last one given wins. A command's parser fills a namespace
# of its own and copies it over the top one's, so the options have no default there, and -v
# and -q are kept per parser with their place on the line; `settle` adds them up.
_order = itertools.count()


class _Verbosity(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, step: int, **kwargs: Any):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)
        self.step = step

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        key = f"verbosity steps {parser.prog}"
        setattr(namespace, key, [*getattr(namespace, key, []), (next(_order), self.step)])


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c", "--config", default=argparse.SUPPRESS,
        help=f"config file, for watch (default ${CONFIG_ENV}, else {DEFAULT_CONFIG})",
    )  # fmt: skip
    common.add_argument("-v", "--verbose", action=_Verbosity, step=1, help="-v info, -vv debug")
    common.add_argument("-q", "--quiet", action=_Verbosity, step=-1, help="errors only")
    return common


def settle(args: argparse.Namespace) -> argparse.Namespace:
    """`config` None when not given; `verbose` the -v count, -1 for -q, 0 for neither."""
    steps = []
    for key in [k for k in vars(args) if k.startswith("verbosity steps")]:
        steps += getattr(args, key)
        delattr(args, key)
    args.verbose = 0
    for _place, step in sorted(steps):
        args.verbose = -1 if step < 0 else max(args.verbose, 0) + 1
    args.config = getattr(args, "config", None)
    return args


class _CommandParser(argparse.ArgumentParser):
    """The top-level parser: what it returns has the common options settled."""

    def parse_known_args(  # type: ignore[override]
        self, args: Any = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        return settle(parsed), extras


def build_parser() -> argparse.ArgumentParser:
    common = [common_options()]
    parser = _CommandParser(prog="readers", description=__doc__.splitlines()[0], parents=common)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=argparse.ArgumentParser)

    lister = sub.add_parser(
        "list", help="input devices and serial ports that may be readers", parents=common
    )
    lister.add_argument("--input-dir", default="/dev/input", help=argparse.SUPPRESS)
    lister.add_argument("--serial-dir", default="/dev/serial", help=argparse.SUPPRESS)

    watch = sub.add_parser(
        "watch", help="print each swipe of one reader", description=WATCH_HELP, parents=common
    )
    watch.add_argument("section", nargs="?", help="the NAME of a [reader:NAME] section")
    device = watch.add_mutually_exclusive_group()
    device.add_argument("--hid", metavar="PATH", help="a keyboard-wedge reader, by its path")
    device.add_argument("--keypad", metavar="PATH", help="a PIN keypad, by its path")
    device.add_argument("--serial", metavar="PORT", help="a serial reader, by its port")
    watch.add_argument("--baud", type=int, default=9600, help="with --serial (default 9600)")
    watch.add_argument("--terminator", default="crlf", help="with --serial: cr|lf|crlf|stx-etx")
    watch.add_argument("--convert", help="conversion chain to show (default: the section's)")
    watch.add_argument("--count", type=int, help="stop after this many swipes")

    learner = sub.add_parser("learn", help="find a conversion chain from examples", parents=common)
    learner.add_argument("pairs", nargs="*", metavar="RAW=WANTED", help="sent=held, 3 or more")
    learner.add_argument("--file", help="pairs, one per line: RAW WANTED (# comments)")
    learner.add_argument("--max-steps", type=int, default=5, help="longest chain (default 5)")
    return parser


COMMANDS = {"list": cmd_list, "watch": cmd_watch, "learn": cmd_learn}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    own, libraries = VERBOSITY[min(args.verbose, 2)]
    handler = logging.StreamHandler()  # lines with control characters escaped
    handler.setFormatter(CleanFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=libraries, handlers=[handler])
    logging.getLogger("readers").setLevel(own if own < libraries else logging.NOTSET)
    try:
        return COMMANDS[args.command](args, sys.stdout)
    except UsageError as exc:
        print(f"readers {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
