# SPDX-License-Identifier: GPL-3.0-or-later
"""The station's one INI file: where it is found, its sections, and validation up front.

Found at `--config PATH`, else `$RELEASESTATION_CONFIG`, else
`/etc/releasestation/releasestation.ini`. Every section is read into a frozen dataclass; all
problems (with section and key) are reported together as one ConfigError. Secrets are masked
whenever the config is shown. `examples/releasestation.ini` documents every key.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readers import ReaderSettings, SettingsError, from_section, reader_settings, suggest
from readers.settings import shown
from releasestation.errors import ConfigError

DEFAULT_PATH = "/etc/releasestation/releasestation.ini"
ENV_VAR = "RELEASESTATION_CONFIG"
SECRET = {"secret": True}


@dataclass(frozen=True)
class StationSettings:
    hold_queues: tuple[str, ...]
    name: str = field(default_factory=socket.gethostname)
    printer: str | None = None
    debounce_seconds: float = 3.0
    secret_file: str = "/etc/releasestation/secret"  # noqa: S105 - a path, not a secret
    pin_max_digits: int = 0
    owner_domains: tuple[str, ...] = ()
    owner_realms: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.hold_queues:
            raise ValueError("hold_queues: name at least one CUPS queue")
        if self.debounce_seconds < 0:
            raise ValueError("debounce_seconds: must not be negative")
        if not 0 <= self.pin_max_digits <= 12:
            raise ValueError("pin_max_digits: must be between 0 and 12")


@dataclass(frozen=True)
class CupsSettings:
    server: str = "/run/cups/cups.sock"
    user: str | None = None  # the station's account at cupsd; default: the process's own
    password: str | None = field(default=None, metadata=SECRET)
    password_file: str | None = None
    encryption: str = "if-requested"  # never | if-requested | required
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.encryption not in ("never", "if-requested", "required"):
            raise ValueError("encryption: must be never, if-requested or required")


@dataclass(frozen=True)
class DirectorySettings:
    type: str = "local"
    profile: str = "rfc2307"  # rfc2307 (OpenLDAP, inetOrgPerson) | ad (Active Directory)
    uri: tuple[str, ...] = ()
    bind_dn: str | None = None
    bind_password: str | None = field(default=None, metadata=SECRET)
    bind_password_file: str | None = None
    base_dn: str | None = None
    user_filter: str | None = None  # default by profile
    username_attribute: str | None = None  # default by profile: uid | sAMAccountName
    card_attributes: tuple[str, ...] = ("employeeNumber",)
    email_attribute: str = "mail"
    display_name_attribute: str = "cn"
    starttls: bool = False
    tls_validate: bool = True
    ca_file: str | None = None
    connect_timeout_seconds: float = 3.0
    receive_timeout_seconds: float = 5.0
    page_size: int = 500

    def __post_init__(self) -> None:
        if self.type not in ("ldap", "local"):
            raise ValueError(f"type: must be ldap or local, not {self.type!r}")
        if self.profile not in ("rfc2307", "ad"):
            raise ValueError(f"profile: must be rfc2307 or ad, not {self.profile!r}")
        if self.type == "ldap" and not self.uri:
            raise ValueError("uri: required when type = ldap")
        if self.type == "ldap" and not self.base_dn:
            raise ValueError("base_dn: required when type = ldap")
        if self.bind_password and self.bind_password_file:
            raise ValueError("bind_password and bind_password_file: give one, not both")


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:////var/lib/releasestation/releasestation.db"
    busy_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "info"

    def __post_init__(self) -> None:
        if self.level.lower() not in ("debug", "info", "warning", "error"):
            raise ValueError("level: must be debug, info, warning or error")


# Section name -> (attribute on Config, dataclass). Sections whose dataclass has a required
# key are required sections.
SECTIONS: dict[str, type] = {
    "station": StationSettings,
    "cups": CupsSettings,
    "directory": DirectorySettings,
    "database": DatabaseSettings,
    "logging": LoggingSettings,
}


@dataclass(frozen=True)
class Config:
    station: StationSettings
    cups: CupsSettings = field(default_factory=CupsSettings)
    directory: DirectorySettings = field(default_factory=DirectorySettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    readers: Mapping[str, ReaderSettings] = field(default_factory=dict)
    path: str | None = None

    def show(self) -> str:
        """The config as INI text, secrets masked."""
        parts = []
        for name in SECTIONS:
            parts.append(_render(name, shown(getattr(self, name))))
        for name, settings in self.readers.items():
            parts.append(_render(f"reader:{name}", shown(settings)))
        return "\n".join(parts)


def _render(section: str, values: Mapping[str, str]) -> str:
    lines = [f"[{section}]"] + [f"{k} = {v}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def locate(path: str | None) -> str:
    """The config file to read: the explicit path, the environment, else the default."""
    return path or os.environ.get(ENV_VAR) or DEFAULT_PATH


def parse_text(text: str, origin: str = "<text>") -> Config:
    """Parse INI text into a Config; ConfigError lists every problem."""
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=(";", "#"), empty_lines_in_values=False
    )
    try:
        parser.read_string(text, source=origin)
    except configparser.Error as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    return from_parser(parser, origin)


def load(path: str | None = None) -> Config:
    where = locate(path)
    try:
        text = Path(where).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {where}: {exc.strerror}") from None
    return parse_text(text, where)


def from_parser(parser: configparser.ConfigParser, origin: str) -> Config:
    problems: list[str] = []
    values: dict[str, Any] = {}
    readers: dict[str, ReaderSettings] = {}
    for section in parser.sections():
        raw = dict(parser.items(section))
        if section.startswith("reader:"):
            name = section.split(":", 1)[1].strip()
            try:
                readers[name] = reader_settings(section, raw)
            except SettingsError as exc:
                problems.extend(exc.problems)
        elif section in SECTIONS:
            try:
                values[section] = from_section(SECTIONS[section], section, raw)
            except SettingsError as exc:
                problems.extend(exc.problems)
        else:
            known = [*SECTIONS, "reader:NAME"]
            problems.append(f"[{section}]: unknown section{suggest(section, known)}")
    if "station" not in values and not any(p.startswith("[station]") for p in problems):
        problems.append("[station]: required section is missing (hold_queues at least)")
    if problems:
        raise ConfigError([f"{origin}: {p}" for p in problems])
    return Config(**values, readers=readers, path=origin)


def replace(config: Config, **changes: Any) -> Config:
    return dataclasses.replace(config, **changes)


def read_secret_text(inline: str | None, path: str | None, what: str) -> str | None:
    """A password given inline or in a file (first line); ConfigError names the file."""
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise ConfigError(f"{what}: cannot read password file {path}: {exc}") from None
    return inline
