# SPDX-License-Identifier: GPL-3.0-or-later
"""A real SMTP server on loopback (aiosmtpd's Controller) that keeps what it receives.

`SmtpServer(Handler())` accepts and captures every message (envelope, raw bytes, parsed
message) and counts connections; `Handler(refuse_recipients=True)` refuses every recipient
(550). aiosmtpd's Controller cannot bind port 0, so a free port is picked first. The credgen
bench mails through it; the tests' SMTP fixtures (tests/fixtures/smtp.py) wrap it.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Captured:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    message: EmailMessage

    def text(self) -> str:
        """The decoded body of the (single-part) message, with \n line ends."""
        return str(self.message.get_content()).replace("\r\n", "\n")


class Handler:
    """aiosmtpd handler: captures messages; `refuse_recipients` refuses every RCPT TO."""

    def __init__(self, refuse_recipients: bool = False):
        self.refuse_recipients = refuse_recipients
        self.messages: list[Captured] = []
        self.peers: set[tuple] = set()  # (address, port) of each client connection
        self.cond = threading.Condition()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.cond:
            self.peers.add(tuple(session.peer))
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_recipients:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = bytes(envelope.original_content or envelope.content)
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        captured = Captured(envelope.mail_from, list(envelope.rcpt_tos), data, parsed)  # type: ignore[arg-type]
        with self.cond:
            self.messages.append(captured)
            self.cond.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    """A running aiosmtpd Controller on 127.0.0.1 and what it received."""

    def __init__(self, handler: Handler, **kwargs: Any):
        self.handler = handler
        self.host = "127.0.0.1"
        self.port = free_port()
        self.controller = Controller(handler, hostname=self.host, port=self.port, **kwargs)
        self.controller.start()

    @property
    def messages(self) -> list[Captured]:
        with self.handler.cond:
            return list(self.handler.messages)

    @property
    def connections(self) -> int:
        """Client connections that said EHLO (after STARTTLS they say it again)."""
        with self.handler.cond:
            return len(self.handler.peers)

    def to(self, address: str) -> list[Captured]:
        return [m for m in self.messages if address in m.rcpt_tos]

    def ini(self) -> str:
        """`[credgen]` lines pointing at this server."""
        return f"smtp_server = {self.host}\nsmtp_port = {self.port}\n"

    def stop(self) -> None:
        self.controller.stop()
