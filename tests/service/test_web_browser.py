"""The web pages in a real browser: Debian's chromium, driven by Selenium through chromedriver.

The app runs on a loopback port in this process (werkzeug's server in a thread), with the
session's Celery worker. With HCL_WEB_URL set (`make web-check`), the tests that need no model of
the test session drive that server instead, e.g. the one `make run` started, and make their
organizations with its `flask orgs create` (run here with this environment's settings, which must
be the server's). Without chromium the tests skip with the reason; under HCL_REQUIRE_SERVICES=1
(CI, which installs it: .ci/run) they fail instead.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# `make web-screenshots` sets this to docs/: each page is saved there as web-<name>.png on the way.
SCREENSHOTS = os.environ.get("HCL_SCREENSHOTS")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


EXTERNAL = os.environ.get("HCL_WEB_URL", "").rstrip("/")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Site:
    """Where the pages are served, and how to make an organization there (its API key)."""

    url: str
    make_org: Callable[[str], dict]


def _cli_org(name: str) -> dict:
    """An organization made by the served app's command line (``flask orgs create``)."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "run", "orgs", "create", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def site(request):
    if EXTERNAL:
        yield Site(EXTERNAL, _cli_org)
        return
    from werkzeug.serving import make_server

    app = request.getfixturevalue("app")
    request.getfixturevalue("worker")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # "localhost": a Secure cookie is kept over plain HTTP there (a secure context), as in `make run`.
    yield Site(f"http://localhost:{server.server_port}", request.getfixturevalue("make_org"))
    server.shutdown()


@pytest.fixture(scope="module")
def live_url(site):
    return site.url


# For the tests that use the test session's trained model (a mark: decided before any fixture).
in_process = pytest.mark.skipif(
    bool(EXTERNAL), reason="uses the test session's trained model; runs with the app in process only"
)


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        reason = "chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("HCL_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; HCL_REQUIRE_SERVICES=1 requires them", pytrace=False)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(arg)
    # Offline but for this machine: every other host name resolves to nothing, so a page that
    # needed a CDN would show it (its script or stylesheet would not load).
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def snap(browser, name: str) -> None:
    """Save the page as SCREENSHOTS/web-<name>.png, when screenshots are asked for."""
    if SCREENSHOTS:
        browser.save_screenshot(os.path.join(SCREENSHOTS, f"web-{name}.png"))


def wait_until(browser, condition, timeout: float, message: str):
    """``WebDriverWait.until``, with the page allowed to change under it: an element gone stale or
    not there yet, or chromedriver's "does not belong to the document" for a node of a page being
    replaced (a job page reloads itself), counts as not yet. The condition's value."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(driver):
        try:
            return condition(driver)
        except (StaleElementReferenceException, NoSuchElementException):
            return False
        except WebDriverException as exc:
            if "does not belong to the document" in (exc.msg or ""):
                return False
            raise

    return WebDriverWait(browser, timeout).until(settled, message)


def shows(browser, heading: str, alert: str | None = None) -> None:
    """Wait until the page's h1 is ``heading`` (and, if given, its alert holds ``alert``): after a
    click the old page may still be there, or be going."""
    from selenium.webdriver.common.by import By

    def ready(driver) -> bool:
        if driver.find_element(By.TAG_NAME, "h1").text != heading:
            return False
        return alert is None or alert in driver.find_element(By.CSS_SELECTOR, "[role=alert]").text

    wait_until(browser, ready, 10, f"the page never showed {heading!r}")


def sign_in(browser, live_url: str, key: str) -> None:
    """Start a fresh session and sign in with ``key`` through the form; on the dashboard after."""
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(f"{live_url}/app/sign-in")
    shows(browser, "Sign in")
    browser.find_element(By.ID, "api_key").send_keys(key)
    browser.find_element(By.CSS_SELECTOR, "form.card button").click()
    shows(browser, "Dashboard")


def test_sign_in_with_the_keyboard_see_the_dashboard_and_sign_out(browser, site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    live_url = site.url
    org = site.make_org("Browser")
    browser.get(f"{live_url}/app/")
    shows(browser, "Sign in")
    assert browser.current_url.endswith("/app/sign-in?next=/app/")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    # The field has a label and the focus; a key and Enter submit the form.
    field = browser.find_element(By.ID, "api_key")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=api_key]").text == "API key"
    assert browser.switch_to.active_element == field
    field.send_keys("hcl_wrong", Keys.ENTER)
    shows(browser, "Sign in", alert="unknown or revoked")
    browser.find_element(By.ID, "api_key").send_keys(org["api_key"], Keys.ENTER)
    shows(browser, "Dashboard")
    assert "No production model yet" in browser.find_element(By.ID, "no-model").text
    # The session cookie: HTTP-only (no script reads it), Secure, SameSite=Lax; not the key.
    (cookie,) = [c for c in browser.get_cookies() if c["name"] == "session"]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"
    assert org["api_key"] not in cookie["value"]
    assert browser.execute_script("return document.cookie") == ""
    # The stylesheet came from the app (nothing from the network), and it applied.
    sheets = browser.execute_script("return [...document.styleSheets].map(s => s.href)")
    assert sheets == [f"{live_url}/app/static/app.css"]
    header = "return getComputedStyle(document.querySelector('header')).display"
    assert browser.execute_script(header) == "flex"
    offline = "return fetch('https://cdn.jsdelivr.net/npm/chart.js').then(() => 'loaded', () => 'refused')"
    assert browser.execute_script(offline) == "refused"
    browser.find_element(By.CSS_SELECTOR, ".sign-out button").click()
    shows(browser, "Sign in")
    browser.get(f"{live_url}/app/")
    shows(browser, "Sign in")
    assert "/app/sign-in" in browser.current_url


def test_the_pages_fit_a_phone(browser, live_url):
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    try:
        browser.get(f"{live_url}/app/sign-in")
        shows(browser, "Sign in")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390  # no sideways scrolling
        assert browser.find_element(By.ID, "api_key").is_displayed()
    finally:
        browser.set_window_size(1280, 900)


def labelled(browser) -> None:
    """Basic accessibility of the page shown: every visible form control has a label (its own
    <label for>, an enclosing label or aria-label), every chart a text alternative, one h1."""
    unlabelled = browser.execute_script(
        """return [...document.querySelectorAll('input, select, textarea')]
             .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.outerHTML)"""
    )
    assert unlabelled == [], unlabelled
    charts = "return [...document.querySelectorAll('svg')].filter(s => !s.getAttribute('aria-label')).length"
    assert browser.execute_script(charts) == 0
    assert len(browser.find_elements("tag name", "h1")) == 1


def ended(browser, timeout: float = 240) -> str:
    """Wait until the job page shows its job ended (its script reloads it then); the status."""
    from selenium.webdriver.common.by import By

    def status(driver) -> str | bool:
        text = driver.find_element(By.ID, "status").text
        done = driver.find_element(By.ID, "job").get_attribute("data-status") not in ("queued", "running")
        return done and text

    return wait_until(browser, status, timeout, "the page never showed the job's end")


def upload(browser, path: str, name: str) -> None:
    """Send a file through the page's upload form under ``name``; on the page it leads to."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "file").send_keys(path)
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.CSS_SELECTOR, "form.card button").click()
    shows(browser, name)


def visit(browser, link: str, name: str) -> None:
    """Follow the pages' link ``link`` to the page of that heading, check its labels, snap it."""
    from selenium.webdriver.common.by import By

    browser.find_element(By.LINK_TEXT, link).click()
    shows(browser, link)
    labelled(browser)
    snap(browser, name)


def row_texts(browser, rows: str) -> dict[str, str]:
    """The rows matched by the CSS selector ``rows`` as {header cell's text: first cell's text}."""
    from selenium.webdriver.common.by import By

    return {
        row.find_element(By.TAG_NAME, "th").text: row.find_element(By.TAG_NAME, "td").text
        for row in browser.find_elements(By.CSS_SELECTOR, rows)
    }


def succeeded(browser, timeout: float = 240) -> None:
    """Wait for the job page's end and check it succeeded, or fail with the error it shows."""
    from selenium.webdriver.common.by import By

    status = ended(browser, timeout)
    assert status == "succeeded", browser.find_element(By.ID, "error").text


def fits_a_phone(browser) -> None:
    """At a phone's width the page itself does not scroll sideways (wide tables scroll in place)."""
    browser.set_window_size(390, 844)
    try:
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    finally:
        browser.set_window_size(1280, 900)


def test_sign_in_upload_a_shared_log_train_bulk_score_look_and_download(browser, site, shared_log, tmp_path):
    """The issue's path on a real log: sign in, upload it as a dataset, see how it was read,
    train (the form worked with the keyboard), watch the progress bar, bulk-score the log, look
    at the charts and the customers, open a customer's reasons, download the CSV."""
    import openpyxl
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    # Unpacked, as an analyst's export: the tests' MAX_INFLATED_MB (5) is below its 14 MB.
    events = str(tmp_path / "completejourney.csv")
    with gzip.open(shared_log("completejourney_8451")) as packed, open(events, "wb") as plain:
        shutil.copyfileobj(packed, plain)
    live_url = site.url
    org = site.make_org("Analyst")
    browser.delete_all_cookies()
    browser.get(f"{live_url}/app/sign-in")
    shows(browser, "Sign in")
    snap(browser, "sign-in")
    browser.find_element(By.ID, "api_key").send_keys(org["api_key"], Keys.ENTER)
    shows(browser, "Dashboard")
    labelled(browser)

    # A dataset: uploaded, read in the background, its reading decisions and warnings shown.
    visit(browser, "Datasets", "datasets")
    upload(browser, events, "Complete Journey")
    succeeded(browser)
    reading = row_texts(browser, "#reading tr")
    assert "customer_id ← customer_id" in reading["columns (field ← header)"]
    assert reading["file format"] == "csv" and reading["date format"] == "YYYY-MM-DD"
    warnings = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#warnings li")]
    assert any("duplicate row" in w for w in warnings), warnings
    counts = row_texts(browser, "#counts tr")
    customers = int(counts["customers"].replace(",", ""))
    assert customers == 2469
    labelled(browser)
    snap(browser, "dataset")
    fits_a_phone(browser)

    # Training, with the keyboard: the two slower model types unticked, then Enter.
    for kind in ("xgboost", "random_forest"):
        box = browser.find_element(By.ID, f"model-{kind}")
        box.send_keys(Keys.SPACE)
        assert not box.is_selected()
    browser.find_element(By.CSS_SELECTOR, "#train-form button").send_keys(Keys.ENTER)
    shows(browser, "Training on Complete Journey")
    labelled(browser)
    succeeded(browser)
    assert float(browser.find_element(By.ID, "progress").get_attribute("value")) == 1.0
    kept = row_texts(browser, "#selection tbody tr")
    assert "churn" in kept and set(kept.values()) <= {"lightgbm", "linear", "baseline"}
    snap(browser, "training-job")
    browser.find_element(By.ID, "model-link").click()
    shows(browser, "Model version 1")
    assert "production" in browser.find_element(By.TAG_NAME, "main").text

    # Bulk-score the same log with the version just made.
    visit(browser, "Bulk jobs", "bulk-jobs")
    upload(browser, events, "from the page")
    # The page follows the job by itself (static/job.js) and shows how it ended; the Excel file is
    # written after the job, and the page shows its link by itself once it is ready (then it stays).
    succeeded(browser)
    wait_until(browser, lambda d: d.find_element(By.ID, "download-xlsx"), 120, "the Excel link never showed")
    assert float(browser.find_element(By.ID, "progress").get_attribute("value")) == 1.0
    labelled(browser)
    link = browser.find_element(By.ID, "download-csv").get_attribute("href")
    csv = browser.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0]).then(r => r.text()).then(done)", link
    )
    lines = csv.strip().split("\n")
    header = lines[0].split(",")
    assert header[:3] == ["customer_id", "churn_probability", "risk_segment"]
    assert len(lines) == customers + 1
    assert int(browser.find_element(By.ID, "downloads").text.split()[0]) == customers
    workbook = browser.execute_async_script(
        """const done = arguments[1];
           fetch(arguments[0]).then(r => r.blob()).then(b => {
             const reader = new FileReader();
             reader.onload = () => done(reader.result.split(",")[1]);
             reader.readAsDataURL(b);
           })""",
        browser.find_element(By.ID, "download-xlsx").get_attribute("href"),
    )
    sheet = openpyxl.load_workbook(io.BytesIO(base64.b64decode(workbook)), read_only=True).worksheets[0]
    assert sheet.max_row == customers + 1
    # The charts: customers per risk segment, predicted spend per category (largest first).
    counts = {
        row.find_element(By.TAG_NAME, "th").text: int(row.find_elements(By.TAG_NAME, "td")[0].text)
        for row in browser.find_elements(By.CSS_SELECTOR, "#risk-distribution tbody tr")
    }
    assert sum(counts.values()) == customers
    spend = [
        (
            row.find_element(By.TAG_NAME, "th").text,
            float(row.find_element(By.TAG_NAME, "td").text.replace(",", "")),
        )
        for row in browser.find_elements(By.CSS_SELECTOR, "#spend-by-category tbody tr")
    ]
    assert len(spend) > 1 and [v for _, v in spend] == sorted((v for _, v in spend), reverse=True)
    assert {f"spend_{c}" for c, _ in spend} <= set(header)
    snap(browser, "bulk-job")
    fits_a_phone(browser)

    # The customers: filtered by the largest segment, sorted by spend, paged, reasons opened.
    segment = max(counts, key=counts.get)
    browser.find_element(By.ID, "customers-link").click()
    shows(browser, "Customers")
    labelled(browser)
    Select(browser.find_element(By.ID, "segment")).select_by_value(segment)
    Select(browser.find_element(By.ID, "sort")).select_by_value("-spend_total")
    browser.find_element(By.CSS_SELECTOR, ".filters button").click()
    WebDriverWait(browser, 10).until(lambda d: f"segment={segment}" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#customers tbody tr")
    assert 0 < len(rows) <= 50
    cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert {c[1] for c in cells} == {segment}
    spends = [float(c[2]) for c in cells]
    assert spends == sorted(spends, reverse=True)
    rows[0].find_element(By.TAG_NAME, "summary").click()
    reasons = rows[0].find_elements(By.CSS_SELECTOR, "details li")
    assert reasons and all(r.is_displayed() and r.text for r in reasons)
    snap(browser, "customers")
    if counts[segment] > 50:
        browser.find_element(By.CSS_SELECTOR, "a[rel=next]").click()
        WebDriverWait(browser, 10).until(lambda d: "page=2" in d.current_url)
        assert browser.find_element(By.CSS_SELECTOR, "#customers caption").text.startswith("Page 2 of")
    # The landing page now has the production model and the job.
    browser.find_element(By.LINK_TEXT, "Dashboard").click()
    shows(browser, "Dashboard")
    assert browser.find_elements(By.CSS_SELECTOR, "#jobs-h + table tbody tr")
    snap(browser, "dashboard")


@in_process
def test_a_model_shows_its_metrics_beside_the_baseline_its_reliability_and_importance(
    browser, live_url, org, trained
):
    from selenium.webdriver.common.by import By

    sign_in(browser, live_url, org["api_key"])
    browser.find_element(By.LINK_TEXT, "Models").click()
    shows(browser, "Models")
    browser.find_element(By.CSS_SELECTOR, "#models tbody a").click()
    shows(browser, "Model version 1")
    metrics = {
        row.find_element(By.TAG_NAME, "th").text: [
            float(td.text) for td in row.find_elements(By.TAG_NAME, "td")
        ]
        for row in browser.find_elements(By.CSS_SELECTOR, "#churn-metrics tbody tr")
    }
    assert set(metrics) == {"roc_auc", "pr_auc", "log_loss", "brier"}
    assert all(0 <= v <= 1 for k, pair in metrics.items() if k != "log_loss" for v in pair)
    points = browser.find_elements(By.CSS_SELECTOR, "#reliability circle")
    bins = browser.find_elements(By.CSS_SELECTOR, "#reliability-table tbody tr")
    assert len(points) == len(bins) > 1
    features = browser.find_elements(By.CSS_SELECTOR, "#importance tbody th")
    assert 0 < len(features) <= 12 and all(f.text for f in features)
    assert browser.find_elements(By.CSS_SELECTOR, "#spend-metrics tbody tr")
    snap(browser, "model")


@in_process
def test_a_renamed_column_fails_the_job_with_what_to_do_and_its_mapping_reads_it(
    browser, live_url, org, trained, log_bytes, tmp_path
):
    from selenium.webdriver.common.by import By

    renamed = tmp_path / "zzz.csv"
    renamed.write_bytes(log_bytes.replace(b"customer_id", b"Zzz", 1))
    sign_in(browser, live_url, org["api_key"])

    def score(name: str, mapping: str | None) -> str:
        browser.get(f"{live_url}/app/bulk-jobs")
        shows(browser, "Bulk jobs")
        browser.find_element(By.ID, "file").send_keys(str(renamed))
        browser.find_element(By.ID, "name").send_keys(name)
        if mapping:
            browser.find_element(By.CSS_SELECTOR, "details summary").click()
            browser.find_element(By.ID, "column_mapping").send_keys(mapping)
        browser.find_element(By.CSS_SELECTOR, "form.card button").click()
        shows(browser, name)
        return ended(browser)

    assert score("no mapping", None) == "failed"
    error = browser.find_element(By.ID, "error").text
    assert "customer_id" in error and "column_mapping" in error and "upload it again" in error
    assert score("mapped", "customer_id=Zzz") == "succeeded"
