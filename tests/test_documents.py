# SPDX-License-Identifier: GPL-3.0-or-later
"""check_document: documents made here (pypdf PDFs, PNG and JPEG headers, PostScript, Word
documents converted by the real LibreOffice), typed by content and refused with reasons."""

from __future__ import annotations

import http.server
import io
import struct
import threading
import zipfile
import zlib
from pathlib import Path

import pytest
from pypdf import PdfReader

from releasestation.errors import DocumentRefused, ReleaseStationError
from releasestation.submit import CheckedDocument, DocumentLimits, check_document
from releasestation.submit.documents import title_of
from releasestation.submit.office import kind_of
from tests.fixtures.web import pdf

CONVERT = DocumentLimits(convert_office=True, convert_timeout_seconds=90)


def png(width: int, height: int) -> bytes:
    """A grey PNG; one that claims more than 10,000 pixels has one row of data only (a few
    hundred bytes whatever it claims)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = height if width * height <= 10_000 else 1
    pixels = zlib.compress((b"\x00" + b"\x80" * min(width, 100)) * rows)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    """A baseline JPEG's segments up to its data: JFIF, a comment, fill bytes, a quantisation
    table, the frame (SOF0) with its size, the scan."""

    def segment(code: int, body: bytes) -> bytes:
        return bytes([0xFF, code]) + struct.pack(">H", len(body) + 2) + body

    jfif = segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    comment = segment(0xFE, b"made for a test \xff\xc0 not a frame")
    tables = segment(0xDB, b"\x00" + bytes(range(1, 65)))
    frame = segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    scan = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x12\x34\xff\x00\x56"
    return b"\xff\xd8" + jfif + comment + b"\xff" + tables + frame + scan + b"\xff\xd9"


def docx(paragraphs: list[str], page_breaks: bool = True) -> bytes:
    """A minimal Word document (the three parts Word needs), a page break between
    paragraphs."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    brk = '<w:p><w:r><w:br w:type="page"/></w:r></w:p>' if page_breaks else ""
    body = brk.join(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>" for text in paragraphs)
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
            'org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
            '"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
            'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            'Target="word/document.xml"/></Relationships>'
        ),
        "word/document.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{w}"><w:body>{body}'
            "</w:body></w:document>"
        ),
    }
    return _zip(parts)


def odt(content_body: str) -> bytes:
    """A minimal OpenDocument text: mimetype first (stored), manifest, content."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.2">'
        f"<office:body><office:text>{content_body}</office:text></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
        'names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
        'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    return _zip(
        {
            "mimetype": "application/vnd.oasis.opendocument.text",
            "META-INF/manifest.xml": manifest,
            "content.xml": content,
        }
    )


def xlsx() -> bytes:
    return _zip({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"})


def _zip(parts: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in parts.items():
            kind = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(name, text, compress_type=kind)
    return out.getvalue()


def refused(data: bytes, filename: str = "document", limits: DocumentLimits | None = None) -> str:
    with pytest.raises(DocumentRefused) as caught:
        check_document(data, filename, limits)
    assert isinstance(caught.value, ReleaseStationError)
    return caught.value.reason


# -- PDF ------------------------------------------------------------------------------------


def test_a_pdf_is_typed_counted_and_titled_after_its_file_name():
    data = pdf(pages=3)
    checked = check_document(data, "C:\\Users\\alice\\Quarterly report.pdf")
    assert checked == CheckedDocument("application/pdf", 3, len(data), "Quarterly report.pdf", data)
    assert "data" not in repr(checked)


def test_the_type_comes_from_the_content_never_the_file_name():
    assert check_document(pdf(), "holiday.jpg").mime == "application/pdf"
    assert check_document(png(10, 10), "report.pdf").mime == "image/png"
    assert refused(b"<html><body>Hello</body></html>", "report.pdf") == (
        "not a PDF, PNG, JPEG or PostScript document"
    )


def test_a_file_like_document_is_read_as_bytes():
    data = pdf(pages=2)
    assert check_document(io.BytesIO(data), "a.pdf").pages == 2


def test_an_encrypted_pdf_is_refused():
    assert refused(pdf(password="secret"), "locked.pdf") == "the PDF is encrypted"


@pytest.mark.parametrize(
    "data",
    [
        pdf(pages=2)[: len(pdf(pages=2)) // 2],
        pdf()[:40],
        b"%PDF-1.7\n<html><script>alert(1)</script></html>\n",
        b"%PDF-1.4\n" + b"\x00" * 5000,
    ],
    ids=["truncated", "header-only", "html-behind-a-pdf-header", "zeros"],
)
def test_a_damaged_pdf_is_refused(data):
    assert refused(data, "broken.pdf") == "the PDF is damaged and cannot be read"


# -- images ---------------------------------------------------------------------------------


def test_png_and_jpeg_are_one_page_each():
    assert check_document(png(640, 480), "x").pages == 1
    checked = check_document(jpeg(800, 600), "photo")
    assert (checked.mime, checked.pages) == ("image/jpeg", 1)


def test_an_image_that_would_be_gigabytes_is_refused_from_its_header():
    bomb = png(50000, 50000)
    assert len(bomb) < 200
    assert refused(bomb) == "the image would be 50000 x 50000 pixels (at most 100 megapixels)"
    assert refused(jpeg(65000, 20000)).startswith("the image would be 65000 x 20000 pixels")
    small = DocumentLimits(max_pixels=1000)
    assert check_document(png(40, 25), "x", small).pages == 1
    assert refused(png(40, 26), limits=small).startswith("the image would be 40 x 26 pixels")


def test_damaged_images_are_refused():
    assert refused(png(1, 1)[:20]) == "the PNG image is damaged (no image header)"
    assert refused(png(0, 10)) == "the image has no pixels"
    no_frame = b"\xff\xd8\xff\xe0\x00\x04ab\xff\xda\x00\x02\xff\xd9"
    assert refused(no_frame) == "the JPEG image is damaged (no image size before its data)"
    assert refused(jpeg(100, 0)) == "the JPEG image does not say its height before its data"
    assert refused(b"\xff\xd8\xff\xe0\x00\x10abc") == (
        "the JPEG image is damaged (no image size before its data)"
    )


# -- PostScript -----------------------------------------------------------------------------


def test_postscript_pages_come_from_its_comments():
    head = b"%!PS-Adobe-3.0\n%%Creator: test\n"
    assert check_document(head + b"%%Pages: 2\n%%EndComments\nshowpage\n", "a").pages == 2
    atend = head + b"%%Pages: (atend)\n%%EndComments\n" + b"showpage\n" * 4
    checked = check_document(atend + b"%%Trailer\n%%Pages: 4\n%%EOF\n", "a")
    assert (checked.mime, checked.pages) == ("application/postscript", 4)
    assert check_document(b"%!PS\nshowpage\n", "a").pages is None


# -- size -----------------------------------------------------------------------------------


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.given = 0

    def read(self, size: int | None = -1, /) -> bytes:
        piece = super().read(size)
        self.given += len(piece)
        return piece


def test_the_size_is_checked_before_anything_is_parsed():
    limits = DocumentLimits(max_bytes=20 * 1024 * 1024)
    huge = CountingReader(b"%PDF-1.7\n" + b"x" * (64 * 1024 * 1024))
    assert refused(huge, limits=limits) == "larger than 20 MB"  # type: ignore[arg-type]
    assert huge.given == limits.max_bytes + 1
    small = DocumentLimits(max_bytes=1000)
    assert refused(b"%!PS\n" + b"%" * 996, limits=small) == "larger than 0.000953674 MB"
    assert check_document(b"%!PS\n" + b"%" * 995, "a", small).size == 1000
    assert refused(b"") == "the document is empty"


def test_a_title_is_the_file_name_made_safe():
    assert title_of("/home/alice/My\nReport\x07.pdf") == "My Report.pdf"
    assert title_of("") == "document"
    assert len(title_of("é" * 300).encode()) <= 255


# -- Office ---------------------------------------------------------------------------------


def test_office_kinds_are_told_by_content():
    assert kind_of(docx(["a"])) == "docx"
    assert kind_of(odt("<text:p>a</text:p>")) == "odt"
    assert kind_of(xlsx()) == "xlsx"
    assert kind_of(b"{\\rtf1\\ansi hello}") == "rtf"
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100 + "WordDocument".encode("utf-16-le")
    assert kind_of(ole2 + b"\x00\x00") == "doc"
    assert kind_of(_zip({"notes.txt": "just a zip"})) is None
    assert kind_of(b"PK\x03\x04 not really a zip") is None


def test_office_documents_are_refused_unless_conversion_is_on():
    for data in (docx(["a"]), xlsx(), b"{\\rtf1 x}"):
        assert refused(data, "letter.docx") == (
            "Office documents are not accepted here; save it as a PDF first"
        )
    assert refused(b"GIF89a....", limits=CONVERT) == (
        "not a PDF, PNG, JPEG, PostScript or Word or OpenDocument text document"
    )
    assert refused(xlsx(), "budget.xlsx", CONVERT) == (
        "spreadsheets and presentations are not accepted here; save it as a PDF first"
    )


def test_a_word_document_is_converted_by_libreoffice_and_checked_as_a_pdf(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    checked = check_document(docx(["first page", "second page"]), "Letter.docx", CONVERT)
    assert (checked.mime, checked.pages, checked.converted_from) == ("application/pdf", 2, "docx")
    assert checked.data.startswith(b"%PDF-") and checked.size == len(checked.data)
    assert checked.title == "Letter.docx"
    assert list(tmp_path.iterdir()) == []  # the document, the profile, the output: all gone


def test_conversion_fetches_nothing_a_document_links_to(tmp_path):
    """Without the profile's settings LibreOffice fetches both images (tried)."""
    asked: list[str] = []
    local = tmp_path / "private.png"
    local.write_bytes(png(8, 8))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/tracker.png"
        linked = (
            '<text:p>linked<draw:frame svg:width="2cm" svg:height="2cm">'
            f'<draw:image xlink:href="{url}" xlink:type="simple" xlink:show="embed"'
            ' xlink:actuate="onLoad"/></draw:frame></text:p>'
        )
        on_disk = linked.replace(url, local.as_uri())
        checked = check_document(odt(linked + on_disk), "linked.odt", CONVERT)
    finally:
        server.shutdown()
        server.server_close()
    assert checked.pages == 1
    assert asked == []
    assert [len(page.images) for page in PdfReader(io.BytesIO(checked.data)).pages] == [0]


def test_a_conversion_that_hangs_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    pids = tmp_path / "pids"
    hang = tmp_path / "soffice"
    hang.write_text(f"#!/bin/sh\necho $$ >> {pids}\nsleep 60 &\necho $! >> {pids}\nwait\n")
    hang.chmod(0o755)
    limits = DocumentLimits(convert_office=True, convert_timeout_seconds=0.5, soffice=str(hang))
    assert refused(docx(["a"]), limits=limits) == "the document took too long to convert to PDF"
    for pid in pids.read_text().split():  # the script and what it started: killed
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_conversion_that_fails_or_cannot_start_is_refused(tmp_path):
    fails = tmp_path / "soffice"
    fails.write_text("#!/bin/sh\necho 'Error: source file could not be loaded'\nexit 1\n")
    fails.chmod(0o755)
    limits = DocumentLimits(convert_office=True, soffice=str(fails))
    assert refused(docx(["a"]), limits=limits) == "the docx document could not be converted to PDF"
    missing = DocumentLimits(convert_office=True, soffice=str(tmp_path / "no-such-soffice"))
    assert refused(docx(["a"]), limits=missing) == (
        "Office documents cannot be converted here just now"
    )


def _state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return "Z"
