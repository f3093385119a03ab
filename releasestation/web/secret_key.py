# SPDX-License-Identifier: GPL-3.0-or-later
"""The key that signs the portal's session cookies: a 0600 file, created on first use.

`[web] secret_key_file`, by default `web-secret` beside the station's secret file. It is
not the site secret (which keys card and PIN digests): a leaked cookie key lets someone
forge a session, and replacing it only logs everyone out. Stations of a site behind one
address share it (copy the file), as they would share sessions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from releasestation.secret import load_or_create_hex

if TYPE_CHECKING:
    from releasestation.config import StationSettings, WebSettings


KEY_BYTES = 32
DEFAULT_NAME = "web-secret"


def key_path(web: WebSettings, station: StationSettings) -> Path:
    """`[web] secret_key_file`, else `web-secret` beside `[station] secret_file`."""
    if web.secret_key_file:
        return Path(web.secret_key_file)
    return Path(station.secret_file).parent / DEFAULT_NAME


def load_or_create_key(path: Path) -> str:
    """The key in `path`, created 0600 with fresh random bytes when absent; ConfigError
    when it cannot be made or read, is readable by others, or is too short."""
    return load_or_create_hex(
        path, "[web] secret_key_file", "a new key for the portal's sessions", KEY_BYTES
    )
