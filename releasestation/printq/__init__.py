# SPDX-License-Identifier: GPL-3.0-or-later
"""The print server: the only package that talks to CUPS (pycups, lpadmin, lp).

`PrintServer` is what the station uses; `PrivateCups` is a real private cupsd for the tests
and the demo; `policy` holds the cupsd.conf policy hold queues need.
"""

from releasestation.printq.jobs import HELD, HeldJob
from releasestation.printq.policy import POLICY_NAME, render_policy, shipped_policy
from releasestation.printq.private import Captured, PrivateCups
from releasestation.printq.server import PrintServer

__all__ = [
    "HELD",
    "POLICY_NAME",
    "Captured",
    "HeldJob",
    "PrintServer",
    "PrivateCups",
    "render_policy",
    "shipped_policy",
]
