# SPDX-License-Identifier: GPL-3.0-or-later
"""The first bytes of a held job's document, where PJL headers name the real owner.

Two ways, decided by `[owners] spool_dir`:

- cupsd's spool directory (its RequestRoot, e.g. /var/spool/cups), when the station runs on
  the CUPS server and may read it (group lp): the document is `d<job id, 5+ digits>-001`
  there, and only its head is read. cupsd keeps the document of a held job until the job is
  finished (PreserveJobFiles only matters after that).
- otherwise CUPS-Get-Document over IPP, which the shipped policy allows the station's
  account (PeerCred on the domain socket, the password over the network). libcups copies
  the whole document into a temporary file; the head is read and the file removed at once.

A gzip-compressed document (a client sent `compression=gzip`) is inflated as far as needed.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from releasestation.printq.jobs import HeldJob

if TYPE_CHECKING:
    from releasestation.printq.server import PrintServer

log = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"


def spool_path(spool_dir: str, job_id: int, document: int = 1) -> Path:
    return Path(spool_dir) / f"d{job_id:05d}-{document:03d}"


def document_head(
    server: PrintServer, job: HeldJob, limit: int, spool_dir: str | None = None
) -> bytes:
    """Up to `limit` bytes from the start of `job`'s first document (inflated).

    PrintServerError when neither the spool nor cupsd gives the document.
    """
    if spool_dir:
        try:
            return _inflated(_read_head(spool_path(spool_dir, job.id), limit), limit)
        except OSError as exc:
            log.warning(
                "job %d: cannot read its document in %s (%s); asking cupsd",
                job.id,
                spool_dir,
                exc.strerror,
            )
    return _inflated(_fetch_head(server, job, limit), limit)


def _read_head(path: Path, limit: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(limit)


def _fetch_head(server: PrintServer, job: HeldJob, limit: int) -> bytes:
    # CUPS-Get-Document needs the station's account to prove who it is, like a release.
    return server.document_head(job, limit)


def _inflated(head: bytes, limit: int) -> bytes:
    if not head.startswith(GZIP_MAGIC):
        return head
    try:
        return zlib.decompressobj(wbits=31).decompress(head, limit)
    except zlib.error:
        return head
