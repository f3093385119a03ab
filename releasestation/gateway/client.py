# SPDX-License-Identifier: GPL-3.0-or-later
"""The gateway's two questions to the API: authorize (may this job print?) and complete
(how it ended, how many pages).

JSON over HTTPS (or HTTP to loopback), `Authorization: Bearer TOKEN` read from a file that
must be 0600 (or stricter) and owned by the account reading it, the certificate checked
against `ca_file` or the system's CAs, one short timeout for connecting and answering.
Redirects are not followed (the token would go with them). What the answer means is
`Answer.verdict`; a call that got no answer raises ApiUnavailable.
"""

from __future__ import annotations

import http.client
import json
import os
import stat
import urllib.parse
from dataclasses import dataclass
from typing import Any

from releasestation.gateway.settings import GatewaySettings

ALLOW, REFUSE, HOLD, UNKNOWN = "allow", "refuse", "hold", "unknown"
MAX_ANSWER = 64 * 1024
USER_AGENT = "releasestation-printmanager"
# 402: pay first (a quota); 403: not allowed. Each maps to the job-state-reasons keyword
# the backend reports while it ends the job.
REASONS = {402: "account-limit-reached", 403: "account-authorization-failed"}


class ApiUnavailable(Exception):
    """No answer from the API: refused connection, timeout, TLS failure, bad token file."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def verdict(self) -> str:
        if self.status == 200:
            return ALLOW
        if self.status in (402, 403):
            return REFUSE
        if self.status in (409, 423):
            return HOLD
        return UNKNOWN

    @property
    def reason(self) -> str:
        """A job-state-reasons keyword: the API's `reason` if it is one, else by status."""
        given = str(self.body.get("reason", ""))
        if given and given.replace("-", "").isalnum() and given.islower() and len(given) < 64:
            return given
        return REASONS.get(self.status, "job-hold-until-specified")


class ApiClient:
    def __init__(self, settings: GatewaySettings):
        if not settings.endpoint:
            raise ApiUnavailable("[gateway] endpoint is not set")
        self.settings = settings
        self.url = urllib.parse.urlsplit(settings.endpoint.rstrip("/"))

    def authorize(self, payload: dict[str, Any]) -> Answer:
        return self._post("authorize", payload)

    def complete(self, payload: dict[str, Any]) -> Answer:
        return self._post("complete", payload)

    def _post(self, what: str, payload: dict[str, Any]) -> Answer:
        token = read_token(self.settings.token_file)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = self._connection()
        try:
            conn.request("POST", f"{self.url.path}/{what}", body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read(MAX_ANSWER)
            return Answer(response.status, _json(raw))
        except (OSError, http.client.HTTPException) as exc:
            raise ApiUnavailable(f"{what}: {type(exc).__name__}: {exc}") from None
        finally:
            conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        host, port, timeout = self.url.hostname or "", self.url.port, self.settings.timeout
        if self.url.scheme == "http":
            return http.client.HTTPConnection(host, port, timeout=timeout)
        import ssl  # only for https: it is a good part of the backend's start-up

        context = ssl.create_default_context(cafile=self.settings.ca_file or None)
        return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)


def read_token(path: str) -> str:
    """The first line of the token file; ApiUnavailable if it is readable by others."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as f:
            info = os.fstat(f.fileno())
            if stat.S_IMODE(info.st_mode) & 0o077:
                raise ApiUnavailable(f"token file {path} must be 0600 or stricter")
            return f.readline().strip()
    except OSError as exc:
        raise ApiUnavailable(f"cannot read token file {path}: {exc.strerror}") from None


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
