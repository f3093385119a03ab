# SPDX-License-Identifier: GPL-3.0-or-later
"""Bound ldap3 connections to the first LDAP server that answers, one per thread.

The servers in `[directory] uri` form an ldap3 ServerPool with the FIRST strategy: each
(re)connect takes the first server that accepts a TCP connection, checking each server once
(no waiting rounds); a server found dead is skipped for `dead_server_seconds`, so it costs a
connect timeout at most once in that time. When every server has failed, the next call
tries them all again, so a directory that comes back is used at once.

ldap3 connections, and the Server objects they change while connecting, are not safe to
share between threads, so every thread gets its own connection, pool and servers. A call
that finds its connection dropped (server restarted, idle timeout) reconnects and retries
once; a call that cannot reach any server raises DirectoryError naming the servers tried.

TLS (`ldaps://` or `starttls`) validates the server's certificate and host name unless
`tls_validate = no`; ldap3's own default is not to validate.

A login (`password_accepted`) binds as the user on a connection of its own, built as the
station's are (servers, TLS, timeouts), and closed at once: the station's own connections
stay bound as the station's account.
"""

from __future__ import annotations

import logging
import math
import re
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import ldap3
from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPException,
    LDAPServerPoolExhaustedError,
    LDAPSSLConfigurationError,
    LDAPStartTLSError,
)

from releasestation.config import DirectorySettings
from releasestation.errors import ConfigError, DirectoryError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEAD_SERVER_SECONDS = 10

# ldap3 sleeps this long (default 10 s) after each round of the pool that found no server.
# We try one round only, so there is nothing to wait for.
ldap3.set_config_parameter("POOLING_LOOP_TIMEOUT", 0)

# Bind results that say "not with these credentials" (invalidCredentials, which AD also
# gives for disabled, locked and expired accounts; inappropriateAuthentication;
# insufficientAccessRights; unwillingToPerform, e.g. OpenLDAP's "unauthenticated bind").
# Any other result is the directory failing to answer.
CREDENTIALS_REFUSED = frozenset({48, 49, 50, 53})

# Errors that mean "this connection is unusable", as opposed to an answer from the server.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    LDAPCommunicationError,
    LDAPServerPoolExhaustedError,
    LDAPStartTLSError,
    LDAPCertificateError,
)


def make_tls(settings: DirectorySettings) -> ldap3.Tls:
    """Validation on unless explicitly turned off; ca_file, else the system's CAs."""
    if not settings.tls_validate:
        log.warning(
            "[directory] tls_validate = no: the LDAP server's certificate is not checked, "
            "so anyone between this station and %s can pose as it",
            ", ".join(settings.uri),
        )
        return ldap3.Tls(validate=ssl.CERT_NONE)
    try:
        return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file)
    except LDAPSSLConfigurationError:
        raise ConfigError(f"[directory] ca_file: cannot read {settings.ca_file}") from None


class Connector:
    """Runs operations on this thread's bound connection, reconnecting when it dropped."""

    def __init__(
        self,
        settings: DirectorySettings,
        password: str | None,
        dead_server_seconds: int = DEAD_SERVER_SECONDS,
    ):
        self.settings = settings
        self._password = password
        self._dead_server_seconds = dead_server_seconds
        self._tls = make_tls(settings)
        self._lock = threading.Lock()
        self._by_thread: dict[int, ldap3.Connection] = {}
        self._clear_text = not settings.starttls and _plain(settings.uri)
        self._warned_logins = False
        if password and self._clear_text:
            log.warning(
                "[directory] the bind password goes in clear text over ldap://; "
                "use ldaps:// or starttls = yes"
            )

    def run(self, operation: Callable[[ldap3.Connection], T]) -> T:
        """`operation` on a bound connection; retried once on a fresh one if it dropped."""
        connection = self._connection()
        may_retry = connection.bound  # a fresh connect already tried every server
        while True:
            try:
                return self._attempt(connection, operation)
            except CONNECTION_ERRORS as exc:
                drop(connection)
                if not may_retry:
                    # Every server failed: the next call starts from a fresh pool, so a
                    # directory that comes back is used at once, not after the dead-time.
                    self._forget_thread()
                    raise self.unreachable(exc) from None
                may_retry = False
                log.info(
                    "LDAP connection to %s lost (%s); reconnecting", connection.server.name, exc
                )
            except LDAPException as exc:
                drop(connection)
                raise failed(connection, exc) from None

    @contextmanager
    def dedicated(self) -> Iterator[ldap3.Connection]:
        """A connection of its own (for a paged search), closed afterwards."""
        connection = self._new_connection()
        try:
            self.bind(connection)
        except CONNECTION_ERRORS as exc:
            drop(connection)
            raise self.unreachable(exc) from None
        except LDAPException as exc:
            drop(connection)
            raise failed(connection, exc) from None
        try:
            yield connection
        finally:
            drop(connection)

    def bind(self, connection: ldap3.Connection) -> None:
        """Open (with StartTLS when asked) and bind; DirectoryError if the bind is refused."""
        self._open(connection)
        if not connection.bind(read_server_info=False):
            result = connection.result or {}
            server = connection.server
            drop(connection)
            who = self.settings.bind_dn or "anonymous"
            raise DirectoryError(
                f"{server.name}: bind as {who} refused: {result.get('description', '?')}"
                f" (result {result.get('result', '?')})"
            )

    def password_accepted(self, dn: str, password: str) -> bool:
        """Whether the directory lets `dn` bind with `password`, asked on a connection of
        its own, closed at once. False when it refuses the credentials (CREDENTIALS_REFUSED)
        and, without asking, for an empty password; DirectoryError when no server answers."""
        if not password:
            return False
        if self._clear_text and not self._warned_logins:
            self._warned_logins = True
            log.warning(
                "[directory] users' passwords go in clear text over ldap://; "
                "use ldaps:// or starttls = yes"
            )
        connection = self._new_connection(dn, password)
        try:
            self._open(connection)
            if connection.bind(read_server_info=False):
                return True
            result, server = connection.result or {}, connection.server.name
        except CONNECTION_ERRORS as exc:
            raise self.unreachable(exc) from None
        except LDAPException as exc:
            raise failed(connection, exc) from None
        finally:
            drop(connection)
        if result.get("result") in CREDENTIALS_REFUSED:
            return False
        raise DirectoryError(
            f"{server}: a user's bind failed: {result.get('description', '?')}"
            f" (result {result.get('result', '?')})"
        )

    def unreachable(self, exc: Exception) -> DirectoryError:
        tried = ", ".join(self.settings.uri)
        return DirectoryError(f"no LDAP server could be used (tried {tried}): {describe(exc)}")

    def close(self) -> None:
        with self._lock:
            connections, self._by_thread = list(self._by_thread.values()), {}
        for connection in connections:
            drop(connection)

    def _open(self, connection: ldap3.Connection) -> None:
        connection.open(read_server_info=False)
        if self.settings.starttls and not connection.server.ssl:
            connection.start_tls(read_server_info=False)

    def _attempt(
        self, connection: ldap3.Connection, operation: Callable[[ldap3.Connection], T]
    ) -> T:
        if not connection.bound:
            self.bind(connection)
        return operation(connection)

    def _connection(self) -> ldap3.Connection:
        ident = threading.get_ident()
        with self._lock:
            connection = self._by_thread.get(ident)
        if connection is None:
            connection = self._new_connection()
            with self._lock:
                self._by_thread[ident] = connection
                stale = self._forget_finished_threads()
            for old in stale:
                drop(old)
        return connection

    def _forget_thread(self) -> None:
        with self._lock:
            self._by_thread.pop(threading.get_ident(), None)

    def _forget_finished_threads(self) -> list[ldap3.Connection]:
        alive = {thread.ident for thread in threading.enumerate()}
        finished = [ident for ident in self._by_thread if ident not in alive]
        return [self._by_thread.pop(ident) for ident in finished]

    def _new_connection(
        self, user: str | None = None, password: str | None = None
    ) -> ldap3.Connection:
        """A connection, not yet open, that binds as `user` (default: the station's account)."""
        settings = self.settings
        if user is None:
            user, password = settings.bind_dn, self._password
        servers = [
            ldap3.Server(
                uri,
                connect_timeout=settings.connect_timeout_seconds,
                get_info=ldap3.NONE,
                tls=self._tls,
            )
            for uri in settings.uri
        ]
        pool = ldap3.ServerPool(servers, ldap3.FIRST, active=1, exhaust=self._dead_server_seconds)
        return ldap3.Connection(
            pool,
            user=user,
            password=password,
            authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
            client_strategy=ldap3.SYNC,
            read_only=True,
            auto_referrals=False,
            raise_exceptions=False,
            # ldap3 packs this into SO_RCVTIMEO as a C long: it must be an int.
            receive_timeout=max(1, math.ceil(settings.receive_timeout_seconds)),
        )


def drop(connection: ldap3.Connection) -> None:
    """Close a connection that may already be broken; never raises."""
    try:
        connection.unbind()
    except (LDAPException, OSError) as exc:
        log.debug("closing LDAP connection: %s", exc)


def failed(connection: ldap3.Connection, exc: LDAPException) -> DirectoryError:
    """Any other ldap3 error, by name only: its text might quote the search filter."""
    return DirectoryError(f"{connection.server.name}: LDAP client error {type(exc).__name__}")


def describe(exc: Exception) -> str:
    """What went wrong with a connection, in words an administrator can act on."""
    text = str(exc)
    if isinstance(exc, LDAPServerPoolExhaustedError):
        return "no server accepted a connection"
    if isinstance(exc, LDAPCertificateError):
        return "the server's TLS certificate does not name the host in uri"
    if verify := _VERIFY_FAILED.search(text):
        return (
            f"the server's TLS certificate is not trusted ({verify.group(1).strip()}); "
            "ca_file must hold the CA that signed it"
        )
    return text or type(exc).__name__


_VERIFY_FAILED = re.compile(r"certificate verify failed: ([^'\"(]+)")


def _plain(uris: tuple[str, ...]) -> bool:
    return any(uri.lower().startswith("ldap://") for uri in uris)
