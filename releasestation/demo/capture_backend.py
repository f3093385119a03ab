# SPDX-License-Identifier: GPL-3.0-or-later
"""`capture` — a CUPS backend that "prints" into a directory, for tests and the demo.

Device URI: `capture:/absolute/dir`. CUPS runs a backend as
`capture JOB-ID USER TITLE COPIES OPTIONS [FILE]` with the job's data on stdin when no FILE
is given (and with no arguments to list devices). Each job becomes `JOB-ID.data` (the
bytes) and `JOB-ID.json` (job id, user, title, queue, copies, options), the JSON written
last and atomically so a reader never sees half a job. A job that comes out again (cupsd
restarted a job it had printed) is kept beside the first as `JOB-ID.2.json`, `.3`, …:
never overwritten, so a test that counts prints by job id sees it twice. Like a real
printer's backend it then tells cupsd the pages that came out, one `PAGE: N COPIES` line
per page on stderr, which cupsd counts as the job's job-impressions-completed (and writes to
its page_log): the pages of a PDF (its /Type /Page objects) or of PostScript
(`%%Pages: N`), else one page. Standard library only: PrivateCups copies this file into
its ServerBin/backend as `capture`.
"""

from __future__ import annotations

import json
import os
import re
import sys

CUPS_BACKEND_OK = 0
CUPS_BACKEND_FAILED = 1
PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
PS_PAGES = re.compile(rb"^%%Pages:\s*(\d+)", re.MULTILINE)


def capture(argv: list[str], env: dict[str, str]) -> int:
    if len(argv) == 1:
        print('direct capture "Unknown" "releasestation capture backend"')
        return CUPS_BACKEND_OK
    if len(argv) not in (6, 7):
        print("ERROR: usage: capture job-id user title copies options [file]", file=sys.stderr)
        return CUPS_BACKEND_FAILED
    target = env.get("DEVICE_URI", "").partition(":")[2]
    if not target.startswith("/"):
        print("ERROR: device URI must be capture:/absolute/dir", file=sys.stderr)
        return CUPS_BACKEND_FAILED
    job_id, user, title, copies, options = argv[1:6]
    if not job_id.isdigit():
        print("ERROR: the job id must be a number", file=sys.stderr)
        return CUPS_BACKEND_FAILED
    data = _read(argv[6] if len(argv) == 7 else None)
    base = _free_name(target, job_id)
    _write(base + ".data", data)
    meta = {
        "job_id": int(job_id),
        "user": user,
        "title": title,
        "queue": env.get("PRINTER", ""),
        "copies": int(copies or 1),
        "options": options,
    }
    _write(base + ".json", json.dumps(meta).encode("utf-8"))
    for page in range(1, pages_of(data) + 1):
        print(f"PAGE: {page} {meta['copies']}", file=sys.stderr, flush=True)
    return CUPS_BACKEND_OK


def pages_of(data: bytes) -> int:
    """The pages of a PDF or PostScript document; one for anything else."""
    if data.startswith(b"%PDF"):
        return len(PDF_PAGE.findall(data)) or 1
    found = PS_PAGES.search(data[:65536]) if data.startswith(b"%!") else None
    return max(1, int(found.group(1))) if found else 1


def _read(path: str | None) -> bytes:
    if path is None:
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _free_name(target: str, job_id: str) -> str:
    """`target/JOB-ID` for a job's first print, `target/JOB-ID.N` for its N-th: taken by
    creating `….taken` exclusively, so two prints of one job at once get two names."""
    n = 1
    while True:
        base = os.path.join(target, job_id if n == 1 else f"{job_id}.{n}")
        try:
            os.close(os.open(base + ".taken", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            n += 1
            continue
        return base


def _write(path: str, data: bytes) -> None:
    partial = path + ".part"
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(capture(sys.argv, dict(os.environ)))
