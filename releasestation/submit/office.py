# SPDX-License-Identifier: GPL-3.0-or-later
"""Office documents: told apart by content, converted to PDF by LibreOffice when allowed.

Kinds, by content: a ZIP holding `word/document.xml` (docx), `xl/workbook.xml` (xlsx) or
`ppt/presentation.xml` (pptx), or whose `mimetype` entry names OpenDocument text,
spreadsheet or presentation (odt, ods, odp); an OLE2 compound file whose directory names a
`WordDocument`, `Workbook` / `Book` or `PowerPoint Document` stream (doc, xls, ppt); RTF.

Only word-processing documents (docx, odt, doc, rtf) are converted: bin/setup installs
LibreOffice's Writer without a GUI (`libreoffice-writer-nogui`), which is what converts
them; spreadsheets and presentations would need Calc and Impress as well, and print badly
unless their sender chose the pages, so they are refused with a reason.

A conversion runs `soffice --headless --convert-to pdf` in a temporary directory of its
own, removed afterwards: the document, the output, LibreOffice's profile (a fresh one each
time, `-env:UserInstallation`, so conversions never share state or lock each other out),
its HOME and its TMPDIR. The profile starts with macros off, links from untrusted
documents blocked and a proxy that leads nowhere, so a document cannot run code or make
the station fetch what it links to, on the network or on its own disk (tests/
test_documents.py: without these settings, LibreOffice fetches a linked image from a URL
and embeds one from a file: path). It runs in a session of its own and is killed, with
every process it started, after `convert_timeout_seconds`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import tempfile
import zipfile
from pathlib import Path

from releasestation.errors import DocumentRefused

log = logging.getLogger(__name__)

ACCEPTED = "Word or OpenDocument text"
CONVERTED = frozenset({"docx", "odt", "doc", "rtf"})
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_PARTS = {"word/document.xml": "docx", "xl/workbook.xml": "xlsx",
              "ppt/presentation.xml": "pptx"}  # fmt: skip
_ODF = {"application/vnd.oasis.opendocument.text": "odt",
        "application/vnd.oasis.opendocument.spreadsheet": "ods",
        "application/vnd.oasis.opendocument.presentation": "odp"}  # fmt: skip
_OLE2_STREAMS = (("WordDocument", "doc"), ("Workbook", "xls"), ("Book", "xls"),
                 ("PowerPoint Document", "ppt"))  # fmt: skip
_SETTINGS = (
    ("/org.openoffice.Office.Common/Security/Scripting", "MacroSecurityLevel", "3"),
    ("/org.openoffice.Office.Common/Security/Scripting", "DisableMacrosExecution", "true"),
    ("/org.openoffice.Office.Common/Security/Scripting", "BlockUntrustedRefererLinks", "true"),
    ("/org.openoffice.Inet/Settings", "ooInetProxyType", "1"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPProxyName", "127.0.0.1"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPProxyPort", "9"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPSProxyName", "127.0.0.1"),
    ("/org.openoffice.Inet/Settings", "ooInetHTTPSProxyPort", "9"),
    ("/org.openoffice.Inet/Settings", "ooInetFTPProxyName", "127.0.0.1"),
    ("/org.openoffice.Inet/Settings", "ooInetFTPProxyPort", "9"),
    ("/org.openoffice.Inet/Settings", "ooInetNoProxy", ""),
)


def kind_of(data: bytes) -> str | None:
    """The Office kind of `data` (docx, xlsx, pptx, odt, ods, odp, doc, xls, ppt, rtf), or
    None when it is none of them."""
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    if data.startswith(OLE2_MAGIC):
        for name, kind in _OLE2_STREAMS:
            if name.encode("utf-16-le") + b"\x00\x00" in data:
                return kind
        return None
    if data.startswith(b"{\\rtf"):
        return "rtf"
    return None


def _zip_kind(data: bytes) -> str | None:
    """Only the central directory and, for OpenDocument, the few bytes of `mimetype` are
    read: nothing is decompressed beyond that."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            for part, kind in _ZIP_PARTS.items():
                if part in names:
                    return kind
            if "mimetype" in names:
                with archive.open("mimetype") as entry:
                    return _ODF.get(entry.read(100).decode("ascii", "replace").strip())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None
    return None


def to_pdf(
    data: bytes, kind: str, enabled: bool, soffice: str, timeout: float, max_bytes: int
) -> bytes:
    """`data`, an Office document of `kind`, converted to PDF by `soffice` within `timeout`
    seconds; DocumentRefused when conversion is not `enabled`, not done for this kind,
    fails, takes too long or makes a PDF of more than `max_bytes`."""
    if not enabled:
        raise DocumentRefused("Office documents are not accepted here; save it as a PDF first")
    if kind not in CONVERTED:
        raise DocumentRefused(
            "spreadsheets and presentations are not accepted here; save it as a PDF first"
        )
    with tempfile.TemporaryDirectory(prefix="rs-convert-") as tmp:
        root = Path(tmp)
        source = root / f"document.{kind}"
        source.write_bytes(data)
        _run(_command(soffice, root, source), root, timeout)
        result = root / "out" / "document.pdf"
        if not result.is_file():
            raise DocumentRefused(f"the {kind} document could not be converted to PDF")
        if result.stat().st_size > max_bytes:
            raise DocumentRefused(f"converted to PDF, it is larger than {max_bytes / 1048576:g} MB")
        return result.read_bytes()


def _command(soffice: str, root: Path, source: Path) -> list[str]:
    profile = root / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_settings_xcu(), "utf-8")
    return [
        soffice,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless", "--invisible", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
        "--convert-to", "pdf", "--outdir", str(root / "out"), str(source),
    ]  # fmt: skip


def _run(command: list[str], root: Path, timeout: float) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(root),
        "TMPDIR": str(root),
        "LANG": "C.UTF-8",
    }
    try:
        proc = subprocess.Popen(
            command, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        log.error("cannot run %s to convert an Office document: %s", command[0], exc)
        raise DocumentRefused("Office documents cannot be converted here just now") from None
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("conversion to PDF stopped after %g s", timeout)
        raise DocumentRefused("the document took too long to convert to PDF") from None
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # soffice.bin and anything it left behind
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    if proc.returncode != 0:
        text = output.decode("utf-8", "replace").strip()[-300:]
        log.warning("conversion to PDF failed (exit %s): %s", proc.returncode, text)


def _settings_xcu() -> str:
    items = "".join(
        f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse">'
        f"<value>{value}</value></prop></item>\n"
        for path, name, value in _SETTINGS
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<oor:items xmlns:oor="http://openoffice.org/2001/registry" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"{items}</oor:items>\n"
    )
