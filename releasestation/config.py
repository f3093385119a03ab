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
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readers import ReaderSettings, SettingsError, from_section, reader_settings, suggest
from readers.settings import shown
from releasestation.credentials.settings import CredgenSettings
from releasestation.errors import ConfigError
from releasestation.gateway.settings import GatewaySettings
from releasestation.mailprint.settings import MailprintSettings
from releasestation.monitoring.settings import MonitoringSettings

DEFAULT_PATH = "/etc/releasestation/releasestation.ini"
ENV_VAR = "RELEASESTATION_CONFIG"
SECRET = {"secret": True}
# `[station] pin_max_digits` left empty: as long as the PINs [credgen] issues (0 when it
# issues none). Settled when the Config is built, so readers of the value see a number.
PIN_DIGITS_FROM_CREDGEN = -1
# `[station] owner_domains = none` / `owner_realms = none`: no domain or realm at all, not
# even the directory's own (which an empty value means; see releasestation.owner_names).
NO_NAMES = "none"


@dataclass(frozen=True)
class StationSettings:
    hold_queues: tuple[str, ...]
    name: str = field(default_factory=socket.gethostname)
    printer: str | None = None
    debounce_seconds: float = 3.0
    secret_file: str = "/etc/releasestation/secret"  # noqa: S105 - a path, not a secret
    pin_max_digits: int = PIN_DIGITS_FROM_CREDGEN
    owner_domains: tuple[str, ...] = ()  # empty: the directory's own; "none": none at all
    owner_realms: tuple[str, ...] = ()
    hold_hours: float = 8.0  # held jobs older than this are cancelled; 0: kept forever
    expire_every_seconds: float = 300.0
    watch_every_seconds: float = 1.0  # how often the job watcher asks cupsd for new jobs
    visitors_on_arrival: bool = True

    def __post_init__(self) -> None:
        if not self.name.strip():  # `name =` left empty: the host name, as when absent
            object.__setattr__(self, "name", socket.gethostname())
        if not self.hold_queues:
            raise ValueError("hold_queues: name at least one CUPS queue")
        if self.hold_hours < 0:
            raise ValueError("hold_hours: must not be negative (0 keeps held jobs forever)")
        if self.expire_every_seconds < 10:
            raise ValueError("expire_every_seconds: must be at least 10")
        if not 0.2 <= self.watch_every_seconds <= 60:
            raise ValueError("watch_every_seconds: must be between 0.2 and 60")
        if self.debounce_seconds < 0:
            raise ValueError("debounce_seconds: must not be negative")
        if not (0 <= self.pin_max_digits <= 12 or self.pin_max_digits == PIN_DIGITS_FROM_CREDGEN):
            raise ValueError(
                "pin_max_digits: must be between 0 and 12 (empty: [credgen] pin_length)"
            )
        for key in ("owner_domains", "owner_realms"):
            names = [name.lower() for name in getattr(self, key)]
            if NO_NAMES in names and len(names) > 1:
                raise ValueError(f"{key}: `none` stands alone (no other {key[6:]} with it)")


@dataclass(frozen=True)
class CupsSettings:
    server: str = "/run/cups/cups.sock"
    user: str | None = None  # the station's account at cupsd; default: the process's own
    password: str | None = field(default=None, repr=False, metadata=SECRET)
    password_file: str | None = None
    encryption: str = "if-requested"  # never | if-requested | required
    ca_file: str | None = None  # the CA of cupsd's certificate; default: the system's CAs
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
    bind_password: str | None = field(default=None, repr=False, metadata=SECRET)
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
    offline_days: float = 7.0  # serve cards and users resolved this recently while it is down

    def __post_init__(self) -> None:
        if self.offline_days < 0:
            raise ValueError("offline_days: must be 0 (off) or more")
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


OWNER_FORMATS = ("plain", "nt4", "upn")
GENERIC_OWNERS = ("anonymous", "lp", "guest", "nobody", "root", "unknown", "smbprn", "remroot")


@dataclass(frozen=True)
class OwnerSettings:
    """[owners]: finding the real owner of a job cupsd knows under a generic name."""

    generic_names: tuple[str, ...] = GENERIC_OWNERS
    pjl: bool = True
    pjl_max_bytes: int = 16384
    spool_dir: str | None = None  # cupsd's RequestRoot, when the station may read it
    title_regex: str = ""
    fallback_user: str = ""
    name_format: str = "plain"
    domain: str = ""
    realm: str = ""

    def __post_init__(self) -> None:
        if self.name_format not in OWNER_FORMATS:
            raise ValueError(f"name_format: must be plain, nt4 or upn, not {self.name_format!r}")
        if self.name_format == "nt4" and not self.domain:
            raise ValueError("domain: required when name_format = nt4")
        if self.name_format == "upn" and not self.realm:
            raise ValueError("realm: required when name_format = upn")
        if not 256 <= self.pjl_max_bytes <= 1 << 20:
            raise ValueError("pjl_max_bytes: must be between 256 and 1048576")
        try:
            re.compile(self.title_regex)
        except re.error as exc:
            raise ValueError(f"title_regex: not a valid regular expression: {exc}") from None


@dataclass(frozen=True)
class AuditSettings:
    """[audit]: privacy of the audit trail."""

    keep_titles: bool = True
    retain_days: int = 0  # 0: keep rows forever
    retention: str = "anonymise"  # anonymise | purge rows older than retain_days

    def __post_init__(self) -> None:
        if self.retain_days < 0:
            raise ValueError("retain_days: must not be negative (0 keeps rows forever)")
        if self.retention not in ("anonymise", "purge"):
            raise ValueError(f"retention: must be anonymise or purge, not {self.retention!r}")


@dataclass(frozen=True)
class BackupSettings:
    """[backup]: the archives `releasestation backup --rotate` keeps (releasestation.backup)."""

    directory: str = "/var/backups/releasestation"
    keep: int = 7  # archives kept in `directory`; the oldest beyond it are removed
    passphrase_file: str | None = None  # 0600; archives are encrypted when set
    state_file: str = "/var/lib/releasestation/backup-state.json"  # last backup, for status

    def __post_init__(self) -> None:
        if self.keep < 1:
            raise ValueError("keep: must be at least 1")


@dataclass(frozen=True)
class WebSettings:
    """[web]: the web portal, `releasestation web` (releasestation.web, docs/web.md)."""

    listen: str = "127.0.0.1:8631"  # host:port; [v6]:port
    cert_file: str | None = None  # TLS (gunicorn's own) when both files are given
    key_file: str | None = None
    secret_key_file: str | None = None  # sessions' key; empty: web-secret beside secret_file
    max_upload_mb: float = 50.0
    web_release: bool = True
    convert_office: bool = False
    admins: tuple[str, ...] = ()
    admin_group: str = ""  # members of this directory group are admins too (DN or cn)
    release_printers: tuple[str, ...] = ()  # queues My jobs offers to release to
    notify_by_mail: bool = False  # mail the user when a job sent here printed or failed
    show_titles: bool = True  # no: the portal shows no job titles
    status_public: bool = False
    idle_minutes: float = 30.0
    threads: int = 4
    login_user_failures: int = 5
    login_address_failures: int = 20
    login_window_seconds: float = 300.0
    login_lockout_seconds: float = 300.0

    def __post_init__(self) -> None:
        self.address  # noqa: B018 - checks listen
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file: give both (TLS) or neither (plain HTTP)")
        if not 0 < self.max_upload_mb <= 1024:
            raise ValueError("max_upload_mb: must be more than 0 and at most 1024")
        if not 1 <= self.idle_minutes <= 24 * 60:
            raise ValueError("idle_minutes: must be between 1 and 1440")
        if not 1 <= self.threads <= 64:
            raise ValueError("threads: must be between 1 and 64")
        if self.login_user_failures < 1 or self.login_address_failures < 1:
            raise ValueError("login_user_failures, login_address_failures: at least 1")
        if self.login_window_seconds <= 0 or self.login_lockout_seconds <= 0:
            raise ValueError("login_window_seconds, login_lockout_seconds: more than 0")

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of `listen`; ValueError when it is not host:port."""
        host, sep, port = self.listen.strip().rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"listen: expected host:port (e.g. 0.0.0.0:8631), not {self.listen!r}")
        return host, int(port)

    @property
    def tls(self) -> bool:
        return bool(self.cert_file and self.key_file)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


# Section name -> (attribute on Config, dataclass). Sections whose dataclass has a required
# key are required sections.
SECTIONS: dict[str, type] = {
    "station": StationSettings,
    "cups": CupsSettings,
    "directory": DirectorySettings,
    "database": DatabaseSettings,
    "logging": LoggingSettings,
    "credgen": CredgenSettings,
    "owners": OwnerSettings,
    "audit": AuditSettings,
    "backup": BackupSettings,
    "monitoring": MonitoringSettings,
    "web": WebSettings,
    "gateway": GatewaySettings,
    "mailprint": MailprintSettings,
}


@dataclass(frozen=True)
class Config:
    station: StationSettings
    cups: CupsSettings = field(default_factory=CupsSettings)
    directory: DirectorySettings = field(default_factory=DirectorySettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    credgen: CredgenSettings = field(default_factory=CredgenSettings)
    owners: OwnerSettings = field(default_factory=OwnerSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    backup: BackupSettings = field(default_factory=BackupSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    web: WebSettings = field(default_factory=WebSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    mailprint: MailprintSettings = field(default_factory=MailprintSettings)
    readers: Mapping[str, ReaderSettings] = field(default_factory=dict)
    path: str | None = None

    def __post_init__(self) -> None:
        """Settle `[station] pin_max_digits` when left to follow `[credgen]`."""
        if self.station.pin_max_digits == PIN_DIGITS_FROM_CREDGEN:
            credgen = self.credgen
            digits = credgen.pin_length if credgen.generate_pin else 0
            station = dataclasses.replace(self.station, pin_max_digits=digits)
            object.__setattr__(self, "station", station)

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
            if section == "station" and not raw.get("pin_max_digits", "-").strip():
                del raw["pin_max_digits"]  # empty: the default, which follows [credgen]
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
    """A password given inline or in a 0600 file (first line); ConfigError names the file."""
    if path:
        from releasestation.secret import check_mode

        try:
            problem = check_mode(Path(path))
            text = Path(path).read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise ConfigError(f"{what}: cannot read password file {path}: {exc}") from None
        if problem:
            raise ConfigError(f"{what}: {problem}")
        return text
    return inline
