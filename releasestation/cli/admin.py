# SPDX-License-Identifier: GPL-3.0-or-later
"""Admin commands: held jobs, admin release, local users and their web portal passwords,
card assignments, the database."""

from __future__ import annotations

import argparse
import logging
import time

from releasestation.app import App
from releasestation.audit import Event
from releasestation.cli import FAILED, OK
from releasestation.cli.common import load_app, new_password, secret_arg, table
from releasestation.credentials import passwords
from releasestation.directory import User
from releasestation.errors import PrintServerError, ReleaseStationError
from releasestation.store import users as store_users
from releasestation.store.models import User as UserRow

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser("jobs", help="list held jobs on the hold queues (of one user)")
    p.add_argument("user", nargs="?")
    p.add_argument(
        "--stuck",
        action="store_true",
        help="list jobs processing longer than [monitoring] stuck_after_seconds instead",
    )
    p.add_argument("--cancel", type=int, metavar="JOB", help="cancel one stuck job (audited)")
    p.set_defaults(handler=cmd_jobs)

    p = sub.add_parser("release", help="release a user's held jobs now (audited)")
    p.add_argument("user")
    p.set_defaults(handler=cmd_release)

    user = sub.add_parser("user", help="local users").add_subparsers(dest="action", required=True)
    p = user.add_parser("add", help="add a local user")
    p.add_argument("username")
    p.add_argument("--email", default="")
    p.add_argument("--name", default="", help="display name")
    p.add_argument("--cost-center")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="give the user a web portal password, read from stdin (asked on a terminal)",
    )
    p.set_defaults(handler=cmd_user_add)
    p = user.add_parser("set", help="change a local user's e-mail, display name or cost center")
    p.add_argument("username")
    p.add_argument("--email", help="'' removes it")
    p.add_argument("--name", help="display name")
    p.add_argument("--cost-center", help="'' removes it")
    p.set_defaults(handler=cmd_user_set)
    p = user.add_parser(
        "passwd", help="set a local user's web portal password (read from stdin or asked)"
    )
    p.add_argument("username")
    p.add_argument("--remove", action="store_true", help="take the password away instead")
    p.set_defaults(handler=cmd_user_passwd)
    p = user.add_parser("list", help="list local and visitor users")
    p.set_defaults(handler=cmd_user_list)
    p = user.add_parser("remove", help="remove a local user and their cards")
    p.add_argument("username")
    p.set_defaults(handler=cmd_user_remove)

    card = sub.add_parser("card", help="card assignments").add_subparsers(
        dest="action", required=True
    )
    p = card.add_parser("add", help="bind a card to a user (CARD '-' reads it from stdin)")
    p.add_argument("user")
    p.add_argument("card")
    p.set_defaults(handler=cmd_card_add)
    p = card.add_parser("list", help="list card assignments (last digits only)")
    p.add_argument("user", nargs="?")
    p.set_defaults(handler=cmd_card_list)
    p = card.add_parser("remove", help="unbind a card (CARD '-' reads it from stdin)")
    p.add_argument("card")
    p.set_defaults(handler=cmd_card_remove)

    db = sub.add_parser("db", help="the database").add_subparsers(dest="action", required=True)
    p = db.add_parser("upgrade", help="create or migrate the tables")
    p.set_defaults(handler=cmd_db_upgrade)


def cmd_jobs(args: argparse.Namespace) -> int:
    app = load_app(args)
    if args.stuck or args.cancel is not None:
        return _stuck_jobs(app, args.cancel)
    queues = app.config.station.hold_queues
    jobs = app.releaser.held_jobs_for(args.user) if args.user else app.printq.held_jobs(queues)
    rows = [
        (
            j.id,
            j.owner,
            j.queue,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(j.created)),
            j.title,
        )
        for j in sorted(jobs, key=lambda j: j.id)
    ]
    print(table(rows, ("job", "owner", "queue", "submitted", "title")))
    return OK


def _stuck_jobs(app: App, cancel: int | None) -> int:
    """Jobs processing for longer than stuck_after_seconds; `cancel` one of them (audited)."""
    snap = app.probe.snapshot(fresh=True)
    if not snap.cupsd.ok:
        raise PrintServerError(f"cupsd: {snap.cupsd.detail}")
    if cancel is None:
        rows = [
            (j.id, j.owner, j.queue, time.strftime("%Y-%m-%d %H:%M", time.localtime(j.started)),
             f"{(snap.at - j.started) / 60:.0f}")
            for j in snap.stuck
        ]  # fmt: skip
        print(table(rows, ("job", "owner", "queue", "processing since", "minutes")))
        return OK
    job = next((j for j in snap.stuck if j.id == cancel), None)
    if job is None:
        print(f"job {cancel} is not stuck (see `releasestation jobs --stuck`)")
        return FAILED
    app.printq.cancel(job.id)
    minutes = (snap.at - job.started) / 60
    app.audit.record(
        Event(
            "cancel",
            "ok",
            "admin",
            job.owner,
            queue=job.queue,
            job_id=job.id,
            detail=f"stuck: processing for {minutes:.0f} min",
        )
    )
    print(f"cancelled job {job.id} ({job.queue})")
    return OK


def cmd_release(args: argparse.Namespace) -> int:
    app = load_app(args)
    user = app.directory.user_by_name(args.user) or User(args.user, source="admin")
    outcome = app.releaser.release_user_jobs(user, "admin", reader=None)
    if outcome.refused:
        print(f"nothing released: {outcome.refused}")
        return FAILED
    for job in outcome.released:
        print(f"released job {job.id} ({job.queue})")
    for job, why in outcome.failed:
        print(f"FAILED job {job.id}: {why}")
    if not outcome.released and not outcome.failed:
        print(f"{args.user} has no held jobs")
    return FAILED if outcome.failed else OK


def cmd_user_add(args: argparse.Namespace) -> int:
    app = load_app(args)
    password_hash = _new_password_hash(app) if args.password_stdin else None
    fields = {"email": args.email, "display_name": args.name}
    with app.store.write() as session:
        user = store_users.add_user(session, args.username, "local", **fields)
        user.cost_center = args.cost_center
        if password_hash is not None:
            passwords.store_password(session, user, password_hash)
            _audit_password(app, session, user.username, "password-set")
    print(f"added local user {args.username}" + (" with a password" if password_hash else ""))
    return OK


def cmd_user_set(args: argparse.Namespace) -> int:
    """Change what `user add` set, keeping the user's cards, PIN and password."""
    changes = {
        field: value
        for field, value in (
            ("email", args.email),
            ("display_name", args.name),
            ("cost_center", args.cost_center),
        )
        if value is not None
    }
    if not changes:
        raise ReleaseStationError("nothing to change: give --email, --name or --cost-center")
    app = load_app(args)
    with app.store.write() as session:
        user = _local_user(session, args.username, "only local users are changed here")
        for field, value in changes.items():
            value = value.strip()
            setattr(user, field, (value or None) if field == "cost_center" else value)
    print(f"changed {', '.join(changes)} of {args.username}")
    return OK


def cmd_user_passwd(args: argparse.Namespace) -> int:
    app = load_app(args)
    with app.store.read() as session:
        _local_user(session, args.username)
    if args.remove:
        with app.store.write() as session:
            user = _local_user(session, args.username)
            if not passwords.remove_password(session, user):
                raise ReleaseStationError(f"{user.username} has no password")
            _audit_password(app, session, user.username, "password-removed")
        print(f"password removed from {args.username}")
        return OK
    password_hash = _new_password_hash(app)
    with app.store.write() as session:
        user = _local_user(session, args.username)
        passwords.store_password(session, user, password_hash)
        _audit_password(app, session, user.username, "password-set")
    print(f"password set for {user.username}")
    return OK


def _new_password_hash(app: App) -> str:
    """The hash of a password read as `new_password` does, checked first."""
    if app.config.directory.type != "local":
        log.warning(
            "[directory] type = %s: the web portal checks passwords with the directory,"
            " not with the store's",
            app.config.directory.type,
        )
    password = new_password()
    passwords.check_new_password(password)
    return passwords.hash_password(password)


def _local_user(
    session,
    username: str,
    why: str = "only local users have a password here"
    " (directory users log in with the directory's, visitors do not log in)",
) -> UserRow:
    """The store's local user called `username`; ReleaseStationError for anyone else."""
    user = store_users.find_user(session, username)
    if user is None:
        raise ReleaseStationError(f"no user {username!r} in the store")
    if user.source != "local":
        raise ReleaseStationError(f"{user.username} is a {user.source} user: {why}")
    return user


def _audit_password(app: App, session, username: str, outcome: str) -> None:
    app.audit.record_in(session, [Event("credential", outcome, "admin", username)])


def cmd_user_list(args: argparse.Namespace) -> int:
    app = load_app(args)
    with app.store.read() as session:
        rows = [
            (
                u.username,
                u.source,
                u.email,
                u.cost_center,
                len(u.cards),
                "yes" if u.disabled else "",
            )
            for u in store_users.list_users(session)
        ]
    print(table(rows, ("user", "source", "email", "cost center", "cards", "disabled")))
    return OK


def cmd_user_remove(args: argparse.Namespace) -> int:
    app = load_app(args)
    with app.store.write() as session:
        if not store_users.remove_user(session, args.username):
            raise ReleaseStationError(f"no user {args.username!r} in the store")
    print(f"removed {args.username}")
    return OK


def cmd_card_add(args: argparse.Namespace) -> int:
    app = load_app(args)
    number = secret_arg(args.card, "card number: ")
    if not number:
        raise ReleaseStationError("no card number given")
    source = "ldap" if app.config.directory.type == "ldap" else "local"
    found = app.directory.user_by_name(args.user)
    if found is None:
        raise ReleaseStationError(
            f"no user {args.user!r} in the {app.config.directory.type} directory"
        )
    with app.store.write() as session:
        row = store_users.ensure_user(session, found.username, source, email=found.email)
        card = store_users.add_card(session, app.hasher, row, number)
        last = card.last4
    print(f"card ending {last} bound to {found.username}")
    return OK


def cmd_card_list(args: argparse.Namespace) -> int:
    app = load_app(args)
    with app.store.read() as session:
        rows = store_users.list_cards(session, args.user)
    print(
        table([(u, f"…{last}", origin) for u, last, origin in rows], ("user", "card", "bound by"))
    )
    return OK


def cmd_card_remove(args: argparse.Namespace) -> int:
    app = load_app(args)
    number = secret_arg(args.card, "card number: ")
    with app.store.write() as session:
        owner = store_users.remove_card(session, app.hasher, number)
    if owner is None:
        print("that card is not assigned")
        return FAILED
    print(f"card unbound from {owner}")
    return OK


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from releasestation.store.migrate import current

    app = load_app(args)
    before = current(app.store.engine)
    app.store.upgrade()
    app.record_secret()
    after = current(app.store.engine)
    now = ", ".join(sorted(after))
    if before == after:
        print(f"database is up to date (at {now})")
    elif not before:
        print(f"database created (at {now})")
    else:
        print(f"database upgraded from {', '.join(sorted(before))} to {now}")
    return OK
