# SPDX-License-Identifier: GPL-3.0-or-later
"""`[mailprint]`: the mailbox mail-to-print fetches from, and what it accepts
(releasestation.mailprint, docs/mailprint.md; every key in examples/releasestation.ini)."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class MailprintSettings:
    """[mailprint]: off while `imap_server` is empty."""

    imap_server: str = ""
    port: int = 993
    starttls: bool = False  # no: TLS from the first byte (993); yes: STARTTLS (143)
    user: str = ""
    password_file: str | None = None  # 0600
    ca_file: str | None = None  # empty: the system's CAs
    timeout_seconds: float = 30.0
    folder: str = "INBOX"
    processed_folder: str = "processed"
    failed_folder: str = "failed"
    poll_seconds: float = 60.0  # when the server offers no IDLE, and between IDLE rounds
    idle_seconds: float = 600.0  # an IDLE is renewed this often (RFC 2177: under 29 minutes)
    allowed_senders: str = ""  # a regex the whole address must match; empty: any
    print_body: bool = False
    max_mb: float = 20.0  # per attachment
    max_attachments: int = 10
    max_messages_per_hour: int = 20  # per sender; 0: no limit
    convert_office: bool = False
    reply: bool = True  # answer refusals (never to auto-responders and lists)
    require_authentication_results: bool = False
    authserv_id: str = ""  # your own mail server's, as it writes Authentication-Results

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError("port: must be between 1 and 65535")
        if self.imap_server and not self.user:
            raise ValueError("user: the mailbox's login is needed with imap_server")
        if self.imap_server and not self.password_file:
            raise ValueError("password_file: needed with imap_server (a 0600 file)")
        if self.timeout_seconds <= 0 or self.poll_seconds <= 0:
            raise ValueError("timeout_seconds, poll_seconds: must be more than 0")
        if not 0 < self.idle_seconds <= 29 * 60:
            raise ValueError("idle_seconds: more than 0, at most 1740 (29 minutes)")
        if not 0 < self.max_mb <= 1024:
            raise ValueError("max_mb: more than 0 and at most 1024")
        if self.max_attachments < 1 or self.max_messages_per_hour < 0:
            raise ValueError("max_attachments: at least 1; max_messages_per_hour: not negative")
        if len({self.folder, self.processed_folder, self.failed_folder}) != 3:
            raise ValueError("folder, processed_folder, failed_folder: three different folders")
        if self.require_authentication_results and not self.authserv_id.strip():
            raise ValueError(
                "authserv_id: name your own mail server (as in its Authentication-Results)"
                " with require_authentication_results"
            )
        try:
            re.compile(self.allowed_senders)
        except re.error as exc:
            raise ValueError(f"allowed_senders: not a regular expression: {exc}") from None

    @property
    def enabled(self) -> bool:
        return bool(self.imap_server)

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)

    @property
    def max_message_bytes(self) -> int:
        """The largest mail read whole: every attachment at its largest, in base64 (4/3),
        and a megabyte of text and headers. A larger one is refused from its header."""
        return self.max_attachments * self.max_bytes * 4 // 3 + 1024 * 1024
