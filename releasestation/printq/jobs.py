# SPDX-License-Identifier: GPL-3.0-or-later
"""A print job as the station sees it, built from the IPP job attributes cupsd returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

HELD = 4  # job-state pending-held
# Everything HeldJob needs. All but job-impressions / job-media-sheets are kept in cupsd's
# job cache, so asking for them never makes cupsd read a job file from its spool.
JOB_ATTRIBUTES = (
    "job-id",
    "job-originating-user-name",
    "job-name",
    "job-printer-uri",
    "job-state",
    "time-at-creation",
    "job-k-octets",
    "job-impressions",
    "job-media-sheets",
)


@dataclass(frozen=True)
class HeldJob:
    """One job in a CUPS queue (state 4 = held); `pages` / `size_kb` when cupsd knows them."""

    id: int
    owner: str
    title: str
    queue: str
    printer_uri: str
    created: float  # epoch seconds (time-at-creation)
    state: int  # 4 = held
    pages: int | None = None  # job-media-sheets, else job-impressions
    size_kb: int | None = None

    @property
    def held(self) -> bool:
        return self.state == HELD


def queue_of(printer_uri: str) -> str:
    """The queue name in a printer URI (`ipp://host/printers/NAME` -> NAME)."""
    path = urlsplit(printer_uri).path.rstrip("/")
    return unquote(path.rsplit("/", 1)[-1]) if path else ""


def printer_uri(queue: str) -> str:
    """The URI cupsd expects for one of its own queues (cupsd reads only the path)."""
    return f"ipp://localhost/printers/{quote(queue, safe='')}"


def from_attributes(attrs: Mapping[str, Any]) -> HeldJob | None:
    """A HeldJob from Get-Jobs / Get-Job-Attributes output; None if essentials are missing.

    A job whose owner cupsd hides (JobPrivateValues) has no owner here and yields None:
    the station never guesses whose job it is.
    """
    try:
        job_id = int(attrs["job-id"])
        owner = str(attrs["job-originating-user-name"])
        uri = str(attrs["job-printer-uri"])
        state = int(attrs["job-state"])
    except (KeyError, TypeError, ValueError):
        return None
    return HeldJob(
        id=job_id,
        owner=owner,
        title=str(attrs.get("job-name", "")),
        queue=queue_of(uri),
        printer_uri=uri,
        created=float(attrs.get("time-at-creation") or 0),
        state=state,
        pages=_first_int(attrs, "job-media-sheets", "job-impressions"),
        size_kb=_first_int(attrs, "job-k-octets"),
    )


def _first_int(attrs: Mapping[str, Any], *names: str) -> int | None:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
