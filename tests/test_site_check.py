# SPDX-License-Identifier: GPL-3.0-or-later
"""`releasestation check` on a station of a site: its secret file must be the site's, the
one whose fingerprint the shared database records (docs/site.md)."""

from __future__ import annotations

import json
import os
import site
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from releasestation.cli import main
from releasestation.printq.checks import remote
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


def test_a_wrong_cups_password_fails_check_at_once(tmp_path, db_url, cupsd, cups_clean, capsys):
    """cupsd refuses the station's password: libcups would ask for it again for ever (two
    seconds a try); the station gives it once, so check fails in seconds and says why."""
    front = StallingProxy(cupsd.socket)  # cupsd over TCP: Basic auth, no PeerCred
    try:
        root = tmp_path / "north"
        root.mkdir()
        path = root / "releasestation.ini"
        cups = f"server = {front.address}\nuser = releasestation\npassword = Pa55-nope-77\n"
        path.write_text(station_ini(db_url, root, cupsd, station="name = north\n", cups=cups))
        assert main(["--config", str(path), "db", "upgrade"]) == 0
        started = time.monotonic()
        code, out = check(capsys, path)
        assert time.monotonic() - started < 30
        assert code == 1 and "FAIL  cupsd, hold queues and policy" in out
        assert "cupsd did not accept the station's account: [cups] user and password" in out
        assert "Pa55-nope-77" not in out
        assert "SystemGroup" not in out, "who runs the check is not what is wrong"
    finally:
        front.close()


def test_which_cupsd_is_on_another_host():
    assert not remote("/run/cups/cups.sock")
    for local in ("localhost:631", "127.0.0.1", "127.0.1.1:631", "127.0.0.2", "[::1]:631",
                  "[::ffff:127.0.0.1]:631", "[0:0:0:0:0:0:0:1]", socket.gethostname()):  # fmt: skip
        assert not remote(local), local
    own = outward_address()
    if own is not None:
        assert not remote(f"{own}:631"), "this machine's own address"
    assert remote("198.51.100.7:631") and remote("[2001:db8::7]:631")  # nobody's here


LP_CHECK = """
import json, sys
import releasestation.printq.checks as checks
from releasestation.config import CupsSettings
from releasestation.printq import PrintServer

server = PrintServer(CupsSettings(server=sys.argv[1], timeout_seconds=5))  # lp, by PeerCred
said = {"local": server.check(["Secure"])}
checks.remote = lambda address: True  # as if this cupsd were another host's
said["remote"] = server.check(["Secure"])
print(json.dumps({k: [[type(p).__name__, str(p)] for p in v] for k, v in said.items()}))
"""


def test_a_central_cupsd_refusing_its_cupsd_conf_is_a_warning(cupsd, cups_clean):
    """The station's account is known to cupsd but not in its SystemGroup: cupsd answers
    403 for its cupsd.conf. For a cupsd on another host that is a warning (verify the
    policy there); for this machine's, a failure. Run as lp, whose PeerCred cupsd takes."""
    if os.geteuid() != 0:
        pytest.skip("runs the check as lp: needs root")
    version = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    if version != str(sys.version_info[:2]):
        pytest.skip("the system's python3 is not this one's version: lp cannot use its modules")
    root = Path(__file__).resolve().parents[1]
    path = ":".join([str(root), *site.getsitepackages()])
    done = subprocess.run(
        ["runuser", "-u", "lp", "--", "env", f"PYTHONPATH={path}", "/usr/bin/python3", "-I",
         "-c", "import sys; sys.path[:0] = sys.argv[2].split(':'); exec(sys.argv[3])",
         cupsd.socket, path, LP_CHECK],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    said = json.loads(done.stdout.splitlines()[-1])
    [(kind, text)] = said["local"]
    assert kind == "str" and "cannot read cupsd.conf" in text and "403" in text
    assert text.endswith("run the check as a member of cupsd's SystemGroup")
    [(kind, text)] = said["remote"]
    assert (
        kind == "Unverified" and "not verified" in text and "verify it on the print server" in text
    )
