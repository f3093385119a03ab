# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation check` on a station of a site: its secret file must be the site's, the
one whose fingerprint the shared database records (docs/site.md)."""

from __future__ import annotations

import socket

import pytest

from releasestation.cli import main
from tests.fixtures.cupsd_proxy import StallingProxy
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


def outward_address() -> str | None:
    """This machine's IPv4 address on its default route (no packet is sent), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            return str(probe.getsockname()[0])
        except OSError:
            return None


def test_a_cupsd_on_another_host_is_checked_but_its_policy_verified_there(
    tmp_path, db_url, cupsd, cups_clean, capsys
):
    """A central cupsd: the station's account may not read its cupsd.conf (that is for
    cupsd's SystemGroup), so the policy cannot be verified from the station. check says so
    as a warning and passes (the unit's ExecStartPre runs it); queues are still checked."""
    host = outward_address()
    if host is None or host.startswith("127."):
        pytest.skip("this machine has no address but loopback")
    front = StallingProxy(cupsd.socket, host=host)  # cupsd "on another host"
    try:
        root = tmp_path / "north"
        root.mkdir()
        path = root / "releasestation.ini"
        cups = f"server = {front.address}\nuser = releasestation\n"
        path.write_text(station_ini(db_url, root, cupsd, station="name = north\n", cups=cups))
        assert main(["--config", str(path), "db", "upgrade"]) == 0
        code, out = check(capsys, path)
        assert code == 0, out
        assert "warn  cupsd, hold queues and policy" in out
        assert f"policy releasestation of cupsd at {front.address} not verified" in out
        assert "verify it on the print server, as root there: releasestation check" in out

        broken = station_ini(db_url, root, cupsd, station="name = north\nhold_queues = Gone\n",
                             cups=cups)  # fmt: skip
        path.write_text(broken)
        code, out = check(capsys, path)
        assert code == 1 and "FAIL  cupsd, hold queues and policy" in out
        assert "hold queue 'Gone' does not exist" in out
    finally:
        front.close()
