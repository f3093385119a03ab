# SPDX-License-Identifier: GPL-3.0-or-later
"""What the test slapd holds: names, passwords, seeded entries, LDIF, and its certificates.

Seeded: `ou=people` (alice, bob, carol, dave with two cards), `ou=ad` (AD-like accounts for
the `ad` profile, two of them disabled and one a computer), and a read-only service account
`cn=station,ou=services`. Card numbers live in employeeNumber (single-valued) and in the
test schema's multi-valued cardNumber.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_DN = "dc=example,dc=org"
PEOPLE_DN = f"ou=people,{BASE_DN}"
AD_DN = f"ou=ad,{BASE_DN}"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "admin-secret"
READER_DN = f"cn=station,ou=services,{BASE_DN}"
READER_PASSWORD = "station-secret"
CARD_ATTRIBUTES = ("employeeNumber", "cardNumber")

# uid, cn, mail, employeeNumber, cardNumber values
SEED_PEOPLE: tuple[tuple[str, str, str, str | None, tuple[str, ...]], ...] = (
    ("alice", "Alice Example", "alice@example.org", "0012345678", ()),
    ("bob", "Bob Example", "bob@example.org", "0087654321", ()),
    ("carol", "Carol Example", "carol@example.org", "12345678", ()),
    ("dave", "Dave Example", "dave@example.org", None, ("11110001", "11110002")),
)
# sAMAccountName, cn, userAccountControl, objectCategory, employeeNumber.
# 514 = 512 | 2 and 66050 = 66048 | 2 are disabled; 66048 (password never expires) is not.
SEED_AD: tuple[tuple[str, str, int, str, str], ...] = (
    ("ada", "Ada Admin", 512, "person", "5550001"),
    ("dan", "Dan Disabled", 514, "person", "5550002"),
    ("dora", "Dora Disabled", 66050, "person", "5550003"),
    ("ned", "Ned Normal", 66048, "person", "5550004"),
    ("kiosk", "Kiosk PC", 4096, "computer", "5550005"),
)
AD_REALM = "corp.example.org"


def ssha(password: str) -> str:
    """An OpenLDAP {SSHA} userPassword value."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def ldif_entry(dn: str, attributes: Mapping[str, str | Iterable[str]]) -> str:
    """One LDIF record; values that are not plain ASCII text are base64-encoded."""
    lines = [_ldif_line("dn", dn)]
    for name, values in attributes.items():
        for value in [values] if isinstance(values, str) else values:
            lines.append(_ldif_line(name, value))
    return "\n".join(lines) + "\n\n"


def _ldif_line(name: str, value: str) -> str:
    safe = not value or (
        value[0] not in " :<"
        and not value.endswith(" ")
        and all(0 < ord(char) < 128 and char not in "\r\n" for char in value)
    )
    if safe:
        return f"{name}: {value}"
    return f"{name}:: {base64.b64encode(value.encode()).decode()}"


def person_attributes(
    uid: str,
    cards: Iterable[str] = (),
    mail: str | None = None,
    *,
    name: str | None = None,
    employee_number: str | None = None,
) -> dict[str, Any]:
    """An inetOrgPerson under ou=people; `cards` go into the multi-valued cardNumber."""
    cn = name or uid.capitalize()
    attributes: dict[str, Any] = {
        "objectClass": ["inetOrgPerson", "cardHolder"],
        "uid": uid,
        "cn": cn,
        "sn": cn.split()[-1],
    }
    if mail:
        attributes["mail"] = mail
    if employee_number:
        attributes["employeeNumber"] = employee_number
    if cards := list(cards):
        attributes["cardNumber"] = cards
    return attributes


def ad_attributes(
    sam: str, name: str, control: int, category: str, employee_number: str
) -> dict[str, Any]:
    """An AD-like account (test schema `user`) under ou=ad."""
    return {
        "objectClass": ["inetOrgPerson", "user"],
        "cn": name,
        "sn": name.split()[-1],
        "sAMAccountName": sam,
        "userPrincipalName": f"{sam}@{AD_REALM}",
        "userAccountControl": str(control),
        "objectCategory": category,
        "employeeNumber": employee_number,
        "mail": f"{sam}@{AD_REALM}",
    }


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path
    wrong_ca_file: Path  # a CA that did not sign the server's certificate


def make_certificates(directory: Path) -> Certificates:
    """A CA, a server certificate it signed for 127.0.0.1 and localhost, and a stranger CA."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("ca", "wrong-ca"):
        _openssl(
            directory, "req", "-x509", *_EC_KEY, "-days", "2", "-subj", f"/CN=test {name}",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", f"{name}.key", "-out", f"{name}.pem",
        )  # fmt: skip
    (directory / "server.ext").write_text(
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n"
    )
    _openssl(
        directory, "req", "-new", *_EC_KEY, "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr",
    )  # fmt: skip
    _openssl(
        directory, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "2",
        "-extfile", "server.ext", "-out", "server.pem",
    )  # fmt: skip
    for key in directory.glob("*.key"):
        key.chmod(0o600)
    return Certificates(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server.key",
        wrong_ca_file=directory / "wrong-ca.pem",
    )


_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def base_ldif() -> str:
    """The suffix, the three OUs and the service account."""
    return "".join(
        [
            ldif_entry(
                BASE_DN,
                {"objectClass": ["dcObject", "organization"], "dc": "example", "o": "Example"},
            ),
            *(
                ldif_entry(f"ou={ou},{BASE_DN}", {"objectClass": "organizationalUnit", "ou": ou})
                for ou in ("people", "ad", "services")
            ),
            ldif_entry(
                READER_DN,
                {
                    "objectClass": ["organizationalRole", "simpleSecurityObject"],
                    "cn": "station",
                    "userPassword": ssha(READER_PASSWORD),
                },
            ),
        ]
    )


def seed_ldif() -> str:
    """base_ldif() and the seeded people and AD accounts."""
    people = (
        ldif_entry(
            f"uid={uid},{PEOPLE_DN}",
            person_attributes(uid, cards, mail, name=cn, employee_number=number),
        )
        for uid, cn, mail, number, cards in SEED_PEOPLE
    )
    accounts = (ldif_entry(f"cn={row[1]},{AD_DN}", ad_attributes(*row)) for row in SEED_AD)
    return base_ldif() + "".join(people) + "".join(accounts)
