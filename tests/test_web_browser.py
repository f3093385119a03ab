# SPDX-License-Identifier: GPL-3.0-or-later
"""The portal's main flow in a real browser (Debian's chromium through Selenium, the
`browser` fixture) against `releasestation web` under gunicorn, the real cupsd and store:
log in, send a PDF and see it held with its page count, release it and find it printed,
cancel another, log out; the page fits a phone's screen; release to a printer picked from
the admin's list, and an admin binding and removing a card."""

from __future__ import annotations

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tests.fixtures.web import PASSWORDS, pdf

WAIT = 20


@pytest.fixture
def site(portal_config, served_portal):
    path, port = portal_config()
    return served_portal(path, port)


def wait(browser):
    # While a page is being replaced, chromium can answer a look at the old page's
    # elements with "Node with given id does not belong to the document" (a plain
    # WebDriverException, which the expected conditions do not catch); that is a page in
    # flight, so the wait looks again. A condition never met still fails at WAIT.
    return WebDriverWait(browser, WAIT, ignored_exceptions=(WebDriverException,))


def click_and_wait(browser, element, text: str) -> None:
    """Click `element` (a form's button) and wait for the page that answers to show `text`
    in #main: the old page must be gone first, so its text cannot pass for the answer."""
    old = browser.find_element(By.TAG_NAME, "html")
    element.click()
    wait(browser).until(until.staleness_of(old))
    wait(browser).until(until.text_to_be_present_in_element((By.ID, "main"), text))


def log_in(browser, site: str, username: str) -> None:
    browser.get(f"{site}/login")
    browser.find_element(By.ID, "username").send_keys(username)
    browser.find_element(By.ID, "password").send_keys(PASSWORDS[username])
    browser.find_element(By.ID, "login").click()
    wait(browser).until(until.url_to_be(f"{site}/jobs"))


def send(browser, path) -> int:
    """Send the file at `path` from My jobs; the id of the job it made."""
    before = {
        e.get_attribute("data-job-id") for e in browser.find_elements(By.CSS_SELECTOR, ".job")
    }
    browser.find_element(By.ID, "document").send_keys(str(path))
    click_and_wait(browser, browser.find_element(By.ID, "send"), f"“{path.name}”")
    after = {e.get_attribute("data-job-id") for e in browser.find_elements(By.CSS_SELECTOR, ".job")}
    (new,) = after - before
    return int(new)


def message(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, ".message").text


def test_log_in_send_release_cancel_log_out(browser, site, cups_clean, tmp_path):
    flyer, draft = tmp_path / "Flyer.pdf", tmp_path / "Draft.pdf"
    flyer.write_bytes(pdf(3))
    draft.write_bytes(pdf(1))
    log_in(browser, site, "alice")
    assert browser.find_element(By.ID, "no-jobs").text == "No jobs are waiting for you."

    job = send(browser, flyer)
    assert message(browser) == "“Flyer.pdf” (3 pages) is held: release it at a printer or here."
    card = browser.find_element(By.ID, f"job-{job}")
    assert card.find_element(By.CSS_SELECTOR, ".title").text == "Flyer.pdf"
    assert card.find_element(By.CSS_SELECTOR, ".pages").text == "3"
    other = send(browser, draft)

    click_and_wait(
        browser,
        browser.find_element(By.ID, f"job-{job}").find_element(By.CSS_SELECTOR, ".release"),
        "Released",
    )
    assert message(browser) == "Released “Flyer.pdf”: it is printing now."
    (printed,) = cups_clean.wait_printed(1)
    assert (printed.job_id, printed.user, printed.title) == (job, "alice", "Flyer.pdf")
    assert not browser.find_elements(By.ID, f"job-{job}")

    click_and_wait(
        browser,
        browser.find_element(By.ID, f"job-{other}").find_element(By.CSS_SELECTOR, ".cancel"),
        "Cancelled",
    )
    assert browser.find_element(By.ID, "no-jobs").is_displayed()
    assert [p.job_id for p in cups_clean.printed()] == [job], "the cancelled one never printed"

    click_and_wait(browser, browser.find_element(By.ID, "logout"), "You are logged out")
    browser.get(f"{site}/jobs")
    wait(browser).until(until.presence_of_element_located((By.ID, "username")))


def test_a_wrong_password_says_so_and_the_page_fits_a_phone(browser, site):
    browser.set_window_size(390, 844)
    browser.get(f"{site}/login")
    browser.find_element(By.ID, "username").send_keys("alice")
    browser.find_element(By.ID, "password").send_keys("not her password")
    browser.find_element(By.ID, "login").click()
    error = wait(browser).until(until.presence_of_element_located((By.ID, "login-error")))
    assert "the user name or password is wrong" in error.text
    assert error.get_attribute("role") == "alert"
    log_in(browser, site, "alice")
    fits = "return document.documentElement.scrollWidth <= window.innerWidth"
    assert browser.execute_script(fits), "no sideways scrolling on a phone"


def test_release_to_a_listed_printer_and_an_admin_binds_a_card(
    browser, portal_config, served_portal, cups_clean, tmp_path
):
    path, port = portal_config("admins = carol\nrelease_printers = Secure2\n")
    site = served_portal(path, port)
    job = cups_clean.submit("alice", "Poster")
    log_in(browser, site, "alice")
    card = browser.find_element(By.ID, f"job-{job}")
    Select(card.find_element(By.CSS_SELECTOR, "select.printer")).select_by_value("Secure2")
    click_and_wait(browser, card.find_element(By.CSS_SELECTOR, ".release"), "Released")
    assert message(browser) == "Released “Poster”: it is printing now on Secure2."
    (printed,) = cups_clean.wait_printed(1)
    assert (printed.job_id, printed.queue) == (job, "Secure2")
    click_and_wait(browser, browser.find_element(By.ID, "logout"), "logged out")

    log_in(browser, site, "carol")
    browser.get(f"{site}/admin/users")
    browser.find_element(By.ID, "u-name").send_keys("alice")
    browser.find_element(By.CSS_SELECTOR, "#find-user button").click()
    wait(browser).until(until.presence_of_element_located((By.ID, "add-card")))
    browser.find_element(By.ID, "number").send_keys("0099887766")
    click_and_wait(
        browser, browser.find_element(By.CSS_SELECTOR, "#add-card button"), "ending 7766"
    )
    assert "0099887766" not in browser.page_source
    browser.find_element(By.CSS_SELECTOR, "#cards .remove").click()
    wait(browser).until(until.presence_of_element_located((By.ID, "no-cards")))
    browser.get(f"{site}/admin/audit?event=credential")
    rows = browser.find_elements(By.CSS_SELECTOR, "#trail tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == [
        "card-removed", "card-added",
    ]  # fmt: skip
