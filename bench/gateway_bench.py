# SPDX-License-Identifier: GPL-3.0-or-later
"""The print gateway's cost per job: the time `printmanager` adds, and its memory.

Runs the installed `printmanager` backend exactly as cupsd runs a backend (argv, the
environment, the job's file, `DEVICE_URI=printmanager:null:/`) wrapping `null`, a shell
backend that reads the job and ends, and, alternately, `null` alone. The API is on
loopback: the station's own (`--api station`: the real Flask blueprint served by werkzeug's
threaded server, on a SQLite store with one local user, so every job also writes its
allowed and printed audit rows) or a stand-in that answers 200 at once (`--api stand-in`,
the gateway's own cost without the API's work). Reported: p50 / p99 / max of the wall time
of each, the added time (wrapped minus alone, per pair), the two API calls alone made
from the bench's own process (so without the interpreter's start), and the gateway's peak
resident memory (VmHWM, read while the real backend runs).

    python -m bench.gateway_bench [--jobs 300] [--api station|stand-in] [--python PATH]

The figures move with what else runs on the machine (say so when quoting them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from releasestation.gateway.install import install

TOKEN = "bench-token-0123456789abcdef"
NULL_BACKEND = """#!/bin/sh
if [ $# -eq 0 ]; then echo 'direct null "Unknown" "bench null backend"'; exit 0; fi
if [ $# -ge 6 ]; then cat -- "$6" >/dev/null; else cat >/dev/null; fi
echo "PAGE: 1 1" >&2
case "$DEVICE_URI" in *slow) sleep 0.2 ;; esac
exit 0
"""


def stand_in() -> str:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps({"decision": "print"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/api"


def station_api(root: Path, token_file: Path) -> str:
    import logging

    from werkzeug.serving import make_server

    from releasestation import config as config_mod
    from releasestation.app import App
    from releasestation.store import users as store_users
    from releasestation.web import create_app, web_parts
    from releasestation.web.gateway_api import gateway_authority

    text = (
        f"[station]\nname = bench\nhold_queues = Secure\nsecret_file = {root}/secret\n"
        f"[database]\nurl = sqlite:///{root}/station.db\n[directory]\ntype = local\n"
        f"[monitoring]\nlisten =\n[gateway]\napi_token_file = {token_file}\n"
        "quota_pages = 1000000\n"
    )
    app = App(config_mod.parse_text(text))
    app.store.upgrade()
    app.hasher  # noqa: B018 - creates the site secret
    with app.store.write() as session:
        store_users.add_user(session, "benchuser", "local").cost_center = "bench"
    flask = create_app(web_parts(app), app.config.web, gateway=gateway_authority(app))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, flask, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/api/v1/gateway"


def run(backend: Path, device_uri: str, job: int, document: Path, env: dict[str, str]):
    """(seconds, exit code) of one backend run, as cupsd starts it."""
    argv = [device_uri, str(job), "benchuser", "bench", "1",
            f"job-uuid=urn:uuid:{job:08d}-bench", str(document)]  # fmt: skip
    began = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        executable=str(backend),
        env=env | {"DEVICE_URI": device_uri},
        stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    code = proc.wait()
    return time.perf_counter() - began, code


def peak_rss(backend: Path, device_uri: str, document: Path, env: dict[str, str]) -> int:
    """The gateway's VmHWM (kB), read while the real backend runs (`null:/slow` takes
    0.2 s), after the authorize call; wait4's ru_maxrss would count this process's memory,
    which the child shares until it execs."""
    argv = [device_uri, "1", "benchuser", "bench", "1", "job-uuid=urn:uuid:rss", str(document)]
    proc = subprocess.Popen(argv, executable=str(backend), env=env | {"DEVICE_URI": device_uri},
                            stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            break
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
        time.sleep(0.005)
    return peak


def api_round_trips(endpoint: str, token: Path, jobs: int) -> list[float]:
    """Seconds for authorize + complete from this process (the API's part of the cost,
    without the interpreter's start)."""
    from releasestation.gateway.client import ApiClient
    from releasestation.gateway.settings import GatewaySettings

    client = ApiClient(GatewaySettings(endpoint=endpoint, token_file=str(token)))
    times = []
    for n in range(jobs):
        job = {"id": 100000 + n, "uuid": f"urn:uuid:{n}", "user": "benchuser", "title": "b"}
        began = time.perf_counter()
        client.authorize({"job": job, "queue": {"name": "Bench"}, "device": {}})
        client.complete({"job": job, "queue": {"name": "Bench"}, "printed": True, "pages": 1})
        times.append(time.perf_counter() - began)
    return times


def figures(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"p50 {statistics.median(ordered) * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms  "
            f"max {ordered[-1] * 1000:6.1f} ms")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--api", choices=("station", "stand-in"), default="station")
    parser.add_argument("--python", default="/usr/bin/python3")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rs-gateway-bench-") as tmp:
        root = Path(tmp)
        (root / "bin" / "backend").mkdir(parents=True)
        null = root / "bin" / "backend" / "null"
        null.write_text(NULL_BACKEND)
        os.chmod(null, 0o755)
        install(str(root / "bin"), python=args.python, mode=0o755)
        token = root / "token"
        token.write_text(TOKEN + "\n")
        os.chmod(token, 0o600)
        endpoint = stand_in() if args.api == "stand-in" else station_api(root, token)
        ini = root / "releasestation.ini"
        ini.write_text(f"[gateway]\nendpoint = {endpoint}\ntoken_file = {token}\ntimeout = 5\n")
        document = root / "job.prn"
        document.write_bytes(b"%!PS-Adobe-3.0\nshowpage\n" * 40)
        env = {"PATH": "/usr/bin:/bin", "CUPS_SERVERBIN": str(root / "bin"), "LANG": "C.UTF-8",
               "RELEASESTATION_CONFIG": str(ini), "PRINTER": "Bench"}  # fmt: skip
        gateway = root / "bin" / "backend" / "printmanager"
        alone, wrapped, added = [], [], []
        for job in range(-5, args.jobs):  # five rounds to warm up
            t_alone, code_a = run(null, "null:/", job + 10, document, env)
            t_wrapped, code_w = run(gateway, "printmanager:null:/", job + 10, document, env)
            if code_a or code_w:
                print(f"job {job}: exit codes {code_a} (alone), {code_w} (wrapped)")
                return 1
            if job >= 0:
                alone.append(t_alone)
                wrapped.append(t_wrapped)
                added.append(t_wrapped - t_alone)
        calls = api_round_trips(endpoint, token, args.jobs)
        bare = []
        for _ in range(min(args.jobs, 100)):
            began = time.perf_counter()
            subprocess.run([args.python, "-I", "-c", "pass"], check=True)
            bare.append(time.perf_counter() - began)
        peaks = [peak_rss(gateway, "printmanager:null:/slow", document, env) for _ in range(10)]
        print(f"{args.jobs} jobs, API: {args.api} on loopback, interpreter {args.python}")
        print(f"real backend alone     {figures(alone)}")
        print(f"through printmanager   {figures(wrapped)}")
        print(f"added per job          {figures(added)}")
        print(f"of which the API calls {figures(calls)}  (authorize + complete, in-process)")
        print(f"python3 -I -c pass     {figures(bare)}  (the interpreter's start alone)")
        print(f"gateway peak RSS       {statistics.median(peaks) / 1024:.1f} MiB p50, "
              f"{max(peaks) / 1024:.1f} MiB max")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
