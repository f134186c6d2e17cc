"""The writing demo in a real browser (Debian's Chromium driven by Playwright), against the
real service and the shipped model. Screenshots go to out/screens/."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
SCREENS = Path(__file__).resolve().parents[1] / "out" / "screens"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    database = tmp_path_factory.mktemp("practice") / "practice.db"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "kanjiwrite.cli", "serve", "--port", str(port)],
        env=dict(
            os.environ,
            KANJIWRITE_LOG_LEVEL="warning",
            KANJIWRITE_DATABASE_URL=f"sqlite:///{database}",
        ),
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.terminate()
        pytest.fail("service did not start")
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "install Debian's chromium (apt-get install -y chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def open_page(browser, server, kanji, width=1100, height=900):
    page = browser.new_page(bypass_csp=True, viewport={"width": width, "height": height})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{server}/?kanji={kanji}")
    page.wait_for_function("document.getElementById('stroke-count').textContent.length > 0")
    return page, requests


def reference(page):
    """The reference of the kanji the page is asking for."""
    kanji = page.evaluate("() => state.kanji")
    return page.evaluate(
        "k => fetch('/v1/kanji/' + encodeURIComponent(k)).then(r => r.json())", kanji
    )


def draw(page, points, rng, jitter=1.0):
    """Draw one stroke with the mouse (pointer events), points in the 109 box."""
    box = page.locator("#ink").bounding_box()
    margin, scale = 0.06, box["width"] * (1 - 2 * 0.06) / 109
    xy = [
        (
            box["x"] + box["width"] * margin + x * scale + rng.normal(0, jitter),
            box["y"] + box["height"] * margin + y * scale + rng.normal(0, jitter),
        )
        for x, y in points
    ]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=2)
    page.mouse.up()


def feedback_after_stroke(page, before):
    page.wait_for_function(f"document.getElementById('feedback').textContent !== {before!r}")
    return page.locator("#feedback").inner_text()


def test_write_a_kanji_correctly_and_see_the_summary(browser, server):
    page, requests = open_page(browser, server, "口")
    rng = np.random.default_rng(0)
    assert "mouth" in page.locator("#meaning").inner_text()
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / "01_prompt.png"))
    ref = reference(page)
    for i, stroke in enumerate(ref["strokes"]):
        before = page.locator("#feedback").inner_text()
        draw(page, stroke, rng)
        if i < len(ref["strokes"]) - 1:
            text = feedback_after_stroke(page, before)
            assert f"Stroke {i + 1} is right" in text, text
        if i == 1:
            page.screenshot(path=str(SCREENS / "02_two_strokes.png"))
    page.wait_for_selector("#summary:not([hidden])")
    assert "Perfect" in page.locator("#summary-title").inner_text()
    assert "0 mistakes" in page.locator("#score-line").inner_text()
    page.screenshot(path=str(SCREENS / "03_summary.png"))
    assert all(url.startswith(server) for url in requests)  # no external requests


def test_a_backwards_stroke_is_rejected_and_hint_after_three_misses(browser, server):
    page, _ = open_page(browser, server, "十")
    rng = np.random.default_rng(1)
    ref = reference(page)
    backwards = ref["strokes"][0][::-1]
    before = page.locator("#feedback").inner_text()
    draw(page, backwards, rng)
    text = feedback_after_stroke(page, before)
    assert "wrong end" in text, text
    page.screenshot(path=str(SCREENS / "04_backwards.png"))
    page.wait_for_timeout(1000)  # the wrong stroke is removed
    for _ in range(2):
        page.evaluate("document.getElementById('feedback').textContent = 'waiting'")
        draw(page, backwards, rng)
        feedback_after_stroke(page, "waiting")
        page.wait_for_timeout(1000)
    page.wait_for_function(
        "document.getElementById('feedback').textContent.includes('Here is stroke 1')"
    )
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENS / "05_hint.png"))
    assert page.locator("#progress span.current").count() == 1


def test_phone_viewport_keyboard_and_set_choice(browser, server):
    page, _ = open_page(browser, server, "書", width=390, height=844)
    box = page.locator("#ink").bounding_box()
    assert box["width"] <= 390 and box["x"] >= 0
    page.screenshot(path=str(SCREENS / "06_phone.png"), full_page=True)
    page.keyboard.press("s")  # show stroke order
    page.wait_for_function("document.getElementById('feedback').textContent === 'Stroke order'")
    page.select_option("#set", "jlpt-n5")
    page.wait_for_function("!document.getElementById('meaning').textContent.includes('書')")
    page.locator("#skip").focus()
    page.keyboard.press("Enter")
    assert page.locator("#stroke-count").inner_text().endswith("strokes")


def test_a_daily_practice_session(browser, server):
    context = browser.new_context(
        bypass_csp=True, viewport={"width": 1100, "height": 900}
    )  # new learner
    page = context.new_page()
    page.goto(f"{server}/?mode=practice")
    page.wait_for_function(
        "document.getElementById('practice-status').textContent.startsWith('Today')"
    )
    status = page.locator("#practice-status").inner_text()
    assert "0 to review" in status and "10 new" in status, status
    token = page.evaluate("localStorage.getItem('kanjiwrite-token')")
    assert token and len(token) >= 43
    page.wait_for_function("() => state.ref !== null && state.ref.kanji === state.kanji")
    rng = np.random.default_rng(2)
    for stroke in reference(page)["strokes"]:
        before = page.locator("#feedback").inner_text()
        draw(page, stroke, rng)
        page.wait_for_function(f"document.getElementById('feedback').textContent !== {before!r}")
    page.wait_for_selector("#review-line:not([hidden])")
    review = page.locator("#review-line").inner_text()
    assert review.startswith("Rated ") and "next review" in review, review
    page.screenshot(path=str(SCREENS / "07_practice_done.png"))
    page.locator("#next").click()
    page.wait_for_function(
        "document.getElementById('practice-status').textContent.includes('9 new')"
    )
    auth = {"Authorization": f"Bearer {token}"}
    stats = httpx.get(f"{server}/v1/me/stats", headers=auth).json()
    assert stats["reviews"] == 1 and stats["cards"] == 80
    context.close()


def test_the_page_runs_under_its_content_security_policy(browser, server):
    """No bypass here: the page's own script runs under the CSP the service sends (the
    other tests bypass it only because Playwright evaluates strings to inspect the page)."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    refused = []
    page.on(
        "console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None
    )
    page.goto(f"{server}/?kanji=口")
    page.locator("#stroke-count", has_text="3 strokes").wait_for(timeout=15000)
    assert page.locator("#set option").count() >= 13  # set lists built by app.js
    assert page.locator("#deck option").count() >= 11
    assert refused == []
    page.close()
