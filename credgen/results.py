# SPDX-License-Identifier: GPL-3.0-or-later
"""What a batch run did (`BatchResult`); per user, releasestation.credentials.results."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from releasestation.credentials.results import UserResult


@dataclass
class BatchResult:
    """Counts of a batch run; `failed` names each user who did not get credentials."""

    dry_run: bool = False
    examined: int = 0  # users read from the directory and the store
    filtered: int = 0  # not matching allowed_usernames / allowed_emails
    current: int = 0  # already had what the policy asks for
    issued: int = 0  # users who got (in a dry run: would get) something
    kinds: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> users
    failed: list[tuple[str, str]] = field(default_factory=list)
    aborted: str = ""
    mails: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.aborted

    def add(self, outcome: UserResult) -> None:
        if outcome.status in ("issued", "dry-run"):
            self.issued += 1
            self.kinds.update(outcome.issued)
        elif outcome.status == "current":
            self.current += 1
        elif outcome.status == "skipped":
            self.skipped[outcome.reason] += 1
        elif outcome.status == "failed":
            self.failed.append((outcome.username, outcome.reason))

    def summary(self) -> str:
        verb = "would issue to" if self.dry_run else "issued to"
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.kinds.items())) or "nothing"
        lines = [
            f"credgen: {self.examined} users read, {self.filtered} filtered out,"
            f" {self.current} up to date; {verb} {self.issued} ({kinds});"
            f" {len(self.failed)} failed; {self.mails} mails; {self.seconds:.1f} s"
        ]
        lines += [f"  skipped {n}: {why}" for why, n in sorted(self.skipped.items())]
        lines += [f"  FAILED {user}: {why}" for user, why in self.failed]
        if self.aborted:
            lines.append(f"  STOPPED: {self.aborted}")
        return "\n".join(lines)
