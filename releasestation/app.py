# SPDX-License-Identifier: GPL-3.0-or-later
"""The composition root: the parts of a station built from its config and handed to each
other, each made on first use.

Every part takes the collaborators it uses in its constructor (a store, a print server, an
audit, a directory, settings); only this module knows how they fit together. The CLI
commands and the daemon share it; tests hand in parts started by fixtures.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from releasestation.audit import Audit
from releasestation.config import Config
from releasestation.directory import Directory, open_directory
from releasestation.owner_names import OwnerMatcher, StationOwners
from releasestation.secret import Hasher, load_or_create
from releasestation.store import Store
from releasestation.store.models import utcnow
from releasestation.store.site import check_secret, record_secret

if TYPE_CHECKING:
    from releasestation.credentials.lockout import LockoutPolicy
    from releasestation.credentials.one_user import UserIssuer
    from releasestation.identity import Identity
    from releasestation.lifecycle.expiry import Expirer
    from releasestation.lifecycle.housekeeping import Housekeeping
    from releasestation.lifecycle.visitors import Visitors
    from releasestation.lifecycle.watcher import JobWatcher
    from releasestation.mailprint.service import MailPrint
    from releasestation.monitoring import Watched
    from releasestation.monitoring.metrics import StationMetrics
    from releasestation.monitoring.probe import Probe
    from releasestation.printq import PrintServer
    from releasestation.printq.index import HeldIndex
    from releasestation.release import Claims, HeldJobs, OwnerResolver, Releaser
    from releasestation.service import BackgroundService
    from releasestation.submit import Submitter

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]


class App:
    def __init__(self, config: Config):
        self.config = config

    @functools.cached_property
    def store(self) -> Store:
        db = self.config.database
        return Store(db.url, busy_timeout=db.busy_timeout_seconds)

    @functools.cached_property
    def hasher(self) -> Hasher:
        path = self.config.station.secret_file
        secret = load_or_create(path)
        check_secret(self.store, secret, path)
        return Hasher(secret)

    def record_secret(self) -> None:
        """Load the secret and record its fingerprint in the database if none is yet."""
        path = self.config.station.secret_file
        secret = load_or_create(path)
        record_secret(self.store, secret, path)
        self.__dict__["hasher"] = Hasher(secret)  # checked just now: no second look

    @functools.cached_property
    def directory(self) -> Directory:
        return open_directory(self.config.directory, self.store, self.hasher)

    @functools.cached_property
    def printq(self) -> PrintServer:
        from releasestation.printq import PrintServer

        return PrintServer(self.config.cups)

    @functools.cached_property
    def station_owners(self) -> StationOwners:
        """Whose jobs are whose: the station's owner domains and realms, the directory's
        own where none are set (asked once; again later if the directory was away)."""
        return StationOwners(self.config.station, lambda: self.directory.own_names())

    @property
    def matcher(self) -> OwnerMatcher:
        return self.station_owners.matcher()

    @functools.cached_property
    def audit(self) -> Audit:
        keep_titles = self.config.audit.keep_titles
        return Audit(self.store, self.config.station.name, keep_titles=keep_titles)

    # -- who is at the reader ---------------------------------------------------------------
    @functools.cached_property
    def identity(self) -> Identity:
        return self.identity_with()

    def identity_with(self, clock: Clock = utcnow, policy: LockoutPolicy | None = None) -> Identity:
        """An Identity of this station's parts, on `clock` and lockout `policy`."""
        from releasestation.identity import Identity

        return Identity(
            self.store,
            self.hasher,
            self.directory,
            self.audit,
            self.config.station,
            cac_length=self.config.credgen.puk_length,
            clock=clock,
            policy=policy,
            offline_days=self.config.directory.offline_days,
        )

    # -- the swipe's path (releasestation.release) ------------------------------------------
    @functools.cached_property
    def server_key(self) -> str:
        from releasestation.release import server_key

        return server_key(self.config.cups.server)

    @functools.cached_property
    def held_index(self) -> HeldIndex:
        """The held-job index: a daemon service (it answers only while it runs)."""
        from releasestation.printq.index import HeldIndex

        return HeldIndex(self.printq, self.config.station.hold_queues)

    @functools.cached_property
    def held_jobs(self) -> HeldJobs:
        from releasestation.release import HeldJobs

        queues, matcher = self.config.station.hold_queues, self.station_owners.matcher
        return HeldJobs(self.printq, queues, matcher, index=self.held_index)

    @functools.cached_property
    def resolver(self) -> OwnerResolver:
        from releasestation.release import OwnerResolver

        matcher = self.station_owners.matcher
        return OwnerResolver(self.store, self.printq, self.config.owners, matcher, self.server_key)

    @functools.cached_property
    def claims(self) -> Claims:
        from releasestation.release import Claims

        generic = self.config.owners.generic_names
        station = self.config.station.name
        return Claims(self.store, self.audit, self.server_key, station, generic)

    @functools.cached_property
    def releaser(self) -> Releaser:
        from releasestation.release import Releaser

        return Releaser(
            self.store,
            self.audit,
            self.printq,
            self.held_jobs,
            self.resolver,
            self.claims,
            self.config.station,
        )

    # -- documents sent to print (the web portal, mail-to-print) ---------------------------
    @functools.cached_property
    def submitter(self) -> Submitter:
        """Checked documents submitted as held jobs on the first hold queue, audited."""
        from releasestation.submit import Submitter

        return Submitter(self.printq, self.audit, self.config.station)

    # -- the lifecycle around it ------------------------------------------------------------
    def expirer(self, clock: Clock = utcnow) -> Expirer:
        from releasestation.lifecycle.expiry import Expirer

        station = self.config.station
        return Expirer(self.store, self.printq, self.resolver, self.claims, station, clock)

    @functools.cached_property
    def user_issuer(self) -> UserIssuer:
        """Credentials for one user (`credgen user`, a visitor whose job arrived)."""
        from releasestation.credentials.one_user import UserIssuer

        credgen = self.config.credgen
        return UserIssuer(credgen, self.store, self.hasher, self.audit, self.directory)

    @functools.cached_property
    def visitors(self) -> Visitors:
        from releasestation.credentials.one_user import warn_unusable_pins
        from releasestation.lifecycle.visitors import Visitors

        config = self.config
        made = Visitors(
            self.store,
            self.directory,
            self.station_owners.matcher,
            config.credgen.allowed_usernames,
            on_arrival=config.station.visitors_on_arrival,
            issue=lambda name, email: self.user_issuer.issue(name, email),
        )
        if made.enabled:
            warn_unusable_pins(config)
        return made

    def housekeeping(self, clock: Clock = utcnow, interval: float | None = None) -> Housekeeping:
        """The housekeeping service (every `[station] expire_every_seconds` unless `interval`
        says otherwise)."""
        from releasestation.lifecycle.housekeeping import Housekeeping

        station = self.config.station
        return Housekeeping(
            self.expirer(clock),
            self.claims,
            self.resolver,
            self.printq,
            station.hold_queues,
            self.store,
            self.audit,
            self.config.audit,
            interval=interval or station.expire_every_seconds,
            clock=clock,
        )

    def job_watcher(self, interval: float | None = None) -> JobWatcher:
        """The job watcher (every `[station] watch_every_seconds` unless `interval` says
        otherwise)."""
        from releasestation.lifecycle.watcher import JobWatcher

        station = self.config.station
        return JobWatcher(
            self.printq,
            station.hold_queues,
            self.resolver,
            self.visitors,
            interval=interval or station.watch_every_seconds,
        )

    # -- mail-to-print (releasestation.mailprint) ------------------------------------------
    def mailprint(self) -> MailPrint:
        """`releasestation mailprint`: the mailbox of `[mailprint]`, the sender rules, the
        Submitter, and the visitors' flow (served whatever `visitors_on_arrival` says, which
        is about the daemon's job watcher: a visitor's mail is what brings them)."""
        from releasestation.lifecycle.visitors import Visitors
        from releasestation.mailprint.heartbeat import record
        from releasestation.mailprint.ledger import Ledger
        from releasestation.mailprint.mailbox import Mailbox
        from releasestation.mailprint.senders import Senders
        from releasestation.mailprint.service import MailPrint

        config, settings = self.config, self.config.mailprint
        visitors = Visitors(
            self.store,
            self.directory,
            self.station_owners.matcher,
            config.credgen.allowed_usernames,
            on_arrival=True,
            issue=lambda name, email: self.user_issuer.issue(name, email),
        )
        senders = Senders(self.directory, visitors, config.credgen, settings.allowed_senders)
        return MailPrint(
            settings,
            lambda: Mailbox(settings),
            Ledger(self.store, holder=config.station.name),
            senders,
            self.submitter,
            self.printq,
            visitors,
            self.audit,
            config.credgen,
            heartbeat=lambda beat: record(self.store, config.station.name, beat),
        )

    # -- monitoring ---------------------------------------------------------------------------
    @functools.cached_property
    def probe(self) -> Probe:
        """The cached checks of cupsd, its printers, the store, the directory and held jobs
        shared by /readyz, the metrics and the alerts."""
        from releasestation.mailprint.heartbeat import last
        from releasestation.monitoring.probe import Probe

        station, monitoring = self.config.station, self.config.monitoring
        return Probe(
            self.printq,
            self.store,
            self.directory,
            station.hold_queues,
            station.printer,
            self.held_index,
            cache_seconds=monitoring.check_cache_seconds,
            stuck_after=monitoring.stuck_after_seconds,
            mailprint=(
                (lambda: last(self.store, station.name))
                if self.config.mailprint.imap_server
                else None
            ),
        )

    def station_metrics(self, station: Watched) -> StationMetrics:
        """The metrics of `station` (its own registry), watching its readers and worker."""
        from releasestation.credentials.batch_runs import last_batch_run
        from releasestation.monitoring.metrics import StationMetrics

        metrics = StationMetrics(self.probe)
        metrics.watch(station.readers, station.alive)
        backup = getattr(self.config, "backup", None)
        metrics.records.backup_state = getattr(backup, "state_file", None)
        metrics.records.cert_file = getattr(getattr(self.config, "web", None), "cert_file", None)
        metrics.records.batch_run = lambda: last_batch_run(self.store)
        return metrics

    def monitoring_services(self, station: Watched) -> list[BackgroundService]:
        """The HTTP server of /metrics, /livez and /readyz (unless `[monitoring] listen` is
        empty) and the alert mails (when `alert_to` is set), watching `station`."""
        from releasestation.monitoring.alerts import Alerter
        from releasestation.monitoring.metrics import StationMetrics
        from releasestation.monitoring.server import Health, MonitorServer

        monitoring = self.config.monitoring
        metrics = station.metrics or StationMetrics(self.probe)
        services: list[BackgroundService] = []
        if monitoring.listen:
            health = Health(
                self.probe, station.readers, station.alive, station.stuck, station.troubles
            )
            services.append(MonitorServer(monitoring.address, metrics, health))
        if monitoring.recipients:
            name = self.config.station.name
            services.append(
                Alerter(name, self.probe, station.readers, monitoring, self.config.credgen, metrics)
            )
        return services

    def close(self) -> None:
        for name in ("directory", "printq", "store"):
            part = self.__dict__.pop(name, None)
            if part is not None:
                part.close()
