# SPDX-License-Identifier: GPL-3.0-or-later
"""The user a PJL job header names.

Wire format: a PJL job starts with the Universal Exit Language `ESC %-12345X`, then lines
`@PJL <command>` ended by LF or CR LF, until `@PJL ENTER LANGUAGE=...` (or the first line
that is not PJL) hands over to the page description language. Drivers name the user as

    @PJL SET USERNAME="alice"                (HP, Ricoh, Kyocera, Xerox, ...)
    @PJL SET JOBATTR="@USER=alice"           (HP job attributes; also @USERNAME=)

Keywords are case-insensitive; the value may be quoted or bare. USERNAME wins over JOBATTR.
Only the header is read: text further into the document never counts.
"""

from __future__ import annotations

import re

UEL = b"\x1b%-12345X"
_SET = re.compile(r"^@PJL\s+SET\s+(\w+)\s*=\s*(.*)$", re.IGNORECASE)
_JOBATTR = re.compile(r'^"?@(USER|USERNAME)\s*=\s*(.*?)"?$', re.IGNORECASE)
_ENTER = re.compile(r"^@PJL\s+ENTER\b", re.IGNORECASE)


def header_lines(head: bytes) -> list[str]:
    """The PJL lines at the start of `head` (after any UELs), up to ENTER LANGUAGE."""
    text = head.decode("latin-1")
    lines = []
    for raw in re.split(r"\r?\n", text):
        line = raw.replace(UEL.decode("latin-1"), "").strip()
        if not line:
            continue
        if not line.upper().startswith("@PJL") or _ENTER.match(line):
            break
        lines.append(line)
    return lines


def pjl_user(head: bytes) -> str | None:
    """The user named by the PJL header at the start of `head`, else None."""
    if not head.lstrip(b"\r\n\t ").startswith((UEL, b"@PJL")):
        return None
    username = jobattr = None
    for line in header_lines(head):
        found = _SET.match(line)
        if not found:
            continue
        key, value = found.group(1).upper(), found.group(2).strip()
        if key == "USERNAME" and username is None:
            username = _unquote(value)
        elif key == "JOBATTR" and jobattr is None:
            attr = _JOBATTR.match(value)
            jobattr = attr.group(2).strip() if attr else None
    name = username or jobattr
    return _decoded(name) if name else None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].strip()
    return value.strip('"').strip()


def _decoded(name: str) -> str:
    """PJL is bytes; most drivers send UTF-8 (read here as latin-1 first)."""
    try:
        return name.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return name
