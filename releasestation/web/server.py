# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation web`: the portal served by gunicorn, started in-process.

One worker process with a few threads (gthread): one process keeps what it counts in one
place. gunicorn's master binds `[web] listen` and, with `cert_file` and `key_file`,
serves TLS itself. The worker builds its own App after the fork (database pool, cupsd
and LDAP connections are never shared across a fork) and closes it when it exits.

Plain HTTP is allowed without a certificate (a station on a trusted network, or behind a
proxy that adds TLS on the same host); unless the portal listens on loopback, that is said
loudly at start, since passwords and session cookies then cross the network in clear.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication

from releasestation.errors import ReleaseStationError

if TYPE_CHECKING:
    from flask import Flask

    from releasestation.app import App
    from releasestation.config import Config, WebSettings
    from releasestation.web.notify import JobMails

log = logging.getLogger(__name__)

PLAIN_HTTP_WARNING = """\
WARNING: the web portal serves plain HTTP on {listen}, beyond this machine.
Passwords and session cookies cross the network in clear. Set [web] cert_file and key_file
(or listen on 127.0.0.1 behind a TLS proxy)."""


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def gunicorn_options(settings: WebSettings, verbose: int = 0) -> dict[str, Any]:
    """gunicorn's settings for `[web]`: one gthread worker, TLS when configured."""
    host, port = settings.address
    options: dict[str, Any] = {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": 1,
        "worker_class": "gthread",
        "threads": settings.threads,
        "timeout": 120,  # a 20 MB upload over a slow phone link, checked and submitted
        "graceful_timeout": 10,
        "keepalive": 5,
        "proc_name": "releasestation-web",
        "errorlog": "-",
        "accesslog": "-" if verbose >= 1 else None,
        "loglevel": "debug" if verbose >= 2 else "info" if verbose >= 0 else "warning",
        "preload_app": False,
        "control_socket_disable": True,  # gunicorn >= 25 would make $HOME/.gunicorn/...
    }
    if settings.tls:
        options["certfile"] = settings.cert_file
        options["keyfile"] = settings.key_file
    return options


class PortalServer(BaseApplication):
    """gunicorn running the Flask app `make()` builds in its worker."""

    def __init__(self, make: Callable[[], Flask], options: dict[str, Any]):
        self.make = make
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # gunicorn < 25 has no control socket to turn off
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.make()


def check(config: Config) -> None:
    """Problems that would stop the portal, found before gunicorn starts (ReleaseStationError):
    the database's schema, the site secret, the session key, the certificate files."""
    from releasestation.app import App
    from releasestation.web.secret_key import key_path, load_or_create_key

    settings = config.web
    for name in ("cert_file", "key_file"):
        path = getattr(settings, name)
        if path:
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise ReleaseStationError(
                    f"[web] {name}: cannot read {path}: {exc.strerror}"
                ) from None
    app = App(config)
    try:
        problem = app.store.migration_problem()
        if problem:
            raise ReleaseStationError(problem)
        app.hasher  # noqa: B018 - loading it checks the site secret against the database
        load_or_create_key(key_path(settings, config.station))
    finally:
        app.close()


def serve(config: Config, verbose: int = 0) -> int:
    """Run the portal until SIGTERM or SIGINT; the exit code."""
    check(config)
    settings = config.web
    host, port = settings.address
    if not settings.tls and not loopback(host):
        print(PLAIN_HTTP_WARNING.format(listen=settings.listen), file=sys.stderr, flush=True)
        log.warning("web portal: plain HTTP on %s; set [web] cert_file and key_file", host)
    scheme = "https" if settings.tls else "http"
    log.info("web portal on %s://%s:%d/", scheme, host, port)
    worker = _Worker(config)
    options = gunicorn_options(settings, verbose)
    options["worker_exit"] = worker.exit
    try:
        PortalServer(worker.make, options).run()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


class _Worker:
    """The worker's App and portal: made after the fork, closed when the worker exits."""

    def __init__(self, config: Config):
        self.config = config
        self.app: App | None = None
        self.mails: JobMails | None = None

    def make(self) -> Flask:
        from releasestation.app import App
        from releasestation.web import create_app, web_parts
        from releasestation.web.gateway_api import gateway_authority

        self.app = App(self.config)
        portal = create_app(
            web_parts(self.app), self.config.web, gateway=gateway_authority(self.app)
        )
        self.mails = job_mails(self.app)
        return portal

    def exit(self, _server: object, _worker: object) -> None:
        if self.mails is not None:
            self.mails.stop()
        if self.app is not None:
            self.app.close()


def job_mails(app: App) -> JobMails | None:
    """With `[web] notify_by_mail`, the job mails of `app`'s portal, started."""
    from releasestation.web.notify import JobMails

    if not app.config.web.notify_by_mail:
        return None
    mails = JobMails(app.store, app.audit, app.directory, app.config.credgen)
    mails.start()
    return mails
