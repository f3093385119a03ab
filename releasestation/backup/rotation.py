# SPDX-License-Identifier: GPL-3.0-or-later
"""Nightly archives in `[backup] directory`, the newest `keep` kept, and the state file.

`releasestation backup --rotate` (systemd/releasestation-backup.timer) writes
`releasestation-STATION-YYYYMMDDTHHMMSSZ.tar.gz` (`.tar.gz.enc` when encrypted) and then
removes the oldest such archives of this station beyond `keep`; nothing else in the
directory is touched, and nothing is removed when the new archive could not be written.

The outcome of the last backup is kept in `[backup] state_file` (JSON: the time, archive,
size and duration of the last success, the time and error of the last failure) for
`releasestation status` and the metrics to show; it lives beside the store in the state
directory rather than in the store, so that it is this station's own (stations may share a
PostgreSQL store) and a failure is recorded even when the store is what failed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "releasestation-"
STAMP = "%Y%m%dT%H%M%SZ"
SUFFIXES = (".tar.gz", ".tar.gz.enc")


def _safe(station: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", station) or "station"


def archive_name(station: str, at: dt.datetime, encrypted: bool) -> str:
    stamp = at.astimezone(dt.UTC).strftime(STAMP)
    return f"{PREFIX}{_safe(station)}-{stamp}{SUFFIXES[1] if encrypted else SUFFIXES[0]}"


def archives(directory: Path, station: str) -> list[Path]:
    """This station's archives in `directory`, oldest first."""
    pattern = re.compile(
        re.escape(f"{PREFIX}{_safe(station)}-") + r"(\d{8}T\d{6}Z)\.tar\.gz(\.enc)?"
    )
    found = [p for p in directory.iterdir() if pattern.fullmatch(p.name) and p.is_file()]
    return sorted(found, key=lambda p: pattern.fullmatch(p.name).group(1))  # type: ignore[union-attr]


def prune(directory: Path, station: str, keep: int) -> list[Path]:
    """Remove this station's oldest archives beyond `keep`; those removed."""
    found = archives(directory, station)
    removed = found[: max(len(found) - keep, 0)]
    for path in removed:
        path.unlink()
        log.info("removed old backup %s", path)
    return removed


def read_state(state_file: str) -> dict[str, Any]:
    """The state file's contents ({} when there is none yet or it cannot be read)."""
    try:
        data = json.loads(Path(state_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_success(state_file: str) -> dt.datetime | None:
    """When the last backup succeeded, for status and metrics."""
    at = read_state(state_file).get("last_success", {}).get("at")
    return dt.datetime.fromisoformat(at) if at else None


def record(state_file: str, key: str, values: dict[str, Any]) -> None:
    """Set `key` (last_success | last_failure) in the state file; a warning if it cannot be
    written (the backup itself is done or failed either way)."""
    state = read_state(state_file)
    state[key] = values
    where = Path(state_file)
    temporary = None
    try:
        where.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        fd, temporary = tempfile.mkstemp(dir=where.parent, prefix=f".{where.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=2, sort_keys=True)
            out.write("\n")
        os.chmod(temporary, 0o640)
        os.replace(temporary, where)
    except OSError as exc:
        log.warning("cannot record the backup's outcome in %s: %s", where, exc.strerror)
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
