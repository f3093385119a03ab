# SPDX-License-Identifier: GPL-3.0-or-later
"""What a fetched mail is: its sender, its attachments, whether a machine sent it, and what
the station's own mail server said of its origin.

- The sender is the one address in From (a mail with none, or several, has no sender).
- Attachments are the leaf parts with `Content-Disposition: attachment`, and parts that
  carry a file name, `inline` ones too (Apple Mail sends a PDF so, to show it in the
  text). Pictures an HTML body shows (parts with a Content-ID in a multipart/related: a
  logo in a signature) and the body's text and HTML are not attachments; nor are the
  signatures of S/MIME and OpenPGP mail. Their bytes are decoded from the transfer
  encoding and handed to the document checks; nothing here opens them.
- A machine's mail (RFC 3834's Auto-Submitted other than "no", Precedence bulk, list or
  junk, List-Id or List-Unsubscribe, an empty Return-Path, a sender called MAILER-DAEMON or
  postmaster) is never answered and never printed: answering one is how mail loops start,
  and subscribing the print address to a list must not print the list.
- Authentication-Results (RFC 8601): only the headers whose authserv-id is the station's
  own mail server's are read — anyone can write the header, and a well-run server removes
  copies bearing its own id from incoming mail. The sender is vouched for when that
  server says dmarc=pass, or spf=pass for an envelope sender in the From address's domain,
  or dkim=pass for a signing domain that is the From address's domain (or a parent of it).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart

MACHINE_SENDERS = frozenset({"mailer-daemon", "postmaster", "noreply", "no-reply"})
SIGNATURES = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)
BULK = frozenset({"bulk", "list", "junk"})
_RESULT = re.compile(r"^\s*([a-z0-9_.-]+)\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.DOTALL)
_PROPERTY = re.compile(r"\b([a-z]+\.[a-z0-9_-]+)\s*=\s*([^\s;]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Attachment:
    """A part of the mail meant to be printed: its file name as sent and its bytes."""

    filename: str
    data: bytes


def parse(raw: bytes) -> EmailMessage:
    """The mail in `raw`, parsed (defects are tolerated: the checks below decide)."""
    return email.message_from_bytes(raw, policy=email.policy.default)


def sender_of(message: EmailMessage) -> str | None:
    """The one address in From, lower case; None when there is not exactly one."""
    try:
        values = message.get_all("From") or []
    except (ValueError, IndexError):
        return None
    addresses = email.utils.getaddresses([str(v) for v in values])
    found = [address.strip().lower() for _, address in addresses if address.strip()]
    if len(found) != 1 or not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", found[0]):
        return None
    return found[0]


def key_of(message: EmailMessage, sender: str, raw: bytes) -> str:
    """The key the mail is remembered by: its sender and Message-ID (the whole mail when it
    has no Message-ID), hashed."""
    message_id = str(message.get("Message-ID", "") or "").strip()
    basis = message_id.encode("utf-8", "replace") if message_id else raw
    return hashlib.sha256(sender.encode() + b"\0" + basis).hexdigest()


def machine_sent(message: EmailMessage, sender: str | None) -> str | None:
    """Why the mail looks sent by a machine (an auto-reply, a list, a bounce), else None."""
    auto = str(message.get("Auto-Submitted", "") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return f"Auto-Submitted: {auto.split(';')[0]}"
    precedence = str(message.get("Precedence", "") or "").strip().lower()
    if precedence in BULK:
        return f"Precedence: {precedence}"
    for header in ("List-Id", "List-Unsubscribe", "X-Autoreply", "X-Autorespond"):
        if message.get(header) is not None:
            return f"it has a {header} header"
    if str(message.get("Return-Path", "") or "").strip() == "<>":
        return "its Return-Path is empty (a bounce)"
    local = (sender or "").partition("@")[0]
    if local in MACHINE_SENDERS:
        return f"it comes from {local}"
    return None


def attachments_of(message: EmailMessage) -> list[Attachment]:
    """The attachments to print, in the order they appear."""
    found = []
    for part, related in _leaves(message, related=False):
        if part.get_content_type() in SIGNATURES:
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if related and part.get("Content-ID") is not None:
            continue  # a picture the HTML body shows
        if disposition == "attachment" or filename:
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                found.append(Attachment(filename or "attachment", data))
    return found


def _leaves(part: MIMEPart, related: bool) -> Iterator[tuple[MIMEPart, bool]]:
    """The leaf parts under `part`, each with whether it sits in a multipart/related (the
    pictures an HTML body shows, named by Content-ID: a logo in a signature)."""
    if not part.is_multipart():
        yield part, related
        return
    inner = related or part.get_content_type() == "multipart/related"
    for sub in part.get_payload():
        if isinstance(sub, MIMEPart):
            yield from _leaves(sub, inner)


def body_text(message: EmailMessage) -> str:
    """The plain-text body, or "" when the mail has none."""
    part = message.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    try:
        return str(part.get_content()).strip()
    except (LookupError, ValueError):
        return ""


def subject_of(message: EmailMessage) -> str:
    try:
        return " ".join(str(message.get("Subject", "") or "").split())
    except (ValueError, IndexError):
        return ""


def authenticated(message: EmailMessage, authserv_id: str, sender: str) -> bool:
    """True when the Authentication-Results of `authserv_id` vouch for `sender`'s domain
    (see the module's docstring)."""
    domain, wanted = sender.rpartition("@")[2].lower(), authserv_id.strip().lower()
    for header in message.get_all("Authentication-Results") or []:
        server, _, rest = _COMMENT.sub("", str(header)).partition(";")
        words = server.split()
        if not words or words[0].lower() != wanted:
            continue
        for result in rest.split(";"):
            if _vouches(result, domain):
                return True
    return False


def _vouches(result: str, domain: str) -> bool:
    found = _RESULT.match(result)
    if found is None or found[2].lower() != "pass":
        return False
    method = found[1].lower()
    props = {k.lower(): v.strip('"').lower() for k, v in _PROPERTY.findall(found[3])}
    if method == "dmarc":
        return props.get("header.from", domain) == domain
    if method == "spf":
        envelope = props.get("smtp.mailfrom", "").rpartition("@")[2]
        return bool(envelope) and _aligned(domain, envelope)
    if method == "dkim":
        signer = props.get("header.d") or props.get("header.i", "").rpartition("@")[2]
        return bool(signer) and _aligned(domain, signer)
    return False


def _aligned(domain: str, other: str) -> bool:
    """`other` is `domain` or a parent of it (relaxed alignment, as DMARC has it)."""
    return domain == other or domain.endswith("." + other)
