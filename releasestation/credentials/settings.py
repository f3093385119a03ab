# SPDX-License-Identifier: GPL-3.0-or-later
"""The `[credgen]` section: what the credential generator issues, to whom, and how it mails.

The key names are those of the credential generator many sites already run. Every check
across keys happens here, at start-up, so a bad combination is a config error naming the
key rather than a surprise half-way through a batch. See examples/releasestation.ini.
"""

from __future__ import annotations

import codecs
import functools
import re
import string
from dataclasses import dataclass, field

SECRET = {"secret": True}  # as releasestation.config.SECRET (which imports this module)
TRUE_WORDS = ("true", "yes", "on")  # email_recipient_from_username as a boolean
FALSE_WORDS = ("false", "no", "off")


PIN_POLICIES = ("Never", "Always", "Expired", "Extend")
PASSWORD_POLICIES = ("Never", "Always")
# Placeholders in mail bodies: {0} PIN, {1} CAC, {2} password, {3} user name, {4} the date
# the PIN expires. A body naming a value that is not there this time is left out.
PLACEHOLDERS = 5
BODY_KEYS = ("email_body", *(f"email_body_{i}" for i in range(10)))
# Without 0/O and 1/l/I, which people misread.
PASSWORD_CHARS = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105
PIN_BLOCKLIST = ("1212", "1122", "1313", "2580", "0852", "1004", "2000", "6969", "1010")


@dataclass(frozen=True)
class CostCenterRule:
    """`regex -> name`: a user name matching `pattern` (from its start) gets `name`;
    `\\1` in `name` refers to a group of the match."""

    pattern: re.Pattern[str]
    name: str

    def apply(self, username: str) -> str | None:
        match = self.pattern.match(username)
        return match.expand(self.name) if match else None


@functools.lru_cache(maxsize=8)
def parse_cost_center_rules(text: str) -> tuple[CostCenterRule, ...]:
    """Rules separated by `;` or line breaks; ValueError names the bad rule."""
    rules = []
    for part in re.split(r"[;\n]", text):
        if not part.strip():
            continue
        regex, arrow, name = part.rpartition("->")
        if not arrow or not regex.strip() or not name.strip():
            raise ValueError(f"cost_center_from_username: {part.strip()!r} is not `regex -> name`")
        rules.append(
            CostCenterRule(_regex("cost_center_from_username", regex.strip()), name.strip())
        )
    return tuple(rules)


def _regex(key: str, text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"{key}: {text!r} is not a valid regular expression: {exc}") from None


def _choice(key: str, text: str, allowed: tuple[str, ...]) -> str:
    for word in allowed:
        if text.strip().lower() == word.lower():
            return word
    raise ValueError(f"{key}: must be one of {' | '.join(allowed)}, not {text!r}")


def placeholders(template: str) -> set[int]:
    """The numbered placeholders a template names; ValueError for any other field."""
    used = set()
    for _literal, name, _spec, _conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isdigit() or int(name) >= PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}}; use {{0}} to {{4}}")
        used.add(int(name))
    return used


def unescape(text: str) -> str:
    """`\\n` in a config value is a line break."""
    return text.replace("\\n", "\n")


@dataclass(frozen=True)
class CredgenSettings:
    generate_pin: bool = True
    pin_length: int = 6
    pin_rewrite: str = "Never"
    pin_expiration_days: int = 0
    max_generation_attempts: int = 3
    pin_send_existing: bool = False
    pin_blocklist: tuple[str, ...] = PIN_BLOCKLIST
    generate_puk: bool = False
    puk_length: int = 8
    puk_expiration_days: int = 30
    generate_password: bool = False
    password_length: int = 10
    password_chars: str = PASSWORD_CHARS
    password_rewrite: str = "Never"  # noqa: S105 - a policy name
    allowed_usernames: str = ""
    allowed_emails: str = ""
    email_recipient_from_username: str = ""
    email_notifications: bool = True
    email_from: str = "releasestation@localhost"
    email_subject: str = "Your print release credentials"
    email_body: str = "Hello {3},\\n\\nhere are your credentials for the print release stations."
    email_body_0: str = "PIN: {0}"
    email_body_1: str = (
        "Card-assignment code: {1}\\nSwipe your new card at a printer, then type this code"
        " within a minute: the card is then yours. The code works once."
    )
    email_body_2: str = "Password: {2}"
    email_body_3: str = "Your PIN is valid until {4}."
    email_body_4: str = ""
    email_body_5: str = ""
    email_body_6: str = ""
    email_body_7: str = ""
    email_body_8: str = ""
    email_body_9: str = ""
    email_body_is_html: bool = False
    email_encoding: str = "utf-8"
    admin_email: str = ""
    email_errors: bool = False
    error_subject: str = "credgen: some users did not get their credentials"
    smtp_server: str = "localhost"
    smtp_port: int = 0
    smtp_ssl: bool = False
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str | None = field(default=None, repr=False, metadata=SECRET)
    smtp_password_file: str | None = None
    smtp_insecure_dont_validate_certificate: bool = False
    smtp_ca_certificates_pem_file: str | None = None
    smtp_ca_certificates_pem_dir: str | None = None
    smtp_timeout_seconds: float = 10.0
    min_seconds_between_runs: int = 0
    db_retries: int = 3
    db_seconds_before_retry: float = 5.0
    cost_center_from_username: str = ""
    move_to_cost_center: bool = False
    cost_center: str = ""
    stop_on_error: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # canonical spellings, once, in a frozen dataclass
        set_(self, "pin_rewrite", _choice("pin_rewrite", self.pin_rewrite, PIN_POLICIES))
        set_(
            self,
            "password_rewrite",
            _choice("password_rewrite", self.password_rewrite, PASSWORD_POLICIES),
        )
        self._check_generation()
        self._check_filters()
        self._check_mail()
        self._check_numbers()
        parse_cost_center_rules(self.cost_center_from_username)

    def _check_generation(self) -> None:
        if not (self.generate_pin or self.generate_puk or self.generate_password):
            raise ValueError(
                "generate_pin, generate_puk, generate_password: all off, nothing to do"
            )
        if not 4 <= self.pin_length <= 12:
            raise ValueError("pin_length: must be between 4 and 12")
        if not 6 <= self.puk_length <= 16:
            raise ValueError("puk_length: must be between 6 and 16")
        if not 8 <= self.password_length <= 128:
            raise ValueError("password_length: must be between 8 and 128")
        if len(set(self.password_chars)) < 16 or any(c.isspace() for c in self.password_chars):
            raise ValueError("password_chars: give at least 16 different characters, no spaces")
        if self.pin_rewrite in ("Expired", "Extend") and self.pin_expiration_days <= 0:
            raise ValueError(
                f"pin_rewrite = {self.pin_rewrite} needs pin_expiration_days > 0:"
                " PINs that never expire are never replaced or extended"
            )
        if not self.generate_pin and self.pin_rewrite != "Never":
            raise ValueError(f"pin_rewrite = {self.pin_rewrite} needs generate_pin = yes")
        if not self.generate_password and self.password_rewrite in PASSWORD_POLICIES[1:]:
            raise ValueError("password_rewrite = Always needs generate_password = yes")
        if self.pin_send_existing:
            raise ValueError(
                "pin_send_existing: PINs are kept only as keyed digests, so an existing PIN"
                " cannot be sent again; use pin_rewrite = Always or Expired to send new ones"
            )
        for pin in self.pin_blocklist:
            if not pin.isdigit():
                raise ValueError(f"pin_blocklist: {pin!r} is not a PIN")

    def _check_filters(self) -> None:
        _regex("allowed_usernames", self.allowed_usernames)
        _regex("allowed_emails", self.allowed_emails)
        self.recipient_template  # noqa: B018 - raises ValueError for a bad value

    def _check_mail(self) -> None:
        for key in BODY_KEYS:
            self._placeholders(key)
        if not self._placeholders("email_subject") <= {3}:
            raise ValueError("email_subject: may name {3}, the user name, and nothing else")
        if self._placeholders("error_subject"):
            raise ValueError("error_subject: takes no placeholders")
        try:
            codecs.lookup(self.email_encoding)
        except LookupError:
            raise ValueError(f"email_encoding: unknown encoding {self.email_encoding!r}") from None
        if self.email_notifications and "@" not in self.email_from:
            raise ValueError("email_from: an address is needed when email_notifications = yes")
        if self.email_errors and "@" not in self.admin_email:
            raise ValueError("admin_email: an address is needed when email_errors = yes")
        if self.smtp_ssl and self.smtp_starttls:
            raise ValueError("smtp_ssl and smtp_starttls: choose one")
        if self.smtp_password and self.smtp_password_file:
            raise ValueError("smtp_password and smtp_password_file: give one, not both")
        if not 0 <= self.smtp_port <= 65535:
            raise ValueError(f"smtp_port: {self.smtp_port} is not a TCP port")
        loopback = self.smtp_server in ("localhost", "127.0.0.1", "::1")
        if self.smtp_user and not (self.smtp_ssl or self.smtp_starttls or loopback):
            raise ValueError(
                "smtp_user: the password and the mailed PINs would cross the network in clear;"
                " set smtp_starttls = yes or smtp_ssl = yes"
            )

    def _placeholders(self, key: str) -> set[int]:
        try:
            return placeholders(getattr(self, key))
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None

    def _check_numbers(self) -> None:
        for key in ("pin_expiration_days", "puk_expiration_days", "min_seconds_between_runs"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: must not be negative")
        if self.max_generation_attempts < 1:
            raise ValueError("max_generation_attempts: must be at least 1")
        if self.db_retries < 0 or self.db_seconds_before_retry < 0:
            raise ValueError("db_retries, db_seconds_before_retry: must not be negative")
        if self.smtp_timeout_seconds <= 0:
            raise ValueError("smtp_timeout_seconds: must be greater than 0")

    # -- derived values ---------------------------------------------------------------------
    @property
    def recipient_template(self) -> str:
        """`email_recipient_from_username` as a template ("" for none): True is the user
        name itself, `{0}`; False or empty is none; else a template naming `{0}`."""
        value = self.email_recipient_from_username.strip()
        if value.lower() in TRUE_WORDS:
            return "{0}"
        if not value or value.lower() in FALSE_WORDS:
            return ""
        if "{0}" not in value:
            raise ValueError(
                "email_recipient_from_username: True, False, or an address naming {0}, the"
                " user name (e.g. {0}@example.org)"
            )
        return value

    @property
    def cost_center_rules(self) -> tuple[CostCenterRule, ...]:
        return parse_cost_center_rules(self.cost_center_from_username)

    def bodies(self) -> list[str]:
        """The mail body parts in order, `\\n` turned into line breaks, empty ones dropped."""
        return [unescape(getattr(self, key)) for key in BODY_KEYS if getattr(self, key)]

    @property
    def rewrite_passwords(self) -> bool:
        return self.password_rewrite == PASSWORD_POLICIES[1]

    @property
    def port(self) -> int:
        if self.smtp_port:
            return self.smtp_port
        return 465 if self.smtp_ssl else 587 if self.smtp_starttls else 25
