# SPDX-License-Identifier: GPL-3.0-or-later
"""Text from outside as a log line may show it: control characters escaped.

A terminal peer, an HTTP reader, a directory or a print job's title can put NUL, ESC or a
whole terminal escape sequence (CSI: ESC [ or U+009B, four characters suffice) into a
value; raw in a log, it rewrites the screen of whoever reads the log, forges line breaks in
the journal, or truncates the line at a NUL. `clean()` escapes them in one value; the
`CleanFormatter` escapes every line the command-line tools and the daemon write, whatever
the code that logged it forgot.
"""

from __future__ import annotations

import logging


def clean(value: object) -> str:
    """`value` as a log line may show it: every control or otherwise unprintable character
    (NUL, ESC, CSI, DEL, line and paragraph separators, bidi controls) escaped as \\xNN,
    \\uNNNN, so nothing from a reader, a terminal or a directory reaches a log or a terminal
    raw. Use it on every logged value that comes from outside."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class CleanFormatter(logging.Formatter):
    """A Formatter whose lines never carry a control character: the message line is
    escaped as `clean` does (a traceback after it keeps its line breaks)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return clean(super().formatMessage(record))
