# SPDX-License-Identifier: GPL-3.0-or-later
"""A held job submitted for a user: the Print-Job request, its names made safe.

The web portal and mail-to-print submit a checked document (releasestation.submit) as a
job owned by the person it is for. cupsd takes the owner from requesting-user-name only on
a connection that has not authenticated: an authenticated one (the station's PeerCred or
Basic) makes it the station's job, whatever the request says. So `PrintServer.submit_held`
sends Print-Job on a fresh `ipp.IppClient` that never authenticates, with the attributes
built here, the document bytes following the IPP request in one HTTP body.

What goes into cupsd is made safe here, whoever called:
- job-name, the title people see in listings: control characters (C0, C1, DEL, bidi
  overrides) removed, line breaks and every other run of white space made one space, at
  most 255 bytes of UTF-8 (IPP's name(MAX)). Markup such as `<script>` is kept as text:
  whoever shows a title escapes it.
- document-name: the same, with every white-space character made "_". Debian's cupsd
  2.4.2-3+deb12u10 crashes starting a job whose document name holds white space
  (releasestation.printq.docname, docs/cups.md); the release path renames such names
  too, but a job sent here never carries one.
- job-hold-until indefinite, whatever the queue's default: a document submitted for a
  user prints only when that user is at the printer.
"""

from __future__ import annotations

import unicodedata
from typing import BinaryIO

import cups

from releasestation.printq import ipp
from releasestation.printq.jobs import printer_uri

MAX_NAME_BYTES = 255  # IPP name(MAX) / text(MAX) in octets
SIDES = ("one-sided", "two-sided-long-edge", "two-sided-short-edge")
COLOR_MODES = ("color", "monochrome")
MAX_COPIES = 999
UNTITLED = "document"
# Format characters that reorder or hide text in a listing (bidi embeddings, overrides and
# isolates; zero-width joiners and the like are left alone).
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def job_name(title: str) -> str:
    """`title` as a job-name: no control characters, white space runs as one space, at
    most MAX_NAME_BYTES of UTF-8; UNTITLED when nothing is left."""
    kept = "".join(" " if c.isspace() else c for c in title if _printable(c))
    return _capped(" ".join(kept.split())) or UNTITLED


def document_name(title: str) -> str:
    """`title` as a document-name: job_name(title) with no white space at all."""
    return "_".join(job_name(title).split(" "))


def print_job_request(
    queue: str,
    owner: str,
    title: str,
    mime: str,
    copies: int = 1,
    sides: str | None = None,
    color: str | None = None,
    pages: int | None = None,
) -> tuple[list[tuple[int, str, ipp.Value]], list[tuple[int, str, ipp.Value]]]:
    """(operation, job) attribute groups of a Print-Job of a held job on `queue` owned by
    `owner`; `pages`, when the document's are known, as job-impressions (cupsd shows it
    for the held job, which it has not counted itself); ValueError names what cannot be
    sent."""
    _check(owner, copies, sides, color, mime)
    operation: list[tuple[int, str, ipp.Value]] = [
        (cups.IPP_TAG_URI, "printer-uri", printer_uri(queue)),
        (cups.IPP_TAG_NAME, "requesting-user-name", owner),
        (cups.IPP_TAG_NAME, "job-name", job_name(title)),
        (cups.IPP_TAG_NAME, "document-name", document_name(title)),
        (cups.IPP_TAG_MIMETYPE, "document-format", mime),
    ]
    if pages is not None and pages > 0:
        operation.append((cups.IPP_TAG_INTEGER, "job-impressions", int(pages)))
    job: list[tuple[int, str, ipp.Value]] = [
        (cups.IPP_TAG_KEYWORD, "job-hold-until", "indefinite"),
        (cups.IPP_TAG_INTEGER, "copies", copies),
    ]
    if sides is not None:
        job.append((cups.IPP_TAG_KEYWORD, "sides", sides))
    if color is not None:
        job.append((cups.IPP_TAG_KEYWORD, "print-color-mode", color))
    return operation, job


def _check(owner: str, copies: int, sides: str | None, color: str | None, mime: str) -> None:
    if not owner or owner != owner.strip() or not all(_in_name(c) for c in owner):
        raise ValueError(f"owner name {owner!r} is empty or has control characters")
    if len(owner.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"owner name longer than {MAX_NAME_BYTES} bytes")
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise ValueError(f"copies must be a whole number from 1 to {MAX_COPIES}, not {copies!r}")
    if sides is not None and sides not in SIDES:
        raise ValueError(f"sides must be one of {', '.join(SIDES)}, not {sides!r}")
    if color is not None and color not in COLOR_MODES:
        raise ValueError(f"color must be one of {', '.join(COLOR_MODES)}, not {color!r}")
    if not mime.isascii() or "/" not in mime or any(c.isspace() for c in mime):
        raise ValueError(f"not a MIME type: {mime!r}")


def _printable(char: str) -> bool:
    """False for control characters, surrogates, private-use and unassigned code points and
    bidi controls; True for white space of any kind (line breaks too: made a space later)."""
    if char.isspace():
        return True
    return unicodedata.category(char) not in ("Cc", "Cs", "Co", "Cn") and char not in _BIDI


def _in_name(char: str) -> bool:
    """True for a character an owner name may hold: printable, or a plain space."""
    return char == " " or (not char.isspace() and _printable(char))


def _capped(text: str) -> str:
    """`text` cut to at most MAX_NAME_BYTES of UTF-8, never inside a character."""
    data = text.encode("utf-8")
    if len(data) <= MAX_NAME_BYTES:
        return text
    return data[:MAX_NAME_BYTES].decode("utf-8", "ignore").rstrip()


def print_job(
    client: ipp.IppClient,
    operation: list[tuple[int, str, ipp.Value]],
    job: list[tuple[int, str, ipp.Value]],
    data: bytes | BinaryIO,
) -> int:
    """Send one Print-Job of `data` on `client` (sent once, never again: a job must not be
    made twice) and return the new job's id. IppError / OSError when it fails."""
    groups = client.request(cups.IPP_OP_PRINT_JOB, operation, job=job, resend=False, document=data)
    for attrs in ipp.groups_of(groups, cups.IPP_TAG_JOB):
        job_id = attrs.get("job-id")
        if isinstance(job_id, int) and not isinstance(job_id, bool) and job_id > 0:
            return job_id
    raise ipp.IppError(ipp.DECODE_FAILED, "cupsd accepted the job but gave no job-id")
