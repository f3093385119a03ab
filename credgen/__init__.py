# SPDX-License-Identifier: GPL-3.0-or-later
"""The credential generator: PINs, card-assignment codes and passwords, by mail.

`run_batch(app)` serves every directory and local user who lacks what the `[credgen]`
policy asks for (`credgen batch`, from cron); `run_user(app, name)` serves one user and
creates visitors (`credgen user`). Issuing itself, for one user and for a group, and the
mail are the station's (releasestation.credentials), which issues a visitor's PIN when
their job arrives; this package is the command and its batch orchestration.
"""

from __future__ import annotations

from credgen.batch import run_batch
from credgen.results import BatchResult
from credgen.user import run_user
from releasestation.credentials.results import UserResult

__all__ = ["BatchResult", "UserResult", "run_batch", "run_user"]
