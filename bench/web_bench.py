# SPDX-License-Identifier: GPL-3.0-or-later
"""The web portal under load: listing a user's jobs among many, an upload, its memory.

Sets up a private cupsd holding `--held` jobs (10,000 by default) loaded as
bench/release_bench.py loads them (one user, bench0000000, owns `--mine` of them, 10 by
default, half as CORP\\user; the others belong to other owners), a station on a SQLite
store with local users, and runs `releasestation web` — the real gunicorn, one gthread
worker, in its own process — on a free loopback port. Then, logged in as that user:

- `GET /api/v1/jobs` and the My jobs page (`GET /jobs`), `--requests` times each, one
  after another, after a few to warm up: p50, p99 and max in ms (target: p99 < 50 ms);
- a `--upload-mb` MB PDF of `--upload-pages` pages (20 MB, 200 pages) sent to
  `POST /upload` `--uploads` times: from the first byte sent to the answer, when the job
  is held in cupsd with its page count (target: < 2 s each);
- the resident memory (VmRSS, VmHWM) of the portal's worker and of gunicorn's master.

    python -m bench.web_bench [--held 10000 --mine 10 --requests 300 --uploads 5]

The client runs in this process, on the same machine; on a shared machine the figures
move with what else runs (say so when quoting them).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import io
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path

from bench.ldap_seed import bench_uid
from bench.release_bench import Arrivals, cpu_ms, load_jobs, percentile, proc_mib
from releasestation.app import App
from releasestation.config import load
from releasestation.credentials.passwords import hash_password, store_password
from releasestation.demo.private_cups import PrivateCups
from releasestation.store import users as store_users

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-Portal-1"
META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(root: Path, cups: PrivateCups, port: int, threads: int) -> Path:
    path = root / "releasestation.ini"
    path.write_text(
        f"[station]\nname = bench\nhold_queues = Secure\nsecret_file = {root}/secret\n"
        "owner_domains = CORP\n"
        f"[cups]\nserver = {cups.socket}\ntimeout_seconds = 30\n"
        f"[database]\nurl = sqlite:///{root}/bench.db\n"
        "[directory]\ntype = local\n"
        "[monitoring]\nlisten =\n"
        f"[web]\nlisten = 127.0.0.1:{port}\nweb_release = yes\nmax_upload_mb = 64\n"
        f"threads = {threads}\n"
    )
    return path


def add_user(config: Path, username: str) -> None:
    app = App(load(str(config)))
    try:
        app.store.upgrade()
        app.hasher  # noqa: B018 - records the site secret
        with app.store.write() as session:
            user = store_users.add_user(session, username, "local")
            store_password(session, user, hash_password(PASSWORD))
    finally:
        app.close()


class Client:
    """A script's session: a cookie jar, the CSRF token from the pages."""

    def __init__(self, base: str):
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.token = ""

    def get(self, path: str) -> bytes:
        with self.opener.open(self.base + path, timeout=60) as answer:
            return answer.read()

    def post(self, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type, "Accept": "application/json",
                   "Referer": self.base + "/"}  # fmt: skip
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        with self.opener.open(request, timeout=120) as answer:
            return answer.status, answer.read()

    def log_in(self, username: str) -> None:
        self.token = _token(self.get("/login"))
        form = {"username": username, "password": PASSWORD, "csrf_token": self.token}
        body = urllib.parse.urlencode(form).encode()
        self.post("/login", body, "application/x-www-form-urlencoded")
        self.token = _token(self.get("/jobs"))

    def upload(self, data: bytes, name: str) -> tuple[int, bytes]:
        boundary = uuid.uuid4().hex
        body = b"".join(
            [
                f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
                f"{self.token}\r\n".encode(),
                f'--{boundary}\r\nContent-Disposition: form-data; name="document"; '
                f'filename="{name}"\r\nContent-Type: application/pdf\r\n\r\n'.encode(),
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        return self.post("/upload", body, f"multipart/form-data; boundary={boundary}")


def _token(page: bytes) -> str:
    found = META.search(page.decode())
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def big_pdf(megabytes: float, pages: int) -> bytes:
    """A real PDF of `pages` A4 pages and about `megabytes` MB: each page carries an
    image of random (incompressible) bytes, as a scanned document does."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, NameObject, NumberObject

    writer = PdfWriter()
    per_page = int(megabytes * 1024 * 1024 / pages)
    side = int(per_page**0.5)
    for _ in range(pages):
        page = writer.add_blank_page(width=595, height=842)
        image = DecodedStreamObject()
        image.set_data(secrets.token_bytes(side * side))
        image.update({
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(side),
            NameObject("/Height"): NumberObject(side),
            NameObject("/ColorSpace"): NameObject("/DeviceGray"),
            NameObject("/BitsPerComponent"): NumberObject(8),
        })  # fmt: skip
        ref = writer._add_object(image)
        page[NameObject("/Resources")] = writer._add_object(
            _dict({"/XObject": _dict({"/Im0": ref})})
        )
        contents = DecodedStreamObject()
        contents.set_data(b"q 595 0 0 842 0 0 cm /Im0 Do Q")
        page[NameObject("/Contents")] = writer._add_object(contents)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _dict(values: dict):
    from pypdf.generic import DictionaryObject, NameObject

    return DictionaryObject({NameObject(k): v for k, v in values.items()})


def serve(config: Path, port: int, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "releasestation", "--config", str(config), "web"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                why = f"releasestation web did not start:\n{log.read_text()}"
                raise RuntimeError(why) from None
            time.sleep(0.1)


def worker_pid(master: int) -> int | None:
    children = Path(f"/proc/{master}/task/{master}/children")
    try:
        pids = children.read_text().split()
    except OSError:
        return None
    return int(pids[0]) if pids else None


def process_cpu_ms(pid: int | None) -> float | None:
    """CPU time of every thread of process `pid` (user + system, /proc/PID/stat), in ms."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def timed(client: Client, path: str, count: int, warm: int = 20) -> list[float]:
    for _ in range(warm):
        client.get(path)
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        client.get(path)
        seconds.append(time.perf_counter() - started)
    return sorted(seconds)


def line(what: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{what:<22} n={len(ms):<4} p50 {percentile(ms, 50):6.1f} ms   "
        f"p99 {percentile(ms, 99):6.1f} ms   max {ms[-1]:6.1f} ms"
    )


def memory(pid: int | None) -> str:
    if pid is None:
        return "not known"
    mib = proc_mib(f"/proc/{pid}/status")
    nan = float("nan")
    return f"VmRSS {mib.get('VmRSS', nan):.1f} MiB, VmHWM {mib.get('VmHWM', nan):.1f} MiB"


def run(args: argparse.Namespace) -> int:
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="rs-web-bench-", dir=shm) as tmp:
        root = Path(tmp)
        with PrivateCups(root / "cups") as cups:
            cups.add_hold_queue("Secure", discard=True)
            arrivals = Arrivals(cups, first_user=1, users=1 + args.held // 2)
            seconds, jobs, owners = load_jobs(cups, [(args.mine, 1)], arrivals, args.held)
            print(f"cupsd: {jobs} held jobs from {owners} owners in {seconds:.1f} s;"
                  f" {bench_uid(0)} owns {args.mine}")  # fmt: skip
            port = free_port()
            config = write_config(root, cups, port, args.threads)
            add_user(config, bench_uid(0))
            process = serve(config, port, root / "web.log")
            try:
                return measure(args, process, cups, f"http://127.0.0.1:{port}")
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(30)


def measure(args, process: subprocess.Popen, cups: PrivateCups, base: str) -> int:
    client = Client(base)
    client.log_in(bench_uid(0))
    listed = client.get("/api/v1/jobs").count(b'"id"')
    print(f"portal: {base}, {args.threads} threads; {bench_uid(0)} sees {listed} jobs")
    worker = worker_pid(process.pid)
    cups_before, worker_before = cpu_ms(cups.pid), process_cpu_ms(worker)
    api = timed(client, "/api/v1/jobs", args.requests)
    page = timed(client, "/jobs", args.requests)
    cups_after, worker_after = cpu_ms(cups.pid), process_cpu_ms(worker)
    print(line("GET /api/v1/jobs", api))
    print(line("GET /jobs (My jobs)", page))
    if None not in (cups_before, cups_after, worker_before, worker_after):
        n = 2 * (args.requests + 20)
        print(f"CPU per request: cupsd {(cups_after - cups_before) / n:.1f} ms, "  # type: ignore[operator]
              f"portal {(worker_after - worker_before) / n:.1f} ms")  # type: ignore[operator]  # fmt: skip
    print(f"after listing: worker {memory(worker)}; master {memory(process.pid)}")
    started = time.perf_counter()
    document = big_pdf(args.upload_mb, args.upload_pages)
    made = time.perf_counter() - started
    print(f"upload: a {len(document) / 1e6:.1f} MB PDF of {args.upload_pages} pages"
          f" (made in {made:.1f} s)")  # fmt: skip
    took = []
    for n in range(args.uploads):
        started = time.perf_counter()
        status, body = client.upload(document, f"scan-{n}.pdf")
        took.append(time.perf_counter() - started)
        if status != 201 or f'"pages":{args.upload_pages}'.encode() not in body.replace(b" ", b""):
            print(f"upload {n}: unexpected answer {status} {body[:200]!r}")
            return 1
    print("upload to held: " + ", ".join(f"{s:.2f} s" for s in took)
          + f"; median {sorted(took)[len(took) // 2]:.2f} s")  # fmt: skip
    print(f"after uploads: worker {memory(worker)}; master {memory(process.pid)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_bench", description=__doc__)
    parser.add_argument("--held", type=int, default=10_000, help="held jobs in cupsd")
    parser.add_argument("--mine", type=int, default=10, help="jobs of the logged-in user")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per path")
    parser.add_argument("--threads", type=int, default=4, help="[web] threads")
    parser.add_argument("--upload-mb", type=float, default=20.0)
    parser.add_argument("--upload-pages", type=int, default=200)
    parser.add_argument("--uploads", type=int, default=5)
    args = parser.parse_args(argv)
    if args.held < args.mine or args.mine < 1 or args.requests < 1 or args.uploads < 1:
        parser.error("--held must be at least --mine; --mine, --requests, --uploads >= 1")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
