"""``ogmbench reproduce`` writes an ``index.html`` that works in a real browser.

A tiny benchmark is reproduced once for the module (one dataset, two rho, the quick
training profile) and its ``index.html`` is opened in headless Chromium through
selenium and chromedriver, loaded from a ``file://`` URL with the network closed.  The
page must be self-contained (every figure an inline ``data:`` PNG that decodes, nothing
fetched), show the numbers of ``results.csv``, sort its tables on a header click or
Enter (``data-value`` numerically, else the text; empty cells last; ``aria-sort`` set),
and raise no JavaScript error.

Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install chromium
chromium-driver``) and selenium (the ``test`` extra).  The tests skip only when one of
them is missing; a browser that is installed but does not start fails them.
"""

from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from cli_helpers import benchmark_toml

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install chromium chromium-driver"
CHROME_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
               "--window-size=1280,1024"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ESTIMATORS = ["identity", "median", "gaussian", "unet", "concat"]
CONFIG = benchmark_toml(estimators=ESTIMATORS)
DATASET = "field-g"
MSE_ROWS = ESTIMATORS + ["concat, X2 shuffled"]
# Table id suffix -> (metric in results.csv, decimals shown).
TABLES = {"mse": ("mse", 4), "iou": ("iou", 4), "gain": ("gain_mse", 2)}

# Installed before every document loads: collects uncaught errors, rejected promises
# and resources that failed to load (capture phase sees those), so that errors thrown
# while the page's own script runs are caught too.
ERROR_HOOK = """
window.__pageErrors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__pageErrors.push(t && t !== window && (t.src || t.href)
    ? 'failed to load ' + (t.src || t.href).slice(0, 80) : String(e.message));
}, true);
window.addEventListener('unhandledrejection', function (e) {
  window.__pageErrors.push('unhandled rejection: ' + String(e.reason));
});
"""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium, or the reason it did not start (the tests then fail)."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install 'ogmbench[test]'); the browser "
                    f"tests also need `{INSTALL}`")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not found: install them with `{INSTALL}`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = error = None
    try:
        # An explicit chromedriver: Selenium Manager has nothing to download.
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                                  options=options)
        driver.set_page_load_timeout(120)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_HOOK})
    except (WebDriverException, OSError) as exc:  # reported by every test, as a failure
        error = exc
    try:
        yield Browser(driver, error)
    finally:
        if driver is not None:
            driver.quit()


@dataclass
class Browser:
    driver: object
    error: Exception | None


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Reproduce the tiny benchmark: the out folder and its results.csv."""
    from ogmbench import reproduce

    root = tmp_path_factory.mktemp("index-html")
    config = root / "tiny.toml"
    config.write_text(CONFIG)
    out, drift = reproduce(config, profile="default", out=root / "out")
    assert drift is None
    assert (out / "index.html").is_file()
    results = pd.read_csv(out / "results.csv", skiprows=1, dtype={"rho": str})
    return out, results[results["dataset"] == DATASET]


# --------------------------------------------------------------------------- helpers


def plain(label: str) -> str:
    """A row label without the dagger of a learned estimator not shown converged."""
    return label.removesuffix(" †")


def open_page(browser: Browser, path: Path):
    """Load ``path`` afresh from a file:// URL, once its images have loaded."""
    from selenium.webdriver.support.ui import WebDriverWait

    if browser.error is not None:
        pytest.fail(f"{CHROMIUM} (driven by {CHROMEDRIVER}) is installed but did not start: "
                    f"{type(browser.error).__name__}: {browser.error}")
    driver = browser.driver
    driver.get(path.resolve().as_uri())
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "return document.readyState === 'complete'"
        " && Array.prototype.every.call(document.images, function (i) { return i.complete; })"))
    return driver


def table_rows(driver, table_id: str) -> list[list[tuple[str, str | None]]]:
    """(text, data-value) of every body cell, in the order shown."""
    return driver.execute_script("""
        var t = document.getElementById(arguments[0]);
        return Array.prototype.map.call(t.tBodies[0].rows, function (r) {
          return Array.prototype.map.call(r.cells, function (c) {
            return [c.textContent.trim(), c.getAttribute('data-value')];
          });
        });""", table_id)


def labels(driver, table_id: str) -> list[str]:
    return [plain(row[0][0]) for row in table_rows(driver, table_id)]


def header(driver, table_id: str, text: str):
    """The header cell whose text is ``text`` (the sort arrow is CSS, not text)."""
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} thead th")
    found = [c for c in cells if c.get_attribute("textContent").strip() == text]
    assert len(found) == 1, (text, [c.get_attribute("textContent") for c in cells])
    return found[0]


def sort_state(driver, table_id: str) -> dict[str, str]:
    """{header text: aria-sort} of the headers that carry one."""
    return driver.execute_script("""
        var out = {};
        document.getElementById(arguments[0]).querySelectorAll('thead th').forEach(
          function (th) {
            if (th.hasAttribute('aria-sort')) {
              out[th.textContent.trim()] = th.getAttribute('aria-sort');
            }
          });
        return out;""", table_id)


def row_label(estimator: str, control: str) -> str:
    return estimator if control == "none" else f"{estimator}, X2 {control}"


def rho_values(results) -> list[str]:
    return sorted({r for r in results["rho"] if r != "all"}, key=float)


def rho_header(rho: str) -> str:
    return "all ρ" if rho == "all" else f"ρ={rho}"


def values(results, metric: str, rho: str) -> dict[str, float]:
    """{row label: value} of one metric at one rho, from results.csv."""
    part = results[(results["metric"] == metric) & (results["rho"] == rho)]
    return {row_label(e, c): float(v)
            for e, c, v in zip(part["estimator"], part["control"], part["value"])}


# --------------------------------------------------------------------------- tests


def test_page_is_self_contained(browser, report):
    out, results = report
    driver = open_page(browser, out / "index.html")

    # Nothing was fetched: no resource entries at all (data: URLs make none).
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert driver.execute_script(
        "return document.querySelectorAll('link, script[src], iframe, object, embed').length"
    ) == 0
    refs = driver.execute_script("""
        var out = [];
        document.querySelectorAll('[src], [href], [srcset], [poster]').forEach(function (e) {
          ['src', 'href', 'srcset', 'poster'].forEach(function (a) {
            if (e.hasAttribute(a)) { out.push(e.getAttribute(a).slice(0, 40)); }
          });
        });
        return out;""")
    assert refs and all(r.startswith(("data:", "#")) for r in refs), refs

    # Every figure is an inline PNG that decoded: the curves against rho (MSE, IoU, prior
    # gain), the learning curves, and one gallery per rho.
    images = driver.execute_script("""
        return Array.prototype.map.call(document.images, function (i) {
          return [i.getAttribute('src').slice(0, 22), i.complete, i.naturalWidth,
                  i.naturalHeight, i.alt];
        });""")
    assert len(images) == 4 + len(rho_values(results)), images
    for src, complete, width, height, alt in images:
        assert src == "data:image/png;base64,", alt
        assert complete and width > 0 and height > 0, alt

    # And the file itself names nothing outside (no URL, no stylesheet import).
    text = (out / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"""\b(?:src|href)\s*=\s*(?!["']?(?:data:|#))""", text)
    assert not re.search(r"https?://|@import|url\(", text)


def test_tables_show_the_results(browser, report):
    out, results = report
    driver = open_page(browser, out / "index.html")

    ids = driver.execute_script("""
        return Array.prototype.map.call(document.querySelectorAll('table.sortable'),
          function (t) { return [t.id, t.tHead.querySelectorAll('th').length,
                                 t.tBodies[0].rows.length]; });""")
    assert [i for i, _, _ in ids] == [f"{DATASET}-{key}" for key in TABLES]
    assert all(n_header > 1 and n_rows > 0 for _, n_header, n_rows in ids), ids

    rhos = rho_values(results) + ["all"]
    assert rho_values(results) == ["0", "0.9"]
    for key, (metric, digits) in TABLES.items():
        table_id = f"{DATASET}-{key}"
        head = driver.execute_script(
            "return Array.prototype.map.call(document.getElementById(arguments[0])"
            ".querySelectorAll('thead th'), function (c) { return c.textContent.trim(); });",
            table_id)
        assert head[0] == "estimator"
        assert head[1:1 + len(rhos)] == [rho_header(r) for r in rhos], head
        rows = table_rows(driver, table_id)
        shown = [plain(row[0][0]) for row in rows]
        # The quick profile cannot show convergence: the U-Nets' rows carry the dagger.
        daggered = [plain(row[0][0]) for row in rows if row[0][0].endswith(" †")]
        assert daggered == [r for r in shown if r.split(",")[0] in ("unet", "concat")]
        # A row per estimator and prior control, in the benchmark's order; the gain
        # table only has the estimators that read X2.
        assert shown == (["concat", "concat, X2 shuffled"] if key == "gain" else MSE_ROWS)
        # Each rho cell shows results.csv's value (to its decimals) and sorts by it.
        for j, rho in enumerate(rhos, start=1):
            expected = values(results, metric, rho)
            lo_hi = results[(results["metric"] == metric) & (results["rho"] == rho)]
            half = {row_label(e, c): max(h - v, v - lo) for e, c, v, lo, h in zip(
                lo_hi["estimator"], lo_hi["control"], lo_hi["value"], lo_hi["lo"], lo_hi["hi"])}
            for label, cells in zip(shown, rows):
                text, data_value = cells[j]
                assert label in expected, (table_id, label, rho)
                value = expected[label]
                where = f"{table_id} {label} rho={rho}: {text!r}"
                match = re.fullmatch(r"(-?\d+\.\d+) ± (\d+\.\d+)", text)
                assert match, where
                assert len(match.group(1).split(".")[1]) == digits, where
                # Within half a unit of the last decimal (CSV values are rounded to 10
                # significant digits, so not a string comparison).
                assert abs(float(match.group(1)) - value) <= 0.5 * 10 ** -digits + 1e-9, where
                assert abs(float(match.group(2)) - half[label]) <= 0.5 * 10 ** -digits + 1e-9, \
                    where
                assert data_value is not None and math.isclose(float(data_value), value,
                                                               rel_tol=1e-8, abs_tol=1e-12), where


def test_click_sorts_by_value_then_reverses_then_by_label(browser, report):
    out, results = report
    driver = open_page(browser, out / "index.html")
    table_id = f"{DATASET}-mse"
    assert labels(driver, table_id) == MSE_ROWS
    assert sort_state(driver, table_id) == {}

    mse_09 = values(results, "mse", "0.9")
    assert len(set(mse_09.values())) == len(mse_09), "ties would make the order ambiguous"
    ascending = sorted(mse_09, key=mse_09.get)
    assert ascending != MSE_ROWS  # the click has something to do

    header(driver, table_id, "ρ=0.9").click()
    assert labels(driver, table_id) == ascending
    assert sort_state(driver, table_id) == {"ρ=0.9": "ascending"}
    shown = [float(row[2][1]) for row in table_rows(driver, table_id)]
    assert shown == sorted(shown)

    header(driver, table_id, "ρ=0.9").click()
    assert labels(driver, table_id) == ascending[::-1]
    assert sort_state(driver, table_id) == {"ρ=0.9": "descending"}

    header(driver, table_id, "estimator").click()
    assert labels(driver, table_id) == sorted(MSE_ROWS)
    assert sort_state(driver, table_id) == {"estimator": "ascending"}

    # Rows move whole: every cell still belongs to its label.
    for row in table_rows(driver, table_id):
        assert math.isclose(float(row[2][1]), mse_09[plain(row[0][0])], rel_tol=1e-8)


def test_enter_on_a_header_sorts(browser, report):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    out, results = report
    driver = open_page(browser, out / "index.html")
    table_id = f"{DATASET}-iou"
    iou_0 = values(results, "iou", "0")
    shown = labels(driver, table_id)
    ascending = sorted(shown, key=iou_0.get)

    th = header(driver, table_id, "ρ=0")
    driver.execute_script("arguments[0].focus();", th)
    assert driver.execute_script("return document.activeElement === arguments[0];", th)
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    assert labels(driver, table_id) == ascending
    assert sort_state(driver, table_id) == {"ρ=0": "ascending"}
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    assert labels(driver, table_id) == ascending[::-1]
    assert sort_state(driver, table_id) == {"ρ=0": "descending"}


def test_empty_cells_sort_last_both_ways(browser, report):
    out, results = report
    driver = open_page(browser, out / "index.html")
    table_id = f"{DATASET}-mse"
    column = "prior gain % vs unet (ρ=0.9)"
    gain = values(results[results["uses_prior"]], "gain_mse", "0.9")
    assert set(gain) == {"concat", "concat, X2 shuffled"}
    filled = sorted(gain, key=gain.get)
    n = len(filled)

    header(driver, table_id, column).click()
    rows = table_rows(driver, table_id)
    assert [plain(r[0][0]) for r in rows[:n]] == filled
    assert all(r[-2] == ["", None] for r in rows[n:]), rows  # the last: rank

    header(driver, table_id, column).click()
    rows = table_rows(driver, table_id)
    assert sort_state(driver, table_id) == {column: "descending"}
    assert [plain(r[0][0]) for r in rows[:n]] == filled[::-1]
    assert all(r[-2] == ["", None] for r in rows[n:]), rows  # the last: rank


def test_no_javascript_errors(browser, report):
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    out, _ = report
    driver = open_page(browser, out / "index.html")
    # Sort every table by every column, both ways: the handlers run too.
    for th in driver.find_elements(By.CSS_SELECTOR, "table.sortable thead th"):
        th.click()
        th.click()
    assert driver.execute_script("return window.__pageErrors") == []
    try:
        log = driver.get_log("browser")  # everything since the browser started
    except (AttributeError, WebDriverException):  # no legacy log endpoint
        log = None
    if log is not None:
        assert [e for e in log if e.get("level") == "SEVERE"] == []

    # The checks can see an error: one thrown by an event handler is caught by both
    # (the hook only gets "Script error." for it: the handler comes from webdriver).
    driver.execute_script("""
        var b = document.createElement('button');
        b.addEventListener('click', function () { throw new Error('probe error'); });
        document.body.appendChild(b);
        b.click();""")
    assert len(driver.execute_script("return window.__pageErrors")) == 1
    if log is not None:
        assert any("probe error" in e.get("message", "") for e in driver.get_log("browser"))


def test_screenshot_is_a_png(browser, report, tmp_path):
    out, _ = report
    driver = open_page(browser, out / "index.html")
    path = tmp_path / "index.png"
    assert driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width > 0 and height > 0 and len(data) > 1000


def table_page(tmp_path: Path, cells: list[tuple[str, str, float | None]]) -> Path:
    """A page with one report table (rows: label, shown text, value) and the sort script."""
    from ogmbench.report.pages import _SORT_JS
    from ogmbench.report.markup import Cell, Table

    table = Table(key="t", title="t", note="n", header=["estimator", "x"])
    table.rows = [[Cell(label), Cell(text, value)] for label, text, value in cells]
    page = tmp_path / "t.html"
    page.write_text(f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>"
                    f"{table.html()}<script>{_SORT_JS}</script></body></html>",
                    encoding="utf-8")
    return page


def test_data_value_sorts_numerically_not_as_text(browser, tmp_path):
    # As text these would sort 1e-05, 10, 9, -2 (or by the shown text, other ways).
    page = table_page(tmp_path, [("a", "10.00", 10.0), ("b", "9.00", 9.0), ("c", "", None),
                                 ("d", "0.00", 1e-5), ("e", "-2.00", -2.0)])
    driver = open_page(browser, page)
    header(driver, "t", "x").click()
    assert labels(driver, "t") == ["e", "d", "b", "a", "c"]
    header(driver, "t", "x").click()
    assert labels(driver, "t") == ["a", "b", "d", "e", "c"]


def test_non_finite_value_cell_sorts_last(browser, tmp_path):
    """A cell whose value is not finite shows nothing (``_fmt``) and must sort as empty."""
    page = table_page(tmp_path, [("a", "", float("inf")), ("b", "2.0", 2.0), ("c", "", None),
                                 ("d", "1.0", 1.0)])
    driver = open_page(browser, page)
    header(driver, "t", "x").click()
    order = labels(driver, "t")
    assert order[:2] == ["d", "b"], order
