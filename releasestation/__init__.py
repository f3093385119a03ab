# SPDX-License-Identifier: GPL-3.0-or-later
"""releasestation: card and PIN release of print jobs held in CUPS."""

from releasestation.errors import (
    ConfigError,
    DirectoryError,
    PrintServerError,
    ReleaseStationError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DirectoryError",
    "PrintServerError",
    "ReleaseStationError",
    "StoreError",
    "__version__",
]
