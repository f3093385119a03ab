# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation check` on a station of a site: its secret file must be the site's, the
one whose fingerprint the shared database records (docs/site.md)."""

from __future__ import annotations

from releasestation.cli import main
from tests.fixtures.station import station_ini


def station_file(root, db_url, cupsd, name: str):
    root.mkdir()
    path = root / "releasestation.ini"
    path.write_text(station_ini(db_url, root, cupsd, station=f"name = {name}\n"))
    return path


def check(capsys, path) -> tuple[int, str]:
    code = main(["--config", str(path), "check"])
    return code, capsys.readouterr().out


def test_check_says_whether_a_station_holds_the_site_s_secret(
    tmp_path, db_url, cupsd, cups_clean, capsys
):
    first = station_file(tmp_path / "first", db_url, cupsd, "north")
    assert main(["--config", str(first), "db", "upgrade"]) == 0  # records its fingerprint
    code, out = check(capsys, first)
    assert code == 0, out
    assert "ok    secret file" in out and "the site's" in out

    copied = station_file(tmp_path / "copied", db_url, cupsd, "south")
    (tmp_path / "copied" / "secret").write_bytes((tmp_path / "first" / "secret").read_bytes())
    (tmp_path / "copied" / "secret").chmod(0o600)
    code, out = check(capsys, copied)
    assert code == 0, out
    assert out.count("the site's") == 1

    fresh = station_file(tmp_path / "fresh", db_url, cupsd, "east")
    (tmp_path / "fresh" / "secret").write_text("ab" * 32 + "\n")
    (tmp_path / "fresh" / "secret").chmod(0o600)
    code, out = check(capsys, fresh)
    assert code == 1
    assert "FAIL  secret file" in out
    assert "stations sharing a database must share one secret file" in out
