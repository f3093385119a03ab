# SPDX-License-Identifier: GPL-3.0-or-later
"""[gateway]: the print gateway's API (the `printmanager` backend) and the station's own
answer to it (quotas, allowed groups, the follow-me rule). Standard library only: the
backend reads this section under cupsd, as `lp`, without the station's other packages."""

from __future__ import annotations

import dataclasses
import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

API_ERROR_ACTIONS = ("retry", "hold", "print", "cancel")
REFUSED_ACTIONS = ("cancel", "hold")
QUOTA_PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class GatewaySettings:
    """[gateway] (docs/gateway.md; examples/releasestation.ini documents every key)."""

    # The backend's side: where it asks, how, and what it does when it cannot.
    endpoint: str = ""  # base URL; <endpoint>/authorize and <endpoint>/complete
    token_file: str = ""  # a 0600 file whose first line is the bearer token
    ca_file: str = ""  # CA bundle for the endpoint's certificate; empty: the system's
    timeout: float = 5.0  # seconds, per call
    on_api_error: str = "retry"
    on_refused: str = "cancel"
    # The station's API: the token it accepts, who may print, and how much.
    api_token_file: str = ""  # 0600, the web's account; empty: the station's API is off
    allowed_groups: str = ""  # groups separated by ";" (a DN holds commas)
    quota_pages: int = 0  # per user per quota_period; 0: no quota
    quota_period: str = "month"
    cost_center_quota_pages: int = 0  # per cost center per period; 0: none
    cost_center_quotas: tuple[str, ...] = ()  # NAME:PAGES overrides per cost center
    follow_me_only_released: bool = True
    released_within_hours: float = 24.0

    def __post_init__(self) -> None:
        if self.endpoint:
            endpoint_problem(self.endpoint)
        if not 0 < self.timeout <= 60:
            raise ValueError("timeout: must be more than 0 and at most 60 seconds")
        if self.on_api_error not in API_ERROR_ACTIONS:
            raise ValueError(f"on_api_error: one of {', '.join(API_ERROR_ACTIONS)}")
        if self.on_refused not in REFUSED_ACTIONS:
            raise ValueError(f"on_refused: one of {', '.join(REFUSED_ACTIONS)}")
        if self.quota_period not in QUOTA_PERIODS:
            raise ValueError(f"quota_period: one of {', '.join(QUOTA_PERIODS)}")
        if self.quota_pages < 0 or self.cost_center_quota_pages < 0:
            raise ValueError("quota_pages, cost_center_quota_pages: must not be negative")
        if self.released_within_hours <= 0:
            raise ValueError("released_within_hours: must be more than 0")
        self.cost_center_limits  # noqa: B018 - checks cost_center_quotas

    @property
    def groups(self) -> tuple[str, ...]:
        """allowed_groups, each a group's DN or its cn."""
        return tuple(g.strip() for g in self.allowed_groups.split(";") if g.strip())

    @property
    def cost_center_limits(self) -> dict[str, int]:
        """cost_center_quotas as {cost center: pages}."""
        limits = {}
        for item in self.cost_center_quotas:
            name, sep, pages = item.rpartition(":")
            if not sep or not name.strip() or not pages.strip().isdigit():
                raise ValueError(f"cost_center_quotas: NAME:PAGES, not {item!r}")
            limits[name.strip()] = int(pages)
        return limits

    def cost_center_limit(self, cost_center: str | None) -> int:
        """The page quota of `cost_center` per period (0: none)."""
        if cost_center is None:
            return 0
        return self.cost_center_limits.get(cost_center, self.cost_center_quota_pages)


def endpoint_problem(endpoint: str) -> None:
    """ValueError unless `endpoint` is https://, or http:// to a loopback address, with no
    credentials, query or fragment."""
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme not in ("https", "http") or not url.hostname:
        raise ValueError(f"endpoint: an https:// URL, not {endpoint!r}")
    if url.username or url.password or url.query or url.fragment:
        raise ValueError("endpoint: no user, password, query or fragment in the URL")
    if url.scheme == "http" and not is_loopback(url.hostname):
        raise ValueError("endpoint: http:// only to a loopback address; use https://")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def from_values(values: Mapping[str, str]) -> GatewaySettings:
    """[gateway] from its raw INI values, as releasestation.config reads it (same keys,
    types and checks) without the station's other modules: the backend starts per job,
    and every import is paid each time. ValueError names the key."""
    fields = {f.name: f for f in dataclasses.fields(GatewaySettings)}
    kwargs: dict[str, object] = {}
    for key, text in values.items():
        if key not in fields:
            raise ValueError(f"[gateway] {key}: unknown key")
        default = fields[key].default
        text = text.strip()
        try:
            if isinstance(default, bool):
                kwargs[key] = _boolean(text)
            elif isinstance(default, tuple):
                kwargs[key] = tuple(item.strip() for item in text.split(",") if item.strip())
            elif isinstance(default, int | float):
                kwargs[key] = type(default)(text)
            else:
                kwargs[key] = text
        except ValueError as exc:
            raise ValueError(f"[gateway] {key}: {exc}") from None
    try:
        return GatewaySettings(**kwargs)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"[gateway] {exc}") from None


def _boolean(text: str) -> bool:
    words = {"yes": True, "true": True, "on": True, "1": True,
             "no": False, "false": False, "off": False, "0": False}  # fmt: skip
    if text.lower() not in words:
        raise ValueError(f"yes or no, not {text!r}")
    return words[text.lower()]
