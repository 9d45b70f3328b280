"""The upload page in headless Chromium (Debian's /usr/bin/chromium) driven by Playwright."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import ROOT
from tests.synthetic_pairs import Camera, grown_pair

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = ROOT / "docs" / "screenshot.png"
COMPARE_SCREENSHOT = ROOT / "docs" / "compare.png"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Chromium is not installed (CI installs it)"
)


@pytest.fixture(scope="module")
def live_url(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


def test_upload_shows_probability_and_overlay(live_url, browser, lesion_path) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(live_url)
    assert page.get_by_label("Choose a dermoscopy photo of one skin lesion").is_visible()
    page.set_input_files("#image", str(lesion_path))
    page.click("#submit")
    page.wait_for_selector("#probability", timeout=60_000)
    assert page.inner_text("#probability").endswith("%")
    overlay = page.locator("#overlay")
    assert overlay.is_visible()
    assert page.evaluate("document.getElementById('overlay').naturalWidth") > 0
    page.fill("#opacity", "40")
    page.dispatch_event("#opacity", "input")
    assert page.evaluate("getComputedStyle(document.getElementById('overlay')).opacity") == "0.4"
    assert "not a diagnosis" in page.inner_text("body").lower()
    if os.environ.get("SAVE_SCREENSHOT"):
        page.fill("#opacity", "100")
        page.dispatch_event("#opacity", "input")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == []


def test_compare_page_shows_both_outlines_and_the_change(live_url, browser, tmp_path) -> None:
    before, after, _ = grown_pair("ISIC_0012151", 1.25, Camera(30, 0.85, (6, -4), gain=0.85, jpeg_quality=80))
    paths = {name: tmp_path / f"{name}.jpg" for name in ("before", "after")}
    paths["before"].write_bytes(before)
    paths["after"].write_bytes(after)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(live_url)
    page.click("#compare-link")
    page.set_input_files("#before", str(paths["before"]))
    page.set_input_files("#after", str(paths["after"]))
    page.fill("#before_date", "2026-01-01")
    page.fill("#after_date", "2026-07-02")
    page.click("#submit")
    page.wait_for_selector("#changes", timeout=60_000)
    assert page.evaluate("document.getElementById('registered').naturalWidth") > 0
    assert page.locator(".swatch-before").is_visible() and page.locator(".swatch-after").is_visible()
    assert page.inner_text("#before-probability").endswith("%")
    assert page.inner_text("#after-probability").endswith("%")
    assert "Larger area" in page.inner_text("#changes")
    assert "not a diagnosis" in page.inner_text("body").lower()
    if os.environ.get("SAVE_SCREENSHOT"):
        page.screenshot(path=str(COMPARE_SCREENSHOT), full_page=True)
    assert errors == []


PHONE_PHOTO = ROOT / "tests" / "fixtures" / "clinical" / "PAT_1180_651_559.jpg"


def test_a_phone_photo_gets_the_message_and_no_probability(live_url, browser) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_url)
    page.set_input_files("#image", str(PHONE_PHOTO))
    page.click("#submit")
    page.wait_for_selector("#quality-warning", timeout=60_000)
    warning = page.inner_text("#quality-warning")
    assert "regular photo, not a dermoscopy image" in warning and "see a dermatologist" in warning
    assert page.locator("#probability").count() == 0 and page.locator("#label").count() == 0
    assert page.locator("#band").count() == 0 and "melanoma probability:" not in page.inner_text("body").lower()
    assert page.locator("#overlay").is_visible()
    assert "not validated on regular photos" in page.inner_text("#unvalidated")
    assert errors == []


def test_phones_are_offered_the_camera(live_url, browser, lesion_path) -> None:
    context = browser.new_context(viewport={"width": 412, "height": 915}, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_url)
    camera = page.locator("#camera")
    assert camera.get_attribute("accept") == "image/*" and camera.get_attribute("capture") == "environment"
    assert camera.get_attribute("name") is None  # its photo goes through the form's own input
    assert page.get_by_text("Take the photo with the camera", exact=True).is_visible()
    assert page.locator("#image").get_attribute("accept") == "image/*"
    camera.set_input_files(str(lesion_path))  # what the camera app hands back
    page.wait_for_selector("#probability", timeout=60_000)
    assert page.inner_text("#probability").endswith("%")
    context.close()
    assert errors == []
