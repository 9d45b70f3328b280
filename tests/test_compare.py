"""POST /api/v1/compare and the /compare page, through the real committed models."""

from __future__ import annotations

import io
import re

import pytest

from lesion.comparison import AFTER_RGB, BEFORE_RGB
from tests.conftest import ROOT, upload_limit
from tests.synthetic_pairs import Camera, grown_pair, jpeg, load

MOVED = Camera(30, 0.85, (6, -4), gain=0.85, jpeg_quality=80)


def post(client, url: str, before: bytes | None, after: bytes | None, html: bool = False, **fields):
    form = dict(fields)
    if before is not None:
        form["before"] = (io.BytesIO(before), "before.jpg")
    if after is not None:
        form["after"] = (io.BytesIO(after), "after.jpg")
    headers = {"Accept": "text/html"} if html else {}
    return client.post(url, data=form, content_type="multipart/form-data", headers=headers)


@pytest.mark.parametrize("camera", [MOVED, Camera(-100, 1.25, (-5, 8), gain=1.2, jpeg_quality=70)], ids=str)
@pytest.mark.parametrize("name", ["ISIC_0012143", "ISIC_0012151"])
def test_the_same_lesion_photographed_again_has_not_changed(client, name: str, camera: Camera) -> None:
    before, after, _ = grown_pair(name, 1.0, camera)
    payload = post(client, "/api/v1/compare", before, after).get_json()
    assert payload["same_lesion"] is True, payload["message"]
    assert 0.85 <= payload["change"]["area_ratio"] <= 1.18
    assert payload["registration"]["scale"] == pytest.approx(1 / camera.zoom, rel=0.02)


@pytest.mark.parametrize("name", ["ISIC_0012143", "ISIC_0012151"])
def test_a_grown_lesion_shows_its_growth(client, name: str) -> None:
    before, after, truth = grown_pair(name, 1.25, MOVED)
    response = post(client, "/api/v1/compare", before, after, before_date="2026-01-01", after_date="2026-07-02")
    assert response.status_code == 200
    payload = response.get_json()
    assert payload["same_lesion"] is True, payload["message"]
    change = payload["change"]
    assert change["area_ratio"] == pytest.approx(truth, rel=0.20)
    assert change["diameter_ratio"] > 1.05
    assert change["days"] == 182
    assert payload["overlay_png"] and payload["disclaimer"]
    for side in ("before", "after"):
        assert "mask_png" not in payload[side]
        assert payload[side]["lesion"]["found"] and payload[side]["quality"]["probability_applies"]
    delta = payload["after"]["malignant_probability"] - payload["before"]["malignant_probability"]
    assert change["malignant_probability_delta"] == pytest.approx(delta, abs=1e-4)


def test_two_different_lesions_get_no_change(client) -> None:
    first, second = (jpeg(load(name)[0]) for name in ("ISIC_0012099", "ISIC_0012151"))
    payload = post(client, "/api/v1/compare", first, second).get_json()
    assert payload["same_lesion"] is False
    assert payload["change"] is None and payload["overlay_png"] is None
    assert payload["message"].startswith("The photos do not show the same skin")


def test_each_photo_has_its_own_scale(client) -> None:
    before, after, _ = grown_pair("ISIC_0012143", 1.0, MOVED)
    payload = post(client, "/api/v1/compare", before, after, before_mm_per_px="0.05").get_json()
    assert payload["before"]["lesion"]["diameter_mm"] is not None
    assert payload["after"]["lesion"]["diameter_mm"] is None
    assert payload["change"]["days"] is None


@pytest.mark.parametrize(
    ("before", "after", "fields", "status", "code", "says"),
    [
        ("lesion", None, {}, 400, "missing_image", "'after'"),
        (None, "lesion", {}, 400, "missing_image", "'before'"),
        ("lesion", b"", {}, 400, "missing_image", "'after' is empty"),
        ("lesion", b"not an image", {}, 415, "unsupported_image", "The after photo"),
        (b"GIF89a broken", "lesion", {}, 415, "unsupported_image", "The before photo"),
        ("lesion", "lesion", {"before_date": "2026-13-01"}, 400, "invalid_parameter", "before_date"),
        ("lesion", "lesion", {"after_date": "yesterday"}, 400, "invalid_parameter", "after_date"),
        (
            "lesion",
            "lesion",
            {"before_date": "2026-05-01", "after_date": "2026-01-01"},
            400,
            "invalid_parameter",
            "earlier",
        ),
        ("lesion", "lesion", {"after_mm_per_px": "-2"}, 400, "invalid_parameter", "after_mm_per_px"),
    ],
)
def test_errors_have_the_analyse_shape(client, lesion_path, before, after, fields, status, code, says) -> None:
    photo = lesion_path.read_bytes()
    response = post(
        client,
        "/api/v1/compare",
        photo if before == "lesion" else before,
        photo if after == "lesion" else after,
        **fields,
    )
    assert response.status_code == status
    payload = response.get_json()
    assert set(payload) == {"error"} and payload["error"]["code"] == code
    assert says in payload["error"]["message"]


def test_too_large_is_413(app, lesion_path) -> None:
    with upload_limit(app, 10_000):
        response = post(app.test_client(), "/api/v1/compare", lesion_path.read_bytes(), lesion_path.read_bytes())
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"


def test_the_main_page_links_to_the_comparison(client) -> None:
    assert 'href="/compare"' in client.get("/").get_data(as_text=True)
    page = client.get("/compare").get_data(as_text=True)
    for field in ("before", "after", "before_date", "after_date", "before_mm_per_px", "after_mm_per_px"):
        assert f'name="{field}"' in page
    assert "not a diagnosis" in page.lower()


def test_the_page_shows_the_change(client) -> None:
    before, after, _ = grown_pair("ISIC_0012151", 1.25, MOVED)
    response = post(client, "/compare", before, after, html=True, before_date="2026-01-01", after_date="2026-07-02")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for element in ('id="before-probability"', 'id="after-probability"', 'id="registered"', 'id="changes"'):
        assert element in page
    assert "Larger area" in page and "182 days" in page and "taken 2026-01-01" in page
    assert page.count("data:image/") == 5  # two photos, two outlines, the registered overlay
    assert "not a diagnosis" in page.lower()


def test_the_page_refuses_a_probability_as_the_result_page_does(client) -> None:
    from skimage import data

    before, _, _ = grown_pair("ISIC_0012151", 1.0, MOVED)
    response = post(client, "/compare", before, jpeg(data.coffee()), html=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="before-probability"' in page
    assert 'id="after-quality-warning"' in page and 'id="after-probability"' not in page
    assert 'id="no-change"' in page and 'id="changes"' not in page


def test_a_page_error_shows_the_form_again(client, lesion_path) -> None:
    response = post(client, "/compare", lesion_path.read_bytes(), None, html=True)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="error"' in page and "No file in the form field &#39;after&#39;." in page
    assert 'id="compare-form"' in page


def test_the_legend_has_the_outline_colours() -> None:
    css = (ROOT / "static" / "style.css").read_text()
    for name, colour in (("before", BEFORE_RGB), ("after", AFTER_RGB)):
        match = re.search(rf"\.swatch-{name} {{ background: rgb\((\d+), (\d+), (\d+)\); }}", css)
        assert match and tuple(map(int, match.groups())) == colour
