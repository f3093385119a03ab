# SPDX-License-Identifier: GPL-3.0-or-later
"""What cupsd tells a backend about a job, and what of it goes to the API.

cupsd runs a backend as `NAME JOB-ID USER TITLE COPIES OPTIONS [FILE]` with `DEVICE_URI`
in the environment (argv[0] is the queue's name, not the URI). OPTIONS is one
space-separated string of `name=value` (and bare `name` / `noname`) words; cupsd 2.4 adds
`job-uuid`, `job-originating-host-name` and `job-billing` there, and also the
`job-password` a user gave, which never leaves this module. The inner device URI may carry
`user:password@`, which cupsd does not strip: only its scheme and host go out.
"""

from __future__ import annotations

import os
import re
import shlex
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OWN_SCHEME = "printmanager"
# The inner scheme names a file under backend/: a URI scheme, lower-case, so never a path
# (no "/", no ".." alone). `file` is refused as cupsd refuses it without FileDevice; our
# own scheme would recurse.
SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,31}")
FORBIDDEN_SCHEMES = (OWN_SCHEME, "file")
# Pages "where known": a raw job's file, when it says so cheaply. PostScript's DSC header
# (`%%Pages: N` in the first 64 KiB), or an uncompressed PDF's page objects, scanned in
# 1 MiB reads up to MAX_PDF_SCAN; anything else (and all data on stdin) is unknown.
PS_PAGES = re.compile(rb"^%%Pages:\s*(\d+)", re.MULTILINE)
PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
PDF_TAIL = 64  # bytes carried between reads, longer than any usual match
MAX_PDF_SCAN = 64 * 1024 * 1024
SECRET_OPTIONS = frozenset({"job-password", "job-password-encryption", "auth-info"})
BILLING_OPTIONS = ("job-billing", "job-account-id", "job-accounting-user-id")


class JobError(ValueError):
    """The arguments or the device URI are not what a backend can work with."""


@dataclass(frozen=True)
class Device:
    """The queue's device URI split: our scheme taken off, the inner URI kept whole (it
    goes to the real backend) and only its scheme and host shown anywhere."""

    inner_uri: str
    scheme: str
    host: str
    has_credentials: bool = False

    @classmethod
    def from_uri(cls, device_uri: str) -> Device:
        outer, sep, inner = device_uri.partition(":")
        if outer != OWN_SCHEME or not sep:
            raise JobError(f"device URI must start with {OWN_SCHEME}:")
        scheme, sep, _ = inner.partition(":")
        if not sep or not SCHEME.fullmatch(scheme):
            raise JobError("the inner device URI has no valid scheme")
        if scheme in FORBIDDEN_SCHEMES:
            raise JobError(f"the inner device URI may not use {scheme}:")
        try:
            parts = urllib.parse.urlsplit(inner)
            host, secret = parts.hostname or "", bool(parts.username or parts.password)
        except ValueError:
            host, secret = "", False
        return cls(inner, scheme, host, secret)

    def describe(self) -> dict[str, str]:
        return {"scheme": self.scheme, "host": self.host}


@dataclass(frozen=True)
class Job:
    """One job as cupsd handed it to the backend."""

    job_id: int
    user: str
    title: str
    copies: int
    options: dict[str, str]
    file: str | None
    queue: str
    queue_info: str
    queue_location: str
    content_type: str
    final_content_type: str
    size: int | None = None
    pages: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_argv(cls, argv: list[str], env: Mapping[str, str]) -> Job:
        if len(argv) not in (6, 7):
            raise JobError("usage: printmanager job-id user title copies options [file]")
        try:
            job_id, copies = int(argv[1]), int(argv[4] or "1")
        except ValueError:
            raise JobError("job id and copies must be numbers") from None
        file = argv[6] if len(argv) == 7 else None
        return cls(
            job_id=job_id,
            user=argv[2],
            title=argv[3],
            copies=copies,
            options=parse_options(argv[5]),
            file=file,
            queue=env.get("PRINTER", ""),
            queue_info=env.get("PRINTER_INFO", ""),
            queue_location=env.get("PRINTER_LOCATION", ""),
            content_type=env.get("CONTENT_TYPE", ""),
            final_content_type=env.get("FINAL_CONTENT_TYPE", ""),
            size=_size(file),
            pages=count_pages(file) if file else None,
        )

    @property
    def uuid(self) -> str:
        """cupsd's job-uuid (urn:uuid:…), the API's idempotency key; empty if absent."""
        return self.options.get("job-uuid", "")

    def payload(self, device: Device) -> dict[str, Any]:
        """The authorize request's body (docs/gateway.md, "The API")."""
        options = {k: v for k, v in self.options.items() if k not in SECRET_OPTIONS}
        billing = {k: options[k] for k in BILLING_OPTIONS if options.get(k)}
        return {
            "job": {
                "id": self.job_id,
                "uuid": self.uuid,
                "user": self.user,
                "title": self.title,
                "copies": self.copies,
                "options": options,
                "originating_host": options.get("job-originating-host-name", ""),
                "billing": billing,
                "content_type": self.content_type,
                "final_content_type": self.final_content_type,
                "bytes": self.size,
                "pages": self.pages,
            },
            "queue": {
                "name": self.queue,
                "info": self.queue_info,
                "location": self.queue_location,
            },
            "device": device.describe(),
        }


def parse_options(text: str) -> dict[str, str]:
    """cupsd's OPTIONS argument as a dict; `name` alone is "true", `noname` "false"."""
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        words = text.split()
    options: dict[str, str] = {}
    for word in words:
        name, sep, value = word.partition("=")
        if sep:
            options[name] = value
        elif name.startswith("no") and len(name) > 2:
            options[name[2:]] = "false"
        elif name:
            options[name] = "true"
    return options


def count_pages(path: str) -> int | None:
    """The document's pages when its file says so cheaply (see PS_PAGES, PDF_PAGE)."""
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
            if head.startswith(b"%!"):
                found = PS_PAGES.search(head)
                return int(found.group(1)) or None if found else None
            if head.startswith(b"%PDF") and os.fstat(f.fileno()).st_size <= MAX_PDF_SCAN:
                return _pdf_pages(head, f) or None
    except OSError:
        return None
    return None


def _pdf_pages(head: bytes, f: Any) -> int:
    """Page objects in a PDF read in pieces; a match that starts in the last PDF_TAIL
    bytes of a piece is counted with the next one (it may go on there)."""
    count, window = 0, head
    while chunk := f.read(1024 * 1024):
        cut = max(0, len(window) - PDF_TAIL)
        count += sum(1 for m in PDF_PAGE.finditer(window) if m.start() < cut)
        window = window[cut:] + chunk
    return count + len(PDF_PAGE.findall(window))


def _size(file: str | None) -> int | None:
    if file is None:
        return None
    try:
        return os.stat(file).st_size
    except OSError:
        return None
