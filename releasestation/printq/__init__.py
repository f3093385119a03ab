# SPDX-License-Identifier: GPL-3.0-or-later
"""The print server: the only package that talks to CUPS (pycups, lpadmin, lp).

`PrintServer` is what the station uses; `policy` holds the cupsd.conf policy hold queues
need. The private cupsd of the demo, the tests and the bench is `releasestation.demo`'s.
"""

from releasestation.printq.jobs import HELD, HeldJob
from releasestation.printq.policy import POLICY_NAME, render_policy, shipped_policy
from releasestation.printq.server import PrintServer

__all__ = [
    "HELD",
    "POLICY_NAME",
    "HeldJob",
    "PrintServer",
    "render_policy",
    "shipped_policy",
]
