# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP card reader (`type = http`): network readers that report each card by HTTP(S).

Wire format: the reader, in "client mode" (as the RF IDeas Ethernet 241 and similar
network readers offer), makes one request per card to the station:

    GET /swipe?card=00BC614E&token=SECRET HTTP/1.1
    GET /swipe?id=00BC614E                      with header  X-Reader-Token: SECRET
    POST /swipe  card=00BC614E&token=SECRET     (application/x-www-form-urlencoded)
    POST /swipe  00BC614E                       (text/plain body: the card alone; the token
                                                 in a header)

The card is taken from the first query or form field named in `card_params` (default
`card`, `id`, `badge`, `data`), so a reader whose firmware names the field differently is
configured, not patched. The token may also come as `Authorization: Bearer SECRET`.

    [reader:lobby-net]
    type = http
    host = 0.0.0.0
    port = 8241                 ; 0 picks a free port (tests)
    path = /swipe
    token_file = /etc/releasestation/lobby-net.token   ; 0600; or token = ...
    allow = 10.1.2.40, 10.1.3.0/24
    cert_file = /etc/releasestation/tls/station.crt     ; both, for HTTPS
    key_file = /etc/releasestation/tls/station.key

Answers: 200 `OK` when the card was taken; 403 for an address outside `allow` or a wrong or
missing token (logged, never showing the token); 400 when no card or not a card number;
404 for another path. Requests are never logged with their query string, which carries the
card and the token. Served by the standard library's ThreadingHTTPServer, at most
MAX_CLIENTS (16) requests at a time: a connection beyond that is closed at once, so a flood
cannot pile up threads.
"""

from __future__ import annotations

import hmac
import http.server
import ipaddress
import logging
import os
import selectors
import socket
import ssl
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from readers.base import Reader, ReaderError, ReaderSettings
from readers.framing import plausible_card

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Reader-Token"  # noqa: S105 - a header name, not a secret
HANDSHAKE_SECONDS = 5.0
MAX_CLIENTS = 16  # requests in hand at once; a reader sends one per swipe


@dataclass(frozen=True, kw_only=True)
class HttpSettings(ReaderSettings):
    host: str = "0.0.0.0"
    port: int = 8241
    path: str = "/swipe"
    token: str | None = field(default=None, repr=False, metadata={"secret": True})
    token_file: str | None = None
    allow: tuple[str, ...] = ()
    card_params: tuple[str, ...] = ("card", "id", "badge", "data")
    cert_file: str | None = None
    key_file: str | None = None
    max_body: int = 1024

    def __post_init__(self) -> None:
        if bool(self.token) == bool(self.token_file):
            raise ValueError("token, token_file: give exactly one (the shared secret)")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port: {self.port} is not a TCP port")
        if not self.path.startswith("/"):
            raise ValueError("path: must start with /")
        if not self.allow:
            raise ValueError("allow: list the addresses or networks of the readers")
        for net in self.allow:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"allow: {net!r} is not an address or network") from None
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file, key_file: give both for HTTPS, or neither")
        if not self.card_params:
            raise ValueError("card_params: name at least one field")


def read_token(path: str) -> str:
    """The first line of a token file that only its owner can read; ReaderError otherwise."""
    try:
        mode = os.stat(path).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ReaderError(f"token_file {path} is readable by others; chmod 600 it")
        token = Path(path).read_text(encoding="utf-8").strip().splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        raise ReaderError(f"cannot read token_file {path}: {exc}") from None
    if not token:
        raise ReaderError(f"token_file {path} is empty")
    return token


class SwipeServer(http.server.ThreadingHTTPServer):
    """The HTTP server of one reader; errors in a request are logged, not printed.

    Each request runs in a thread of its own, at most MAX_CLIENTS at a time: a connection
    that comes while that many are in hand (a flood, or clients that connect and send
    nothing, each held for up to HANDSHAKE_SECONDS) is closed at once, without a thread."""

    daemon_threads = True
    reader: HttpReader

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._full = False  # a warning was logged; set and read by the accepting thread only

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            if not self._full:
                log.warning(
                    "reader %s: %d requests in hand; closing new connections until one is done",
                    self.reader.name, MAX_CLIENTS,
                )  # fmt: skip
            self._full = True
            self.reader.turned_away += 1
            self.shutdown_request(request)
            return
        self._full = False
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()  # no thread was started to give it back
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("reader %s: request from %s failed", self.reader.name, client_address[0])


class SwipeServer6(SwipeServer):
    address_family = socket.AF_INET6


class SwipeHandler(http.server.BaseHTTPRequestHandler):
    server: SwipeServer
    timeout = HANDSHAKE_SECONDS
    server_version = "releasestation-reader"
    sys_version = ""

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        self._answer(*self.server.reader.handle(self._client(), self._request("")))

    def do_POST(self) -> None:
        self._answer(*self.server.reader.handle(self._client(), self._request(self._body())))

    def _client(self) -> str:
        return self.client_address[0]

    def _body(self) -> str:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0  # then there is no card, and the answer is 400
        limit = self.server.reader.settings.max_body
        return self.rfile.read(min(max(length, 0), limit)).decode("ascii", "replace")

    def _request(self, body: str) -> Request:
        url = urlsplit(self.path)
        fields = parse_qs(url.query, max_num_fields=16)
        if body:
            if "=" in body:
                for key, values in parse_qs(body.strip(), max_num_fields=16).items():
                    fields.setdefault(key, []).extend(values)
            else:
                fields.setdefault("", []).append(body.strip())
        return Request(url.path, fields, self.headers)

    def _answer(self, code: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    # The request line carries the card and the token: never log it.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        name = self.server.reader.name
        log.debug("reader %s: %s from %s: %s", name, self.command, self._client(), code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("reader %s: malformed request from %s", self.server.reader.name, self._client())


@dataclass
class Request:
    """What a handler passes to the reader: the path, query/form fields and headers."""

    path: str
    fields: dict[str, list[str]]
    headers: Any

    def first(self, names: tuple[str, ...]) -> str | None:
        for name in (*names, ""):
            if self.fields.get(name):
                return self.fields[name][0]
        return None

    def token(self) -> str | None:
        header = self.headers.get(TOKEN_HEADER) if self.headers else None
        auth = (self.headers.get("Authorization") or "") if self.headers else ""
        if not header and auth.lower().startswith("bearer "):
            header = auth[7:].strip()
        query = self.fields.get("token")
        return header or (query[0] if query else None)


class HttpReader(Reader):
    kind = "http"
    Settings = HttpSettings
    settings: HttpSettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in self.settings.allow]
        self._lock = threading.Lock()  # requests run in threads; decide one at a time
        self._token = b""
        self.bound_port: int | None = None
        self.refused = 0
        self.turned_away = 0  # connections closed at once: MAX_CLIENTS were in hand

    def serve(self) -> None:
        s = self.settings
        self._token = (s.token or read_token(s.token_file or "")).encode()
        server = self._bind()
        try:
            self.bound_port = server.server_address[1]
            scheme = "https" if s.cert_file else "http"
            self.serving(f"{scheme} on port {self.bound_port}")
            log.info("reader %s: %s on %s port %s", self.name, scheme, s.host, self.bound_port)
            self._loop(server)
        finally:
            server.server_close()

    def _bind(self) -> SwipeServer:
        s = self.settings
        cls = SwipeServer6 if ":" in s.host else SwipeServer
        try:
            server = cls((s.host, s.port), SwipeHandler)
        except OSError as exc:
            raise ReaderError(f"cannot listen on {s.host}:{s.port}: {exc}") from exc
        server.reader = self
        if s.cert_file and s.key_file:
            try:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(s.cert_file, s.key_file)
            except (OSError, ssl.SSLError) as exc:
                server.server_close()
                raise ReaderError(f"cannot load {s.cert_file} / {s.key_file}: {exc}") from exc
            server.socket = context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        return server

    def _loop(self, server: SwipeServer) -> None:
        """Accept requests until stopped; each is handled in its own thread."""
        sel = selectors.DefaultSelector()
        sel.register(server.socket, selectors.EVENT_READ, "server")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        server.timeout = 0
        try:
            while not self.stopping.is_set():
                for key, _ in sel.select():
                    if key.data == "wake":
                        self.clear_wake()
                    else:
                        server.handle_request()
        finally:
            sel.close()

    # -- one request ----------------------------------------------------------------------
    def handle(self, client: str, request: Request) -> tuple[int, str]:
        """Decide on one request: (HTTP status, text). Runs in the request's thread."""
        with self._lock:
            return self._decide(client, request)

    def _decide(self, client: str, request: Request) -> tuple[int, str]:
        if not self._allowed_address(client):
            return self._refuse(client, "address not in allow")
        if request.path != self.settings.path:
            return 404, "not found"
        given = (request.token() or "").encode()
        if not hmac.compare_digest(given, self._token):
            return self._refuse(client, "missing token" if not given else "wrong token")
        card = request.first(self.settings.card_params)
        if not card:
            self.drop(f"request from {client} without a card")
            return 400, "no card"
        if not plausible_card(card.strip()):
            self.drop(f"request from {client}: not a card number", card[:64])
            return 400, "not a card number"
        self.deliver(card.strip())
        return 200, "OK"

    def _allowed_address(self, client: str) -> bool:
        try:
            ip = ipaddress.ip_address(client.split("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._allowed)

    def _refuse(self, client: str, why: str) -> tuple[int, str]:
        self.refused += 1
        log.warning("reader %s: refused request from %s: %s", self.name, client, why)
        return 403, "forbidden"
