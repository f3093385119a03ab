# SPDX-License-Identifier: GPL-3.0-or-later
"""Mail: composing the credentials message and sending it over one reused SMTP connection.

The body is `email_body`, `email_body_0` … `email_body_9` in order, joined by line breaks,
each filled with {0} PIN, {1} card-assignment code, {2} password, {3} user name, {4} the date
the PIN expires; a part naming a value that is not there this time is left out. In HTML
bodies the values are escaped. TLS (`smtp_ssl` or `smtp_starttls`) checks the server's
certificate and name unless `smtp_insecure_dont_validate_certificate` says otherwise.

A refusal of one message (a recipient or its content) is `MailRefused`: that user fails, the
batch goes on. A server that cannot be reached or refuses the sender or our login is
`MailServerError`: nothing more can be sent in this run.
"""

from __future__ import annotations

import contextlib
import email.utils
import html
import logging
import smtplib
import ssl
import string
from collections.abc import Iterable, Mapping
from email.message import EmailMessage

from releasestation.config import read_secret_text
from releasestation.credentials.settings import CredgenSettings, placeholders
from releasestation.errors import ConfigError, ReleaseStationError

log = logging.getLogger(__name__)

PIN, CAC, PASSWORD, USERNAME, PIN_EXPIRES = range(5)


class MailError(ReleaseStationError):
    """A message could not be sent."""


class MailRefused(MailError):
    """The SMTP server refused this one message (its recipient or its content)."""


class MailServerError(MailError):
    """The SMTP server cannot be reached, or refuses this sender or our login."""


def body(settings: CredgenSettings, values: Mapping[int, str]) -> str:
    """The body parts whose placeholders all have values, filled and joined."""
    shown = dict(values)
    if settings.email_body_is_html:
        shown = {k: html.escape(v) for k, v in values.items()}
    args = [shown.get(i, "") for i in range(5)]
    parts = []
    for part in settings.bodies():
        if placeholders(part) <= set(values):
            parts.append(string.Formatter().vformat(part, args, {}))
    return "\n".join(parts)


def message(
    settings: CredgenSettings, to: str, subject: str, text: str, html_body: bool
) -> EmailMessage:
    msg = EmailMessage()
    try:
        msg["From"] = settings.email_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(localtime=True)
        msg["Message-ID"] = email.utils.make_msgid(domain=settings.email_from.rpartition("@")[2])
        msg.set_content(text, subtype="html" if html_body else "plain",
                        charset=settings.email_encoding)  # fmt: skip
    except UnicodeEncodeError as exc:
        why = f"the message cannot be written in {settings.email_encoding}: {exc.reason}"
        raise MailRefused(why) from None
    except ValueError as exc:  # a line break in an address or name from the directory
        raise MailRefused(f"the message cannot be made: {exc}") from None
    return msg


def credentials_message(
    settings: CredgenSettings, to: str, values: Mapping[int, str]
) -> EmailMessage:
    subject = settings.email_subject.replace("{3}", values.get(USERNAME, ""))
    return message(settings, to, subject, body(settings, values), settings.email_body_is_html)


def errors_message(settings: CredgenSettings, failures: Iterable[tuple[str, str]]) -> EmailMessage:
    lines = [f"{user}: {why}" for user, why in failures]
    text = "These users did not get their credentials:\n\n" + "\n".join(lines) + "\n"
    return message(settings, settings.admin_email, settings.error_subject, text, False)


def tls_context(settings: CredgenSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(
        cafile=settings.smtp_ca_certificates_pem_file,
        capath=settings.smtp_ca_certificates_pem_dir,
    )
    if settings.smtp_insecure_dont_validate_certificate:
        log.warning("[credgen] smtp_insecure_dont_validate_certificate: not checking %s",
                    settings.smtp_server)  # fmt: skip
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Mailer:
    """Sends messages over one SMTP connection, opened on first use, reopened once if lost."""

    def __init__(self, settings: CredgenSettings):
        self.settings = settings
        self.where = f"{settings.smtp_server}:{settings.port}"
        self.connections = 0
        self.sent = 0
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, msg: EmailMessage) -> None:
        for attempt in (1, 2):
            smtp = self._connection()
            try:
                smtp.send_message(msg)
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if attempt == 2:
                    raise MailServerError(f"SMTP server {self.where} hung up: {exc}") from None
                continue
            except smtplib.SMTPException as exc:
                raise self._refusal(exc) from None
            except OSError as exc:
                self._drop()
                raise MailServerError(f"SMTP server {self.where}: {exc}") from None
            self.sent += 1
            return

    def _refusal(self, exc: smtplib.SMTPException) -> MailError:
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            why = "; ".join(f"{rcpt}: {code} {text.decode(errors='replace')}"
                            for rcpt, (code, text) in exc.recipients.items())  # fmt: skip
            return MailRefused(f"recipient refused by {self.where}: {why}")
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return MailServerError(f"{self.where} refused sender {exc.sender}: {exc.smtp_code}")
        if isinstance(exc, smtplib.SMTPResponseException):
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) \
                else str(exc.smtp_error)  # fmt: skip
            return MailRefused(f"message refused by {self.where}: {exc.smtp_code} {text}")
        self._drop()
        return MailServerError(f"SMTP server {self.where}: {exc}")

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = self._open()
            self.connections += 1
        return self._smtp

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        timeout = s.smtp_timeout_seconds
        smtp: smtplib.SMTP | None = None
        try:
            if s.smtp_ssl:
                context = tls_context(s)
                smtp = smtplib.SMTP_SSL(s.smtp_server, s.port, timeout=timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.smtp_server, s.port, timeout=timeout)
                if s.smtp_starttls:
                    smtp.starttls(context=tls_context(s))
            if s.smtp_user:
                smtp.login(s.smtp_user, self._password() or "")
        except (OSError, smtplib.SMTPException) as exc:
            if smtp is not None:
                _quietly_close(smtp)
            raise MailServerError(f"cannot use SMTP server {self.where}: {exc}") from None
        log.debug("connected to SMTP server %s", self.where)
        return smtp

    def _password(self) -> str | None:
        s = self.settings
        try:  # a password file others can read is refused, like every secret file
            return read_secret_text(
                s.smtp_password, s.smtp_password_file, "[credgen] smtp_password_file"
            )
        except ConfigError as exc:
            raise MailServerError(str(exc)) from None

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            _quietly_close(smtp)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                _quietly_close(smtp)


def _quietly_close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()
