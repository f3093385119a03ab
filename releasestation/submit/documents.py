# SPDX-License-Identifier: GPL-3.0-or-later
"""A document checked before it becomes a held job: its type by content, its pages, its
size, or the reason it is refused.

Whatever way a document came in (an upload on the web portal, a mail attachment), it is
checked here, once. The type is read from the content (magic bytes), never from the file
name, which is used only for the title:

- PDF (`%PDF-` within the first 1024 bytes, as readers accept it): parsed by pypdf
  (`strict=False`, as most real PDFs are slightly off); one it cannot read is refused as
  damaged, an encrypted one is refused (the print filters cannot open it), the pages are
  counted.
- PNG and JPEG: width and height from the header, never decoded
  (releasestation.submit.images); more than `max_pixels` is refused. One page.
- PostScript (`%!PS`): pages from the `%%Pages:` comment when there is one (`(atend)`
  looks in the trailer), else unknown (None).
- Office documents, only with `convert_office`: converted to PDF by LibreOffice
  (releasestation.submit.office) and the result checked as a PDF; without it, refused.

The size limit is checked before anything is parsed: a file-like document is read no
further than `max_bytes` + 1. Nothing is written to disk here (a conversion works in a
temporary directory of its own, removed afterwards).
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from typing import Protocol

from pypdf import PdfReader

from releasestation.errors import DocumentRefused
from releasestation.printq.submission import job_name
from releasestation.submit import office
from releasestation.submit.images import JPEG_SOI, PNG_SIGNATURE, jpeg_size, png_size

log = logging.getLogger(__name__)

PDF, PNG, JPEG, POSTSCRIPT = "application/pdf", "image/png", "image/jpeg", "application/postscript"
PDF_MAGIC = b"%PDF-"
PDF_HEADER_WINDOW = 1024
PS_MAGIC = b"%!PS"
PS_COMMENTS_WINDOW = 65536  # how far into the head, and back from the end, %%Pages: is sought
_PAGES = re.compile(rb"^%%Pages:[ \t]*(\d+|\(atend\))", re.MULTILINE)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class DocumentLimits:
    """What a station accepts: `max_bytes` of document, images of at most `max_pixels`,
    Office documents when `convert_office` (by `soffice`, within `convert_timeout_seconds`)."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 100_000_000
    convert_office: bool = False
    convert_timeout_seconds: float = 60.0
    soffice: str = "soffice"

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_pixels < 1 or self.convert_timeout_seconds <= 0:
            raise ValueError("max_bytes, max_pixels and convert_timeout_seconds must be positive")


@dataclass(frozen=True)
class CheckedDocument:
    """A document fit to print: its MIME type by content, its pages (None when the document
    does not say), its size in bytes, the title to show, and the bytes to send (a converted
    document's are the PDF's; `converted_from` names what it was)."""

    mime: str
    pages: int | None
    size: int
    title: str
    data: bytes = field(repr=False)
    converted_from: str | None = None


def check_document(
    data: bytes | Readable, filename: str, limits: DocumentLimits | None = None
) -> CheckedDocument:
    """`data` checked (see the module's docstring), titled after `filename`; DocumentRefused
    says why not."""
    limits = limits or DocumentLimits()
    raw = _read(data, limits.max_bytes)
    title = title_of(filename)
    if raw[:8] == PNG_SIGNATURE:
        return CheckedDocument(PNG, _image_pages(png_size(raw), limits), len(raw), title, raw)
    if raw[:3] == JPEG_SOI:
        return CheckedDocument(JPEG, _image_pages(jpeg_size(raw), limits), len(raw), title, raw)
    if raw[:4] == PS_MAGIC:
        return CheckedDocument(POSTSCRIPT, postscript_pages(raw), len(raw), title, raw)
    kind = None if raw.startswith(PDF_MAGIC) else office.kind_of(raw)
    if kind is None and PDF_MAGIC in raw[:PDF_HEADER_WINDOW]:
        return CheckedDocument(PDF, pdf_pages(raw), len(raw), title, raw)
    if kind is None:
        raise DocumentRefused(_not_accepted(limits))
    pdf = office.to_pdf(
        raw, kind, limits.convert_office, limits.soffice, limits.convert_timeout_seconds,
        limits.max_bytes,
    )  # fmt: skip
    return CheckedDocument(PDF, pdf_pages(pdf), len(pdf), title, pdf, converted_from=kind)


def title_of(filename: str) -> str:
    """The title shown for a document: its file name without any folder, made a safe job
    name (no control characters, length capped)."""
    base = re.split(r"[/\\]", filename or "")[-1]
    return job_name(base)


def pdf_pages(data: bytes) -> int:
    """The number of pages of a PDF; DocumentRefused when it is damaged, encrypted or empty."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise DocumentRefused("the PDF is encrypted")
        pages = len(reader.pages)
    except DocumentRefused:
        raise
    except Exception as exc:  # whatever a hostile file makes pypdf raise
        log.debug("PDF refused: %r", exc)
        raise DocumentRefused("the PDF is damaged and cannot be read") from None
    if pages < 1:
        raise DocumentRefused("the PDF has no pages")
    return pages


def postscript_pages(data: bytes) -> int | None:
    """The `%%Pages:` of a PostScript document's header (or trailer, for `(atend)`)."""
    found = _PAGES.search(data[:PS_COMMENTS_WINDOW])
    if found is not None and found[1] == b"(atend)":
        found = None
        for found in _PAGES.finditer(data[-PS_COMMENTS_WINDOW:]):  # noqa: B007 - the last one
            pass
    if found is None or not found[1].isdigit():
        return None
    return int(found[1]) or None


def _image_pages(size: tuple[int, int], limits: DocumentLimits) -> int:
    width, height = size
    if width < 1 or height < 1:
        raise DocumentRefused("the image has no pixels")
    if width * height > limits.max_pixels:
        most = f"{limits.max_pixels / 1_000_000:g} megapixels"
        raise DocumentRefused(f"the image would be {width} x {height} pixels (at most {most})")
    return 1


def _read(data: bytes | Readable, max_bytes: int) -> bytes:
    """The document's bytes, no more than `max_bytes` + 1 of them read from a file."""
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        chunks, got = [], 0
        while got <= max_bytes:
            chunk = data.read(max_bytes + 1 - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        raw = b"".join(chunks)
    if len(raw) > max_bytes:
        raise DocumentRefused(f"larger than {_megabytes(max_bytes)}")
    if not raw:
        raise DocumentRefused("the document is empty")
    return raw


def _not_accepted(limits: DocumentLimits) -> str:
    if limits.convert_office:
        return f"not a PDF, PNG, JPEG, PostScript or {office.ACCEPTED} document"
    return "not a PDF, PNG, JPEG or PostScript document"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"
