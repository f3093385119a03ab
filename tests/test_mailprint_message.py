# SPDX-License-Identifier: GPL-3.0-or-later
"""What mail-to-print reads of a mail, on plain data: the sender, the attachments, a
machine's mail, and Authentication-Results only from the station's own mail server."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from releasestation.mailprint import message as mail
from releasestation.mailprint.settings import MailprintSettings

OURS = "mx.example.org"


def made(sender: str = "ann@example.com", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["Subject"] = "print"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("hello")
    return message


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("Ann <Ann@Example.COM>", "ann@example.com"),
        ("ann@example.com, bob@example.com", None),
        ("undisclosed-recipients:;", None),
        ("not an address", None),
    ],
)
def test_the_sender_is_the_one_address_in_from(sender, expected):
    assert mail.sender_of(made(sender)) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Auto_Submitted": "auto-generated; owner-email=x@example.com"},
        {"Precedence": "bulk"},
        {"Precedence": "list"},
        {"Precedence": "junk"},
        {"List_Id": "<news.example.com>"},
        {"List_Unsubscribe": "<mailto:leave@example.com>"},
        {"Return_Path": "<>"},
        {"X_Autoreply": "yes"},
    ],
)
def test_a_machines_mail_is_told_apart(headers):
    assert mail.machine_sent(made(**headers), "ann@example.com")


def test_a_persons_mail_and_a_bounce_sender():
    assert mail.machine_sent(made(Auto_Submitted="no"), "ann@example.com") is None
    assert mail.machine_sent(made(), "MAILER-DAEMON@example.com".lower())


def test_attachments_are_the_parts_meant_as_files_not_pictures_of_the_body_or_signatures():
    message = made()
    message.add_alternative('<p>hi</p><img src="cid:logo">', subtype="html")
    html = message.get_body(preferencelist=("html",))
    html.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<logo>",
                     filename="logo.png")  # fmt: skip
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    message.add_attachment(b"%PDF-1.5", maintype="application", subtype="pdf",
                           filename="shown.pdf", disposition="inline")  # fmt: skip
    message.add_attachment(b"sig", maintype="application", subtype="pkcs7-signature",
                           filename="smime.p7s")  # fmt: skip
    message.add_attachment(b"PK", maintype="application", subtype="zip")  # no name
    expected = [("a.pdf", b"%PDF-1.4"), ("shown.pdf", b"%PDF-1.5"), ("attachment", b"PK")]
    assert [(a.filename, a.data) for a in mail.attachments_of(message)] == expected
    received = mail.parse(message.as_bytes())  # as the mailbox hands it over
    assert [(a.filename, a.data) for a in mail.attachments_of(received)] == expected


@pytest.mark.parametrize(
    ("results", "vouched"),
    [
        (f"{OURS}; spf=pass smtp.mailfrom=ann@example.com", True),
        (f"{OURS}; spf=pass smtp.mailfrom=bounces@mail.example.com", False),  # a subdomain
        (f"{OURS}; dkim=pass header.d=example.com", True),
        (f"{OURS}; dkim=pass (good signature) header.i=@example.com", True),
        (f"{OURS}; dmarc=pass header.from=example.com", True),
        (f"{OURS}; spf=pass smtp.mailfrom=x@attacker.net; dkim=pass header.d=attacker.net", False),
        (f"{OURS}; spf=softfail smtp.mailfrom=ann@example.com", False),
        (f"{OURS}; none", False),
        ("mx.attacker.net; spf=pass smtp.mailfrom=ann@example.com", False),
        (f"{OURS}.attacker.net; dkim=pass header.d=example.com", False),
    ],
)
def test_authentication_results_count_only_from_our_own_server_and_aligned(results, vouched):
    message = made(Authentication_Results=results)
    assert mail.authenticated(message, OURS, "ann@example.com") is vouched


def test_a_sender_in_a_subdomain_is_vouched_for_by_its_parents_signature():
    message = made(
        "ann@eu.example.com", Authentication_Results=f"{OURS}; dkim=pass header.d=example.com"
    )
    assert mail.authenticated(message, OURS, "ann@eu.example.com")


def test_the_key_is_the_sender_and_message_id():
    a = made(Message_ID="<1@example.com>")
    assert mail.key_of(a, "ann@example.com", b"x") == mail.key_of(a, "ann@example.com", b"y")
    assert mail.key_of(a, "ann@example.com", b"x") != mail.key_of(a, "bob@example.com", b"x")
    assert mail.key_of(made(), "ann@example.com", b"x") != mail.key_of(
        made(), "ann@example.com", b"y"
    )


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"imap_server": "mx", "password_file": "/p"}, "user:"),
        ({"imap_server": "mx", "user": "u"}, "password_file:"),
        ({"require_authentication_results": True}, "authserv_id:"),
        ({"processed_folder": "INBOX"}, "three different folders"),
        ({"allowed_senders": "("}, "allowed_senders:"),
        ({"idle_seconds": 3600}, "idle_seconds:"),
    ],
)
def test_settings_are_checked(keys, problem):
    with pytest.raises(ValueError, match=problem):
        MailprintSettings(**keys)
