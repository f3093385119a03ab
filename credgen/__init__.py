# SPDX-License-Identifier: GPL-3.0-or-later
"""The credential generator: PINs, card-assignment codes and passwords, by mail.

`run_batch(app)` serves every directory and local user who lacks what the `[credgen]`
policy asks for (`credgen batch`, from cron); `run_user(app, name)` serves one user and
creates visitors (`credgen user`, and the daemon when a visitor's job arrives).
"""

from __future__ import annotations

from credgen.batch import run_batch
from credgen.results import BatchResult, UserResult
from credgen.user import run_user

__all__ = ["BatchResult", "UserResult", "run_batch", "run_user"]
