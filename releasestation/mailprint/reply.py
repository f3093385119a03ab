# SPDX-License-Identifier: GPL-3.0-or-later
"""The short answer to a refused mail: what was not printed, and why.

Sent through the `[credgen]` mail server and From address (releasestation.credentials.mail),
as a reply (In-Reply-To, References) marked `Auto-Submitted: auto-replied` (RFC 3834) so
that well-behaved auto-responders do not answer it in turn. It is never sent to a machine
(releasestation.mailprint.message.machine_sent), nor to the station's own address; the
per-sender hourly limit caps how many a sender can draw, and a sender over the limit is
told once. The answer quotes nothing of the mail but its subject and file names.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from email.message import EmailMessage
from typing import TYPE_CHECKING

from releasestation.credentials.mail import Mailer, MailError, message

if TYPE_CHECKING:
    from releasestation.credentials.settings import CredgenSettings

log = logging.getLogger(__name__)

MAX_SUBJECT = 120


def refusal(
    settings: CredgenSettings, to: str, original: EmailMessage, reasons: Sequence[str]
) -> EmailMessage:
    """The reply to `original` from `to`, saying `reasons` (one line each)."""
    subject = " ".join(str(original.get("Subject", "") or "").split())[:MAX_SUBJECT]
    text = (
        "Your mail to the print service was not printed; nothing of it is waiting at the"
        " printers.\n\n"
        + "".join(f"- {reason}\n" for reason in reasons)
        + "\nPlease send it again once this is put right.\n"
    )
    reply = message(settings, to, f"Not printed: {subject}" if subject else "Not printed", text,
                    False)  # fmt: skip
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-Auto-Response-Suppress"] = "All"
    original_id = str(original.get("Message-ID", "") or "").strip()
    if original_id and "\n" not in original_id and "\r" not in original_id:
        reply["In-Reply-To"] = original_id
        reply["References"] = original_id
    return reply


def send_refusal(
    settings: CredgenSettings, to: str, original: EmailMessage, reasons: Sequence[str]
) -> bool:
    """Send the reply; False (logged) when it could not be sent."""
    if to.strip().lower() == settings.email_from.strip().lower():
        log.warning("mailprint: not answering %s: it is the station's own address", to)
        return False
    try:
        with Mailer(settings) as mailer:
            mailer.send(refusal(settings, to, original, reasons))
    except MailError as exc:
        log.warning("mailprint: could not answer %s: %s", to, exc)
        return False
    return True
