"""The report in a real browser: headless Chromium opens the page from file://, with no network.

Checks that the page loads without console errors, that every chart drew with data marks, that
the facet menus switch views, that ties and error bars are drawn, that markup in results labels
shows as text and never as a link, and saves a full-page screenshot to artifacts/report.png.
Skipped, with the reason, where Debian's chromium / chromium-driver are not installed.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from adcompare.report import build_report

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FIXTURE = Path(__file__).parent / "fixtures" / "results"
ARTIFACTS = Path(__file__).parent.parent / "artifacts"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--window-size=1400,1000")


@pytest.fixture(scope="module")
def browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(f"headless Chromium needs {' and '.join(missing)} (Debian: apt-get install chromium "
                    "chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="adcompare-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def open_page(browser, page: Path):
    browser.get(page.resolve().as_uri())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # every chart div has been drawn by Plotly.newPlot
        if browser.execute_script(
                "const d = document.querySelectorAll('.plotly-graph-div');"
                "return d.length > 0 && Array.from(d).every(e => e._fullLayout !== undefined);"):
            break
        time.sleep(0.2)
    return browser


@pytest.fixture(scope="module")
def loaded(browser, tmp_path_factory):
    return open_page(browser, build_report(FIXTURE, tmp_path_factory.mktemp("browser") / "index.html"))


# Per chart: traces, visible traces, data marks drawn in the SVG (points, line paths, bars,
# heatmap images) and axis tick labels.
CHART_STATE = """
return Array.from(document.querySelectorAll('.plotly-graph-div')).map(el => ({
  id: el.id,
  traces: el.data.length,
  visible: el.data.filter(t => t.visible !== false).length,
  marks: el.querySelectorAll('.scatterlayer .point, .scatterlayer .js-line, .barlayer .point, '
                             + '.heatmaplayer image, .heatmaplayer .hm').length,
  xticks: el.querySelectorAll('.xtick text').length,
  yticks: el.querySelectorAll('.ytick text').length,
}));
"""


def test_no_console_errors(loaded):
    severe = [entry for entry in loaded.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []


def test_every_chart_drew_data_marks(loaded):
    charts = loaded.execute_script(CHART_STATE)
    assert len(charts) >= 8, charts   # crossover ×2, scaling, memory ×3, ratios, compile
    for chart in charts:
        assert chart["traces"] > 0 and chart["visible"] > 0, chart
        assert chart["marks"] > 0, chart
        assert chart["xticks"] > 0 and chart["yticks"] > 0, chart


def test_menus_switch_the_visible_view(loaded):
    from selenium.webdriver.support.ui import Select

    box = loaded.find_element("css selector", "#scaling .chart")
    div_id = box.find_element("css selector", ".plotly-graph-div").get_attribute("id")
    visible = f"return document.getElementById('{div_id}').data.filter(t => t.visible !== false && t.text)" \
              ".map(t => t.text[0]).join('|');"
    before = loaded.execute_script(visible)
    menu = Select(box.find_element("css selector", "select[aria-label=operator]"))
    menu.select_by_value("jvp")
    time.sleep(0.3)
    after = loaded.execute_script(visible)
    assert before != after and " · jvp · " in after and " · vjp · " not in after
    assert loaded.execute_script(f"return document.getElementById('{div_id}').querySelectorAll("
                                 "'.scatterlayer .point').length") > 0


def test_ties_and_error_bars_are_drawn(loaded):
    cells = loaded.execute_script(
        "return Array.from(document.querySelectorAll('#crossover .heatmaplayer text')).map(e => e.textContent);")
    assert "tie" in cells and any(c.startswith("fwd ") for c in cells), cells[:20]
    bars = loaded.execute_script("return document.querySelectorAll('#scaling .errorbar path').length;")
    assert bars > 0


def test_screenshot_saved_as_artifact(loaded):
    ARTIFACTS.mkdir(exist_ok=True)
    height = loaded.execute_script("return document.body.scrollHeight")
    loaded.set_window_size(1400, min(int(height) + 100, 16000))
    time.sleep(0.5)
    target = ARTIFACTS / "report.png"
    assert loaded.save_screenshot(str(target))
    assert target.stat().st_size > 50_000


def test_markup_in_labels_is_shown_as_text_never_as_a_link(browser, tmp_path):
    spec = importlib.util.spec_from_file_location("fixture_generate", FIXTURE / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    root = generate.with_markup(tmp_path / "results")
    open_page(browser, build_report(root, tmp_path / "index.html"))
    links = browser.execute_script("return document.querySelectorAll('main a[href*=\"example.com\"]').length;")
    assert links == 0
    titles = browser.execute_script(
        "return Array.from(document.querySelectorAll('.plotly-graph-div .annotation-text'))"
        ".map(e => e.textContent);")
    assert generate.MARKUP in titles       # the machine's name, shown as the characters it is
