# SPDX-License-Identifier: GPL-3.0-or-later
"""A private slapd for tests and benchmarks: its own config, certificates, database and ports.

Never the system slapd. The config is cn=config LDIF loaded with `slapadd -n0` into a temp
`slapd.d`; the mdb database sits in the same temp dir with equality indexes on uid and the
card attributes; slapd listens on free loopback ports, `ldap://` (StartTLS offered) and
`ldaps://`, with a CA and server certificate made by the openssl CLI. Entries go in offline
with `slapadd` (fast, for bulk seeding before start) or online as the admin. What it is
seeded with: bench/servers/slapd_data.py.

slapd is started through `setpriv --pdeathsig KILL`, so the kernel kills it if the process
(strictly: the thread) that started it dies without stopping it.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ldap3

from bench.servers.slapd_data import (
    AD_DN,
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE_DN,
    CARD_ATTRIBUTES,
    PEOPLE_DN,
    READER_DN,
    READER_PASSWORD,
    base_ldif,
    make_certificates,
    person_attributes,
    seed_ldif,
    ssha,
)
from releasestation.config import DirectorySettings

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
MODULE_DIR = "/usr/lib/ldap"
SCHEMA_DIR = Path("/etc/ldap/schema")
TEST_SCHEMA = Path(__file__).parent / "data" / "ldap" / "station-test.ldif"
SCHEMAS = ("core", "cosine", "nis", "inetorgperson")

INDEXED = ("uid", "employeeNumber", "cardNumber", "mail", "sAMAccountName", "userPrincipalName")
# Small on purpose: anyone but the admin and the service account gets at most this many
# entries per search, paged or not, as on a stock OpenLDAP (whose default is 500).
SIZE_LIMIT = 25
START_TIMEOUT = 5.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SlapdServer:
    """One private slapd in `workdir`; `create()` it, `start()` it, `destroy()` it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.config_dir = workdir / "slapd.d"
        self.db_dir = workdir / "db"
        self.log_file = workdir / "slapd.log"
        self.port = free_port()
        self.ldaps_port = free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_uri = f"ldaps://127.0.0.1:{self.ldaps_port}"
        self.base_dn = BASE_DN
        self.people_dn = PEOPLE_DN
        self.ad_dn = AD_DN
        self.bind_dn = ADMIN_DN
        self.bind_password = ADMIN_PASSWORD
        self.reader_dn = READER_DN
        self.reader_password = READER_PASSWORD
        self.certificates = make_certificates(workdir / "tls")
        self.ca_file = str(self.certificates.ca_file)
        self.wrong_ca_file = str(self.certificates.wrong_ca_file)
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, parent: str | Path | None = None, *, seed: bool = True) -> SlapdServer:
        """A configured, stopped server in a new temp dir; seeded unless `seed` is false."""
        server = cls(Path(tempfile.mkdtemp(prefix="slapd-", dir=parent)))
        try:
            server.configure(seed=seed)
        except BaseException:
            server.destroy()
            raise
        return server

    def configure(self, *, seed: bool = True) -> None:
        self.config_dir.mkdir()
        self.db_dir.mkdir()
        config = self.workdir / "config.ldif"
        config.write_text(self.config_ldif())
        _run(SLAPADD, "-n0", "-F", str(self.config_dir), "-l", str(config))
        self.load_ldif(seed_ldif() if seed else base_ldif())

    def config_ldif(self) -> str:
        tls = self.certificates
        includes = [f"include: {(SCHEMA_DIR / f'{name}.ldif').as_uri()}" for name in SCHEMAS]
        includes.append(f"include: {TEST_SCHEMA.as_uri()}")
        indexes = "\n".join(f"olcDbIndex: {name} eq" for name in INDEXED)
        return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {self.workdir}/slapd.pid
olcArgsFile: {self.workdir}/slapd.args
olcLogLevel: none
olcTLSCACertificateFile: {tls.ca_file}
olcTLSCertificateFile: {tls.cert_file}
olcTLSCertificateKeyFile: {tls.key_file}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_DIR}
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{chr(10).join(includes)}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: {SIZE_LIMIT}

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {BASE_DN}
olcDbDirectory: {self.db_dir}
olcRootDN: {ADMIN_DN}
olcRootPW: {ssha(ADMIN_PASSWORD)}
olcDbMaxSize: 4294967296
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
{indexes}
olcLimits: dn.exact="{READER_DN}" size.soft=unlimited size.hard=unlimited size.prtotal=unlimited
olcAccess: {{0}}to attrs=userPassword by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none
"""

    def load_ldif(self, ldif: str | Path) -> None:
        """Add entries offline with `slapadd -q` (the server must be stopped)."""
        if self.running:
            raise RuntimeError("slapadd needs the server stopped")
        path = Path(ldif) if isinstance(ldif, Path) else self.workdir / "load.ldif"
        if not isinstance(ldif, Path):
            path.write_text(ldif)
        _run(SLAPADD, "-q", "-n1", "-F", str(self.config_dir), "-l", str(path))

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start slapd and wait until both ports accept connections."""
        if self.running:
            return
        listen = f"{self.uri}/ {self.ldaps_uri}/"
        command = [*_die_with_parent(), SLAPD, "-d", "0", "-F", str(self.config_dir), "-h", listen]
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_ready()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)  # in case it was paused
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze slapd (SIGSTOP): connections are accepted by the kernel, never answered."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def destroy(self) -> None:
        """Stop the server and remove its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def admin(self) -> ldap3.Connection:
        """A bound admin connection (the caller unbinds it)."""
        return ldap3.Connection(
            ldap3.Server(self.uri, get_info=ldap3.NONE),
            ADMIN_DN,
            ADMIN_PASSWORD,
            auto_bind=True,
            raise_exceptions=True,
        )

    def add_entry(self, dn: str, attributes: Mapping[str, Any]) -> str:
        connection = self.admin()
        try:
            connection.add(dn, attributes=dict(attributes))
        finally:
            connection.unbind()
        return dn

    def delete(self, dn: str) -> None:
        connection = self.admin()
        try:
            connection.delete(dn)
        finally:
            connection.unbind()

    def add_user(
        self,
        uid: str,
        cards: Iterable[str] = (),
        mail: str | None = None,
        *,
        name: str | None = None,
        employee_number: str | None = None,
        password: str | None = None,
    ) -> str:
        """Add a person under ou=people while running; returns the DN."""
        attributes = person_attributes(uid, cards, mail, name=name, employee_number=employee_number)
        if password:
            attributes["userPassword"] = ssha(password)
        return self.add_entry(f"uid={uid},{PEOPLE_DN}", attributes)

    def settings(self, **overrides: Any) -> DirectorySettings:
        """DirectorySettings for this server: ldap://, admin bind, people (or ad) base."""
        profile = overrides.get("profile", "rfc2307")
        values: dict[str, Any] = {
            "type": "ldap",
            "profile": profile,
            "uri": (self.uri,),
            "bind_dn": ADMIN_DN,
            "bind_password": ADMIN_PASSWORD,
            "base_dn": AD_DN if profile == "ad" else PEOPLE_DN,
            "card_attributes": ("employeeNumber",) if profile == "ad" else CARD_ATTRIBUTES,
            "ca_file": self.ca_file,
            "connect_timeout_seconds": 1.0,
            "receive_timeout_seconds": 2.0,
        }
        values.update(overrides)
        return DirectorySettings(**values)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = [self.port, self.ldaps_port]
        while pending:
            if self._process is not None and self._process.poll() is not None:
                self._process = None
                raise RuntimeError(f"slapd exited at start:\n{self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"slapd did not listen within {START_TIMEOUT} s")
            if _accepts(pending[0]):
                pending.pop(0)
            else:
                time.sleep(0.01)

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _die_with_parent() -> list[str]:
    """Have the kernel kill slapd if this process dies without stopping it."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
