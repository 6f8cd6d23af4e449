"""The report of a real run with all four stages, opened in a real headless browser.

Debian's Chromium and chromedriver (`make install` installs them), driven
through Selenium with explicit paths, so Selenium Manager never looks for a
driver online.
"""

from __future__ import annotations

import shutil

import pytest

from tasklab.core import io
from tasklab.core.config import load_config
from tasklab.pipelines.run import run
from tests.conftest import REPO

WIDTH, HEIGHT = 1000, 800
# The machine has no network: these keep Chromium from calling Google (updates, sync,
# field trials, QUIC probes) and from needing a sandbox or a GPU.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={WIDTH},{HEIGHT}",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small real run through every stage: baselines, explanations and two LiteRT variants.

    About 30 s on two idle cores, most of it in TensorFlow (training, SHAP,
    two LiteRT conversions).
    """
    config = load_config(
        REPO / "configs" / "breast_cancer.yaml",
        [
            "train.epochs=2",
            "baselines=[linear, dummy]",  # Fast to fit (XGBoost takes seconds here).
            "compare.cv_max_rows=0",  # The held-out paired test decides the verdict.
            "explain.methods=[keras_shap]",  # Tree SHAP would need the XGBoost baseline.
            "explain.examples=2",
            "explain.background=10",
            "export.variants=[float32, dynamic_int8]",
            "export.latency_runs=5",
        ],
    )
    return run(config, runs_dir=tmp_path_factory.mktemp("runs")).run_dir


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium with a fresh profile, its window 1,000 px wide."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail(
            "The browser test needs Debian's chromium and chromium-driver. Install them with "
            "`make install` (as root) or `apt-get install chromium chromium-driver`."
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('profile')}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    browser.set_window_size(WIDTH, HEIGHT)
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def report(run_dir, browser):
    """The browser, showing the run's report at the top."""
    browser.get((run_dir / "report.html").resolve().as_uri())
    assert browser.execute_script("return window.innerWidth") == WIDTH
    return browser


def test_every_image_decodes(report):
    images = report.execute_script(
        "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth]);"
    )
    # Learning curves, confusion matrix, model comparison and the explain stage's plots.
    assert len(images) >= 5
    assert [alt for alt, complete, width in images if not (complete and width > 0)] == []


def test_nothing_is_wider_than_the_page_at_1000_px(report):
    page = report.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];"
    )
    assert page[0] <= page[1]
    tables = report.execute_script(
        """return [...document.querySelectorAll('table')].map(t => [
             t.querySelector('th, td').textContent.trim(),
             t.getBoundingClientRect().width, t.scrollWidth, t.parentElement.clientWidth]);"""
    )
    assert len(tables) >= 6
    too_wide = [first for first, width, scroll, room in tables if max(width, scroll) > room + 0.5]
    assert too_wide == []  # Each table fits its container, with no scrolling inside it.


def test_the_summary_is_on_the_first_screen_and_names_the_verdict_and_edge_variant(report, run_dir):
    from selenium.webdriver.common.by import By

    summary = report.find_element(By.ID, "summary")
    bottom = report.execute_script("return arguments[0].getBoundingClientRect().bottom;", summary)
    assert 0 < bottom <= report.execute_script("return window.innerHeight")
    verdict = io.read_json(run_dir / "baselines.json")["verdict"]
    default = io.read_json(run_dir / "export" / "preprocessing.json")["default_variant"]
    text = summary.text
    assert verdict in text
    assert f"{default}, the edge bundle's default" in text
    for link in summary.find_elements(By.CSS_SELECTOR, "a[href^='#']"):
        target = link.get_attribute("href").split("#")[1]
        assert report.find_elements(By.ID, target), target  # Each line links to its section.
    assert len(summary.find_elements(By.TAG_NAME, "a")) == 4
