# SPDX-License-Identifier: GPL-3.0-or-later
"""The `browser` fixture drives Debian's chromium: it reads a page from a local HTTP server,
runs its script and fills a form, with nothing downloaded."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Release station test</title></head>
<body><h1 id="greeting">Hello from loopback</h1>
<form method="post" action="/sent"><label for="who">Name</label>
<input id="who" name="who"><button type="submit">Send</button></form>
<p id="scripted"></p>
<script>document.getElementById("scripted").textContent = "script ran";</script>
</body></html>
"""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer(PAGE)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._answer(b"<!doctype html><title>sent</title><p id='echo'>" + body + b"</p>")

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_browser_reads_a_page_runs_its_script_and_posts_a_form(browser, site):
    browser.get(site + "/")
    assert browser.title == "Release station test"
    assert browser.find_element(By.ID, "greeting").text == "Hello from loopback"
    assert browser.find_element(By.ID, "scripted").text == "script ran"
    browser.find_element(By.ID, "who").send_keys("alice")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    echo = WebDriverWait(browser, 10).until(
        expected_conditions.presence_of_element_located((By.ID, "echo"))
    )
    assert echo.text == "who=alice"
    assert "HeadlessChrome" in browser.execute_script("return navigator.userAgent")
