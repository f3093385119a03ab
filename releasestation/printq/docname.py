# SPDX-License-Identifier: GPL-3.0-or-later
"""Releasing a job whose document name would crash cupsd: rename the document, then release.

Debian's cupsd 2.4.2-3+deb12u10 (bookworm-security) segfaults at the moment it starts a job
whose `document-name-supplied` holds white space — `lp "My Report.pdf"`, and most desktop
print dialogs, which name the document after its title. Measured against the real package
on every kind of queue and backend (raw, filtered, socket, lpd, our capture backend): the
job's title does not matter, its document name does, and renaming the document before the
job starts avoids the crash (docs/cups.md, "Debian's cupsd 2.4.2-3+deb12u10").

The station is what starts held jobs, so `release_request()` renames such a document (each
white-space character becomes "_") in the very Set-Job-Attributes that releases the job.
Every release goes out through `ipp.IppClient` (pycups can send no Set-Job-Attributes but
`job-hold-until`, and has no timeout), authenticated as libcups would: PeerCred on cupsd's
domain socket (the station's own account, which cupsd checks against the socket's peer),
Basic with the configured `[cups]` password over the network.
"""

from __future__ import annotations

import base64

import cups

from releasestation.printq import ipp

# What C's isspace() takes for white space in cupsd's "C" locale.
WHITESPACE = " \t\n\v\f\r"
_UNDERSCORES = str.maketrans({c: "_" for c in WHITESPACE})
# Asked for before a release: not in cupsd's job cache, so asking for it reads the job's
# attributes from the spool — which cupsd does anyway to start the job.
DOCUMENT_NAME = "document-name-supplied"


def crashes_cupsd(document_name: object) -> bool:
    """True when cupsd 2.4.2-3+deb12u10 would crash starting a job of that document name."""
    return isinstance(document_name, str) and any(c in WHITESPACE for c in document_name)


def safe_document_name(document_name: str) -> str:
    """`document_name` with every white-space character replaced by "_"."""
    return document_name.translate(_UNDERSCORES)


def authorization(server: str, account: str, password: str | None) -> str:
    """The HTTP Authorization value that makes a request the station's, or "" if none can.

    On a domain socket: PeerCred with the station's account (cupsd compares it with the
    connecting process's uid). Over the network: Basic, only with a configured password.
    """
    if server.startswith("/"):
        return f"PeerCred {account}"
    if password:
        pair = f"{account}:{password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    return ""


def release_request(
    job_id: int, account: str, document_name: str | None
) -> tuple[list[tuple[int, str, ipp.Value]], list[tuple[int, str, ipp.Value]]]:
    """(operation, job) attribute groups of a Set-Job-Attributes that releases `job_id`
    (job-hold-until no-hold, exactly that string) and, when given, renames its document."""
    operation: list[tuple[int, str, ipp.Value]] = [
        (cups.IPP_TAG_URI, "job-uri", f"ipp://localhost/jobs/{int(job_id)}"),
        (cups.IPP_TAG_NAME, "requesting-user-name", account),
    ]
    job: list[tuple[int, str, ipp.Value]] = [(cups.IPP_TAG_KEYWORD, "job-hold-until", "no-hold")]
    if document_name is not None:
        job.append((cups.IPP_TAG_NAME, DOCUMENT_NAME, document_name))
    return operation, job
