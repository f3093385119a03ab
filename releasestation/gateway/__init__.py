# SPDX-License-Identifier: GPL-3.0-or-later
"""The print gateway (docs/gateway.md): the `printmanager` CUPS backend that asks an API
before a job reaches the printer (`backend`, `client`, `job`), its installer (`install`),
`[gateway]` (`settings`), and the station's own answer to it (`authority`).

The backend's modules use the standard library only: cupsd runs them as `lp`, often with
the system's python3. Importing this package imports nothing else.
"""

from releasestation.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings"]
