"""The records flow in headless Chromium: sign in, a patient, a lesion, two visits, the timeline, sign out."""

from __future__ import annotations

import io
import os
import re
import threading
from pathlib import Path

import cv2
import pytest
from PIL import Image
from werkzeug.serving import make_server

from tests.conftest import ISIC_FIXTURES, ROOT
from tests.records.conftest import PASSWORD, add_user
from tests.test_browser import CHROMIUM, browser  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="Chromium is not installed (CI installs it)"
    ),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
FIXTURE = ISIC_FIXTURES / "images" / "ISIC_0012151.jpg"
SCREENSHOTS = {
    "change": ROOT / "docs" / "records-timeline.png",
    "visit": ROOT / "docs" / "records-visit.png",
}
#: The README's screenshots stay small.
MAX_SCREENSHOT_BYTES = 400_000
EMAIL = "clinician@a.example"


@pytest.fixture()
def records_url(rapp, database_url):
    add_user(database_url, EMAIL, "Clinic A")
    server = make_server("127.0.0.1", 0, rapp, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def moved_copy(path: Path, target: Path) -> Path:
    """The photo turned 25° and shifted, as a second visit's photo taken from another angle would be."""
    rgb = cv2.imread(str(path))
    height, width = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 25, 1.0)
    matrix[:, 2] += (9, -6)
    moved = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    assert cv2.imwrite(str(target), moved, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return target


def save_small_png(png: bytes, target: Path) -> None:
    """Write a screenshot reduced to 256 colours (the README's images stay small)."""
    with Image.open(io.BytesIO(png)) as image:
        buffer = io.BytesIO()
        image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(buffer, "PNG", optimize=True)
    assert len(buffer.getvalue()) < MAX_SCREENSHOT_BYTES
    target.write_bytes(buffer.getvalue())


def add_visit(page, date: str, photo: Path) -> None:
    page.fill("#date", date)
    page.set_input_files("#image", str(photo))
    page.click("#save-visit")
    page.wait_for_selector(f"text=Visit of {date}", timeout=60_000)


def test_sign_in_record_two_visits_see_the_change_and_sign_out(records_url, browser, tmp_path) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{records_url}/records")
    assert "/records/signin" in page.url
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#new-patient")
    page.fill("#code", "MM-0042")
    page.fill("#birth_year", "1968")
    page.select_option("#sex", "female")
    page.click("#create-patient")
    page.wait_for_selector("#new-lesion")
    assert page.inner_text("#patient-code") == "MM-0042"
    page.select_option("#site", "posterior torso")
    page.fill("#label", "left scapula, 4 cm below the spine")
    page.click("#create-lesion")
    page.wait_for_selector("#visit-form")
    add_visit(page, "2026-01-12", FIXTURE)
    add_visit(page, "2026-07-14", moved_copy(FIXTURE, tmp_path / "later.jpg"))
    page.wait_for_selector("#changes")
    changes = page.inner_text("#changes")
    assert "Area" in changes and "Colours added" in changes and "183 days" in changes
    assert page.evaluate("document.getElementById('registered').naturalWidth") > 0
    page.wait_for_load_state("networkidle")
    images = page.eval_on_selector_all(".visit .stack img", "images => images.map(image => image.naturalWidth)")
    assert len(images) == 4 and all(width > 0 for width in images)  # each photo and its outline
    assert len(page.locator(".visit [id$='-probability']").all()) == 2
    assert "not a medical device" in page.inner_text(".notice")
    if os.environ.get("SAVE_SCREENSHOT"):
        save_small_png(page.locator("#comparison").screenshot(), SCREENSHOTS["change"])
        save_small_png(page.locator(".visit").last.screenshot(), SCREENSHOTS["visit"])
    report_link = page.locator("[id$='-report']").last
    report_link.click()
    page.wait_for_selector("#report")
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1  # the report fits one A4 page
    page.click("text=Sign out")
    page.wait_for_selector("#email")
    page.goto(f"{records_url}/records")
    assert "/records/signin" in page.url
    assert errors == []

