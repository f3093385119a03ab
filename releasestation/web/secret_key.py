# SPDX-License-Identifier: GPL-3.0-or-later
"""The key that signs the portal's session cookies: a 0600 file, created on first use.

`[web] secret_key_file`, by default `web-secret` beside the station's secret file. It is
not the site secret (which keys card and PIN digests): a leaked cookie key lets someone
forge a session, and replacing it only logs everyone out. Stations of a site behind one
address share it (copy the file), as they would share sessions.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from releasestation.errors import ConfigError
from releasestation.secret import check_mode

if TYPE_CHECKING:
    from releasestation.config import StationSettings, WebSettings

log = logging.getLogger(__name__)

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
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"[web] secret_key_file: cannot create {path}: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(KEY_BYTES) + "\n")
        log.info("created a new key for the portal's sessions in %s", path)
    try:
        problem = check_mode(path)
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"[web] secret_key_file: cannot read {path}: {exc}") from None
    if problem:
        raise ConfigError(f"[web] secret_key_file: {problem}")
    if len(key) < 32:
        raise ConfigError(f"[web] secret_key_file: {path} holds fewer than 32 characters")
    return key
