# SPDX-License-Identifier: GPL-3.0-or-later
"""The swipe's path after identity: a user's held jobs found, claimed, released, audited.

- `HeldJobs` (held): which held jobs are a user's, from the held-job index when it can vouch
  for itself, else from cupsd;
- `OwnerResolver` (resolution): the real owner of a job cupsd knows under a generic name,
  stored per job for the swipe; `cost_center_of`, `server_key`;
- `Claims` (claims): the crash-safe intent written before a job is released or expired;
- `Releaser`, `Outcome` (releaser): one user's jobs released, each audited.

Each takes the parts it uses in its constructor; releasestation.app builds and hands them
in. The lifecycle (expiry, reconciliation, the job watcher) builds on this package, never
the other way round.
"""

from releasestation.release.claims import Claim, Claims, event_of
from releasestation.release.held import HeldJobs
from releasestation.release.releaser import Outcome, Releaser
from releasestation.release.resolution import OwnerResolver, Resolution, cost_center_of, server_key

__all__ = [
    "Claim",
    "Claims",
    "HeldJobs",
    "Outcome",
    "OwnerResolver",
    "Releaser",
    "Resolution",
    "cost_center_of",
    "event_of",
    "server_key",
]
