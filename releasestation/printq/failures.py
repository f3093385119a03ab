# SPDX-License-Identifier: GPL-3.0-or-later
"""What a read of cupsd raises besides PrintServerError, for PrintServer's reads
(releasestation.printq.server) and the releases built on them
(releasestation.printq.releases)."""

from releasestation.errors import PrintServerError


class _Hidden(PrintServerError):
    """cupsd answered about a job without its owner or state."""


class Forbidden(PrintServerError):
    """cupsd knows the station's account and does not let it do this (HTTP 403)."""


class _NotFound(Exception):
    """cupsd has no such printer or job."""
