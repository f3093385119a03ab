# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped cupsd policy: its text, how check() judges policies, and a spoofed release.

The spoof tests run a real unprivileged OS user's `lp -i N -H resume` claiming to be the
job's owner: it must fail on the shipped policy and succeed on CUPS's stock default (which
is what proves the test can fail).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from releasestation.config import CupsSettings
from releasestation.demo.private_cups import PrivateCups
from releasestation.demo.private_setup import stock_default_policy
from releasestation.printq import PrintServer, render_policy, shipped_policy
from releasestation.printq.checks import crashing_version, installed_cupsd_version
from releasestation.printq.policy import (
    RELEASE_OPS,
    STATION_TOKEN,
    Station,
    main,
    parse_policies,
    policy_problems,
)
from tests.fixtures.cupsd import spoof_release

ROOT = Station("root", frozenset({"root"}), system=True)
STATION = Station("releasestation", frozenset({"releasestation"}))


def test_shipped_policy_has_one_token_and_renders():
    text = shipped_policy()
    assert STATION_TOKEN in text
    rendered = render_policy("releasestation")
    assert STATION_TOKEN not in rendered
    assert rendered == text.replace(STATION_TOKEN, "releasestation")


@pytest.mark.parametrize("bad", ["", "two words", "x>y", "</Policy>", "a\nb", "@group"])
def test_render_policy_refuses_unusable_account_names(bad):
    with pytest.raises(ValueError):
        render_policy(bad)


def test_policy_module_prints_the_rendered_policy(capsys):
    assert main(["printstation"]) == 0
    assert capsys.readouterr().out == render_policy("printstation")
    with pytest.raises(SystemExit):
        main(["bad name"])


def test_shipped_policy_passes_for_its_station_only():
    policy = parse_policies(render_policy("releasestation"))["releasestation"]
    assert policy_problems(policy, STATION) == []
    other = Station("mallory", frozenset({"mallory"}))
    problems = policy_problems(policy, other)
    assert len([p for p in problems if "may not do it" in p]) == len(RELEASE_OPS)
    assert any("hides job-originating-user-name" in p for p in problems)


def test_stock_default_policy_lets_anyone_release():
    policy = parse_policies(stock_default_policy())["default"]
    problems = policy_problems(policy, ROOT)
    assert len(problems) == len(RELEASE_OPS)
    assert all("no AuthType" in p for p in problems)


def conf(limits: str, private: str = "") -> str:
    return f"<Policy p>\n{private}\n{limits}\n<Limit All>\nOrder deny,allow\n</Limit>\n</Policy>\n"


ALL_OPS = " ".join(RELEASE_OPS)


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        (f"<Limit {ALL_OPS}>\nAuthType Default\nRequire user releasestation\n</Limit>", None),
        (
            f"<Limit {ALL_OPS}>\nAuthType Default\nRequire user @SYSTEM releasestation\n</Limit>",
            None,
        ),
        (f"<Limit {ALL_OPS}>\nRequire user releasestation\n</Limit>", "no AuthType"),
        (f"<Limit {ALL_OPS}>\nAuthType None\nRequire user releasestation\n</Limit>", "no AuthType"),
        (f"<Limit {ALL_OPS}>\nAuthType Default\nRequire valid-user\n</Limit>", "valid-user"),
        (f"<Limit {ALL_OPS}>\nAuthType Default\n</Limit>", "no Require"),
        (
            f"<Limit {ALL_OPS}>\nAuthType Default\nRequire user @OWNER releasestation\n</Limit>",
            "admits @OWNER",
        ),
        (f"<Limit {ALL_OPS}>\nAuthType Basic\nRequire user @staff\n</Limit>", "may not do it"),
        (
            f"<Limit {ALL_OPS}>\nAuthType Basic\nRequire user releasestation @staff\n</Limit>",
            "admits @staff",
        ),
        ("# no limit for them at all: <Limit All> applies", "no AuthType"),
        (
            "<LimitExcept Get-Jobs>\nAuthType Default\nRequire user releasestation\n</LimitExcept>",
            None,
        ),
        (
            f"<LimitExcept {ALL_OPS}>\nAuthType Default\nRequire user releasestation\n"
            "</LimitExcept>",
            "no AuthType",
        ),
    ],
)
def test_release_limits(limits, expected):
    policy = parse_policies(conf(limits, "JobPrivateValues none"))["p"]
    problems = policy_problems(policy, STATION)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == len(RELEASE_OPS)
        assert all(expected in p for p in problems), problems


def test_one_weak_operation_is_named():
    limits = (
        "<Limit Release-Job Set-Job-Attributes Restart-Job>\nAuthType Default\n"
        "Require user releasestation\n</Limit>\n<Limit CUPS-Move-Job>\n"
        "Require user @OWNER @SYSTEM\n</Limit>"
    )
    problems = policy_problems(parse_policies(conf(limits, "JobPrivateValues none"))["p"], STATION)
    assert len(problems) == 1 and "CUPS-Move-Job" in problems[0]


@pytest.mark.parametrize(
    ("private", "hidden"),
    [
        ("", True),  # defaults: @OWNER @SYSTEM may see job-name / job-originating-user-name
        ("JobPrivateAccess default\nJobPrivateValues default", True),
        ("JobPrivateAccess @OWNER @SYSTEM releasestation\nJobPrivateValues default", False),
        ("JobPrivateAccess all\nJobPrivateValues default", False),
        ("JobPrivateAccess @OWNER @releasestation\nJobPrivateValues default", False),
        ("JobPrivateAccess @OWNER\nJobPrivateValues none", False),
        ("JobPrivateAccess @OWNER\nJobPrivateValues phone", False),
        ("JobPrivateAccess @OWNER\nJobPrivateValues job-name", True),
    ],
)
def test_private_values_hidden_from_station(private, hidden):
    limits = f"<Limit {ALL_OPS}>\nAuthType Default\nRequire user releasestation\n</Limit>"
    problems = policy_problems(parse_policies(conf(limits, private))["p"], STATION)
    assert bool(problems) == hidden, problems


def test_system_group_covers_a_root_station_only():
    private = "JobPrivateAccess @OWNER @SYSTEM\nJobPrivateValues default"
    limits = f"<Limit {ALL_OPS}>\nAuthType Default\nRequire user @SYSTEM\n</Limit>"
    policy = parse_policies(conf(limits, private))["p"]
    assert policy_problems(policy, ROOT) == []
    assert len(policy_problems(policy, STATION)) == len(RELEASE_OPS) + 1


def test_comments_and_other_policies_are_ignored():
    text = (
        "# <Policy fake>\nLogLevel warn\n<Location />\nOrder allow,deny\n</Location>\n"
        + stock_default_policy()
        + render_policy("releasestation")
    )
    policies = parse_policies(text)
    assert sorted(policies) == ["default", "releasestation"]


# -- against cupsd -------------------------------------------------------------------------


def test_private_cupsd_uses_exactly_the_shipped_policy(cupsd):
    text = (cupsd.root / "conf" / "cupsd.conf").read_text()
    assert render_policy(cupsd.station_user) in text


def test_check_passes_on_the_shipped_policy(cups_clean, print_server):
    cups_clean.submit("alice", "visible to the station")
    assert print_server.check(["Secure", "Secure2"], printer="Lobby") == []


def test_check_fails_on_the_default_policy(cups_default_clean):
    server = PrintServer(CupsSettings(server=cups_default_clean.socket))
    try:
        problems = server.check(["Secure", "Secure2"], printer="Lobby")
    finally:
        server.close()
    released = [p for p in problems if "crashes" not in p]
    assert len(released) == len(RELEASE_OPS)
    for op in RELEASE_OPS:
        assert any(op in p and "policy 'default'" in p for p in released)
    version = installed_cupsd_version()
    hazards = [p for p in problems if "crashes" in p]  # @OWNER without AuthType
    assert len(hazards) == (0 if version and not crashing_version(version) else 1)


def test_check_reports_missing_and_non_holding_queues(cups_clean, print_server):
    problems = print_server.check(["Secure", "Missing", "Lobby"], printer="Gone")
    assert any("'Missing' does not exist" in p for p in problems)
    assert any("'Lobby' does not hold" in p for p in problems)
    assert any("printer 'Gone' does not exist" in p for p in problems)
    assert len(problems) == 3


def test_check_reports_owners_hidden_from_the_station(cupsd):
    # The same cupsd seen by a station account the policy does not name.
    cupsd.reset()
    cupsd.submit("alice", "hidden from others")
    server = PrintServer(CupsSettings(server=cupsd.socket, user="lp"))
    try:
        problems = server.check(["Secure"])
    finally:
        server.close()
        cupsd.reset()
    assert any("without their owner" in p for p in problems), problems
    # lp is no cupsd administrator and this cupsd.conf is not /etc/cups/cupsd.conf:
    # the policy cannot be verified, which is a problem, not a pass.
    assert any("cannot read cupsd.conf" in p for p in problems), problems


def test_check_on_unreachable_cupsd():
    server = PrintServer(CupsSettings(server="/nonexistent/cups.sock", timeout_seconds=1))
    [problem] = server.check(["Secure"])
    assert "unreachable" in problem and "/nonexistent/cups.sock" in problem
    assert problem.count("/nonexistent/cups.sock") == 1, "said once"
    assert "is cupsd running?" in problem


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="runs lp as another OS user")


@needs_root
def test_spoofed_release_fails_on_the_shipped_policy(cups_clean, print_server, spoof_user):
    job_id = cups_clean.submit("alice", "alice's payslip")
    spoof = spoof_release(cups_clean, job_id, as_user=spoof_user, claim_user="alice")
    assert spoof.returncode != 0, spoof
    time.sleep(0.3)
    assert cups_clean.printed() == []
    [job] = print_server.held_jobs_for(["Secure"], ["alice"])
    assert job.id == job_id
    print_server.release(job)  # the station's own release still works
    assert [c.job_id for c in cups_clean.wait_printed(1)] == [job_id]


@needs_root
def test_owner_may_cancel_but_not_release_their_own_job(cups_clean, print_server, spoof_user):
    def as_owner(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", spoof_user, "--", command[0], "-h", cups_clean.socket, *command[1:]],
            input="%!PS\nshowpage\n",
            capture_output=True,
            text=True,
            env=cups_clean.client_env() | {"HOME": "/"},
            start_new_session=True,
            timeout=30,
        )

    submitted = as_owner("lp", "-d", "Secure", "-t", "own job")
    assert submitted.returncode == 0, submitted.stderr
    [job] = print_server.held_jobs_for(["Secure"], [spoof_user])
    assert as_owner("lp", "-i", str(job.id), "-H", "resume").returncode != 0
    time.sleep(0.2)
    assert cups_clean.printed() == []
    assert as_owner("cancel", str(job.id)).returncode == 0
    assert print_server.held_jobs_for(["Secure"], [spoof_user]) == []


@needs_root
def test_spoofed_release_succeeds_on_the_default_policy(cups_default_clean, spoof_user):
    # The owner is a local account: naming a non-local one (a directory user) under the stock
    # policy crashes Debian's cupsd 2.4.2-3+deb12u10 instead (tests/test_cupsd_nonlocal_owners).
    job_id = cups_default_clean.submit("daemon", "payslip")  # no white space: see there
    spoof = spoof_release(cups_default_clean, job_id, as_user=spoof_user, claim_user="daemon")
    assert spoof.returncode == 0, spoof
    assert [c.job_id for c in cups_default_clean.wait_printed(1)] == [job_id]


def test_private_cupsd_refuses_unknown_policy():
    with pytest.raises(ValueError):
        PrivateCups(policy="lenient")


# -- examples/cups/create-hold-queue.sh ----------------------------------------------------

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "cups" / "create-hold-queue.sh"


def run_script(cupsd: PrivateCups, queue: str, *, restart: str = "false", conf: Path | None = None):
    env = cupsd.client_env() | {
        "CUPSD_CONF": str(conf or cupsd.root / "conf" / "cupsd.conf"),
        "RESTART_CUPS": restart,
    }
    args = [str(SCRIPT), queue, f"capture:{cupsd.captures}", cupsd.station_user]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)


def delete_queue(cupsd: PrivateCups, queue: str) -> None:
    subprocess.run(["lpadmin", "-h", cupsd.socket, "-x", queue], env=cupsd.client_env())


def test_example_policy_is_the_shipped_file():
    example = SCRIPT.parent / "cups-policy.conf"
    assert example.read_text() == shipped_policy()


def test_script_creates_a_hold_queue_that_passes_check(cups_clean, print_server):
    done = run_script(cups_clean, "Scripted")
    try:
        assert done.returncode == 0, done.stderr
        assert "added <Policy" not in done.stdout  # the hardened cupsd has it already
        assert print_server.check(["Scripted"]) == []
        job_id = cups_clean.submit("alice", "via the script's queue", queue="Scripted")
        [job] = print_server.held_jobs_for(["Scripted"], ["alice"])
        assert job.id == job_id
    finally:
        delete_queue(cups_clean, "Scripted")


def reload_command(cupsd: PrivateCups) -> str:
    """What `systemctl restart cups` does for the real cupsd: reread cupsd.conf, serve again."""
    pid, sock = cupsd.pid, cupsd.socket
    return (
        f"old=$(stat -c %i {sock}); kill -HUP {pid}; for i in $(seq 200); do "
        f"new=$(stat -c %i {sock} 2>/dev/null || echo gone); "
        f'[ "$new" != gone ] && [ "$new" != "$old" ] && break; sleep 0.05; done'
    )


def test_script_installs_the_policy_where_it_is_missing(cups_default_clean):
    cupsd = cups_default_clean
    conf = cupsd.root / "conf" / "cupsd.conf"
    before = conf.read_text()
    done = run_script(cupsd, "Converted", restart=reload_command(cupsd))
    server = PrintServer(CupsSettings(server=cupsd.socket))
    try:
        assert done.returncode == 0, done.stderr
        assert conf.read_text() == before + "\n" + render_policy(cupsd.station_user)
        assert Path(f"{conf}.before-releasestation").read_text() == before
        assert server.check(["Converted"]) == []
        assert server.check(["Secure"])  # the old queues still use the default policy
    finally:
        server.close()
        delete_queue(cupsd, "Converted")
        conf.write_text(before)
        cupsd.reload()


def test_script_replaces_an_older_releasestation_policy(cups_default_clean):
    """An older shipped policy checked @OWNER without AuthType on Send-Document (which
    crashes Debian's cupsd 2.4.2-3+deb12u10): the script puts the current one in its place."""
    cupsd = cups_default_clean
    conf = cupsd.root / "conf" / "cupsd.conf"
    before = conf.read_text()
    current = render_policy(cupsd.station_user)
    older = current.replace(
        "<Limit Send-Document Send-URI Close-Job>\n",
        "<Limit Send-Document Send-URI Close-Job>\n    Require user @OWNER @SYSTEM\n",
    )
    assert older != current
    conf.write_text(before + "\n" + older + "\nBrowseWebIF No\n")
    try:
        done = run_script(cupsd, "Converted", restart=reload_command(cupsd))
        assert done.returncode == 0, done.stderr
        assert "replaced <Policy releasestation>" in done.stdout
        text = conf.read_text()
        assert text.count("<Policy releasestation>") == 1 and current in text
        assert "BrowseWebIF No" in text and text.startswith(before)
        assert parse_policies(text)["releasestation"].limit_for("Send-Document").require is None
        again = run_script(cupsd, "Converted")
        assert again.returncode == 0 and "<Policy releasestation>" not in again.stdout
    finally:
        delete_queue(cupsd, "Converted")
        conf.write_text(before)
        cupsd.reload()


def test_script_refuses_bad_arguments(cups_clean):
    assert run_script(cups_clean, "bad name").returncode != 0
    done = subprocess.run([str(SCRIPT), "Q"], capture_output=True, text=True)
    assert done.returncode != 0 and "usage" in done.stderr
