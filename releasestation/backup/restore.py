# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation restore`: an archive put back onto an empty or new station.

Everything is checked before anything is written: every member's checksum; that the
archive's secret is the one its store was set up with (its fingerprint, read from the
archived store itself and from the manifest, which must agree); that the store to restore
onto holds no data, the secret file is absent or the same, and the config file is absent
(a different existing config is kept, and then says where the secret and the store go).
`force` replaces a store with data and a different secret file (which is kept beside, as
`NAME.replaced-TIME`) and the config. `skip_store` restores only the files, onto a station
whose store survived (a site's shared PostgreSQL); the store's recorded fingerprint must
then match the archive's secret.

Then the store is put back and migrated to the current schema, the files and the config
are written, and the lines returned say what was restored.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from releasestation import config as config_mod
from releasestation.backup import archive, files, store_copy
from releasestation.backup.make import CONFIG_MEMBER, secret_value
from releasestation.config import Config
from releasestation.errors import BackupError
from releasestation.secret import fingerprint
from releasestation.store import Store, migrate, site
from releasestation.store.models import utcnow

SECRET_KEY = ("station", "secret_file")


def restore_backup(
    path: Path,
    passphrase: bytes | None,
    config_path: str,
    force: bool = False,
    skip_store: bool = False,
    clock=utcnow,
) -> list[str]:
    """Restore `path`; what was restored, one line each. BackupError (nothing written)
    when the archive or the station is not fit for it."""
    with tempfile.TemporaryDirectory(prefix="releasestation-restore-") as tmp:
        manifest, staged = archive.read(path, passphrase, Path(tmp))
        stamp = clock().strftime("%Y%m%dT%H%M%SZ")
        return _Restore(manifest, staged, Path(config_path), force, skip_store, stamp).run()


class _Restore:
    def __init__(self, manifest, staged, config_path: Path, force, skip_store, stamp: str):
        self.manifest: dict[str, Any] = manifest
        self.staged: dict[str, Path] = staged
        self.config_path = config_path.absolute()
        self.force = force
        self.skip_store = skip_store
        self.stamp = stamp
        self.problems: list[str] = []
        self.report: list[str] = []

    def run(self) -> list[str]:
        secret = self._secret()
        self._check_archive_secret(secret)
        text, config_action = self._config_text()
        config = config_mod.parse_text(text, str(self.config_path))
        writes = self._plan_files(config, text)
        store = Store(config.database.url, busy_timeout=config.database.busy_timeout_seconds)
        try:
            with store_copy.database_errors(store):
                self._check_store(store, secret, config)
                if self.problems and config_action == "kept":
                    self.problems.append(self._what_force_does())
                if self.problems:
                    raise BackupError("nothing restored:\n  " + "\n  ".join(self.problems))
                if not self.skip_store:
                    self._put_back_store(store)
                for entry, where, data in writes:
                    self._write(entry, where, data)
                self._write_config(text, config_action)
                if secret is not None and _has_tables(store):
                    site.record_secret(store, secret, config.station.secret_file)
        finally:
            store.close()
        return self.report

    # -- checks --------------------------------------------------------------------------
    def _secret(self) -> bytes | None:
        entry = self._entry(SECRET_KEY)
        if entry is None:
            return None
        return secret_value(self.staged[entry["member"]].read_bytes())

    def _entry(self, key: tuple[str, str]) -> dict[str, Any] | None:
        for entry in self.manifest.get("files", []):
            if (entry.get("section"), entry.get("key")) == key:
                if entry.get("member") not in self.staged:
                    raise BackupError(f"the manifest names a file the archive lacks: {key}")
                return entry
        return None

    def _check_archive_secret(self, secret: bytes | None) -> None:
        store_manifest = self.manifest["store"]
        recorded = store_copy.recorded_fingerprint(store_manifest, self.staged)
        if recorded != self.manifest.get("secret_fingerprint"):
            raise BackupError(
                "the manifest and the archived store disagree about the secret's fingerprint"
                " (the archive was altered)"
            )
        if recorded is None:
            return
        if secret is None:
            raise BackupError(
                "the archive holds no site secret, and its store was set up with one: its "
                "cards and PINs could never match again"
            )
        if fingerprint(secret) != recorded:
            raise BackupError(
                "refused: the archive's site secret is not the one its store was set up with "
                "(its fingerprint differs): its cards and PINs would match nothing"
            )

    def _config_text(self) -> tuple[str, str]:
        archived = self.staged[CONFIG_MEMBER].read_text(encoding="utf-8")
        if not self.config_path.exists():
            return archived, "restored"
        existing = self.config_path.read_text(encoding="utf-8")
        if existing == archived:
            return archived, "unchanged"
        if self.force:
            return archived, "replaced"
        return existing, "kept"

    def _plan_files(self, config: Config, text: str) -> list[tuple[dict[str, Any], Path, bytes]]:
        where_now = {(f.section, f.key): f.path for f in files.named_files(config, text)}
        writes = []
        for entry in self.manifest.get("files", []):
            key = (entry["section"], entry["key"])
            self._entry(key)  # the member is there
            label = f"[{key[0]}] {key[1]}"
            if key not in where_now:
                self.report.append(f"{label}: not restored, the config at {self.config_path} "
                                   "names no such file")  # fmt: skip
                continue
            where, data = Path(where_now[key]), self.staged[entry["member"]].read_bytes()
            if where.exists() and files.same_content(where, data):
                self.report.append(f"{label}: {where} unchanged")
                continue
            if where.exists() and not self.force:
                if key == SECRET_KEY:
                    self.problems.append(
                        f"{label}: {where} exists and is another secret; --force replaces "
                        f"it (kept beside as {where.name}.replaced-TIME)"
                    )
                else:
                    self.report.append(f"{label}: {where} kept (it differs; --force replaces it)")
                continue
            writes.append((entry, where, data))
        return writes

    def _check_store(self, store: Store, secret: bytes | None, config: Config) -> None:
        url = _safe(config.database.url)
        if self.skip_store:
            recorded = site.recorded_fingerprint(store) if _has_tables(store) else None
            if recorded is not None and secret is not None and fingerprint(secret) != recorded:
                self.problems.append(
                    f"the store at {url} was set up with another secret than the archive's"
                )
            return
        try:
            store_copy.check_kind(self.manifest["store"], store)
        except BackupError as exc:
            self.problems.append(str(exc))
            return
        if not store_copy.has_data(store):
            return
        if self.force:
            self.report.append(f"store: the data that was at {url} is replaced (--force)")
            return
        self.problems.append(
            f"the store at {url} already holds data: restore onto an empty store, "
            "--force replaces it, --skip-store keeps it and restores only the files"
        )

    def _what_force_does(self) -> str:
        """What --force would do beyond the problems listed: the archive's config replaces
        the one kept, and then says which store is restored onto and where files go."""
        archived = self.staged[CONFIG_MEMBER].read_text(encoding="utf-8")
        theirs = config_mod.parse_text(archived, str(self.config_path))
        return (
            f"config: {self.config_path} is not the archive's and was read instead of it; "
            "--force replaces it with the archive's, and then restores onto the store at "
            f"{_safe(theirs.database.url)} (replacing any data there) and writes the site "
            f"secret to {theirs.station.secret_file}"
        )

    # -- writing -------------------------------------------------------------------------
    def _put_back_store(self, store: Store) -> None:
        store_manifest = self.manifest["store"]
        moved = store_manifest["kind"] != store_copy.kind_of(store)
        store_copy.put_back(store_manifest, self.staged, store)
        if store.is_sqlite:
            self._own_sqlite(store, store_manifest.get("file", {}))
        rows = sum(t["rows"] for t in store_manifest["tables"].values())
        now = ", ".join(sorted(migrate.current(store.engine)))
        self.report.append(
            f"store: {rows:,} rows in {len(store_manifest['tables'])} tables onto "
            f"{_safe(store.url)} (made at revision {', '.join(store_manifest['revisions'])}; "
            f"now {now})" + (f", moved from {store_manifest['kind']}" if moved else "")
        )

    def _own_sqlite(self, store: Store, entry: dict[str, Any]) -> None:
        store.engine.dispose()
        path = store_copy.sqlite_path(store)
        mode = int(entry.get("mode", "0600"), 8) & 0o660
        for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if each.exists():
                each.chmod(mode)
                self._note(files.give_owner(each, entry))

    def _write(self, entry: dict[str, Any], where: Path, data: bytes) -> None:
        label = f"[{entry['section']}] {entry['key']}"
        replaced = where.exists()
        if replaced and (entry["section"], entry["key"]) == SECRET_KEY:
            aside = files.keep_aside(where, self.stamp)
            self.report.append(f"{label}: the secret that was at {where} is kept as {aside}")
        mode = files.mode_for(entry)
        self._note(files.write_file(where, data, mode, entry))
        done = "replaced" if replaced else "restored"
        self.report.append(f"{label}: {where} {done} ({mode:04o})")

    def _write_config(self, text: str, action: str) -> None:
        if action in ("restored", "replaced"):
            entry = self.manifest["config"]
            mode = int(entry.get("mode", "0600"), 8) & 0o640
            if action == "replaced":
                files.keep_aside(self.config_path, self.stamp)
            self._note(files.write_file(self.config_path, text.encode("utf-8"), mode, entry))
        self.report.append(f"config: {self.config_path} {action}")

    def _note(self, note: str | None) -> None:
        if note:
            self.report.append(note)


def _has_tables(store: Store) -> bool:
    return bool(migrate.current(store.engine))


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
