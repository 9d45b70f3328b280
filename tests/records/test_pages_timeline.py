"""The lesion timeline pages: visits, the automatic comparison and its flag, re-analysis, the report, the images."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from app.records_views import flags
from lesion.comparison import LesionChange
from tests.conftest import ROOT
from tests.records.pages_helpers import new_lesion, new_patient, new_visit, post, sign_in
from tests.synthetic_pairs import Camera, grown_pair

PHONE_PHOTO = ROOT / "tests" / "fixtures" / "clinical" / "PAT_1180_651_559.jpg"
#: These tests run the models; one database backend is enough (the isolation tests cover both).
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture()
def page_client(rapp, alice):
    client = rapp.test_client()
    sign_in(client, alice.email)
    return client


@pytest.fixture()
def lesion(page_client) -> int:
    return new_lesion(page_client, new_patient(page_client, "TL-1"), "upper extremity", "right forearm")


def _visit_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<li class="card visit" id="visit-(\d+)"', page)]


@SQLITE
def test_a_grown_lesion_is_compared_and_flagged(page_client, lesion, alice) -> None:
    before, after, _ = grown_pair("ISIC_0012151", 1.35, Camera(20, 0.9, (6, -4)))
    assert new_visit(page_client, lesion, before, "2026-01-10").status_code == 303
    first = page_client.get(f"/records/lesions/{lesion}").get_data(as_text=True)
    assert 'id="comparison"' not in first and len(_visit_ids(first)) == 1
    response = new_visit(page_client, lesion, after, "2026-07-10")
    assert response.status_code == 303 and re.search(r"/records/lesions/\d+#visit-\d+$", response.headers["Location"])
    page = page_client.get(f"/records/lesions/{lesion}").get_data(as_text=True)
    assert len(_visit_ids(page)) == 2
    assert 'id="changes"' in page and "Larger area" in page and "181 days" in page
    assert 'id="change-flag"' in page and "The area grew by" in page
    assert page.count('src="data:image/png;base64,') == 1  # the registered overlay, drawn on the first photo
    reads = [event for event in alice.get("/audit").get_json()["events"] if event["action"] == "read_photo"]
    assert [event["detail"] for event in reads] == [{"view": "comparison"}]
    assert "not a medical device" in page


@SQLITE
def test_photos_and_outlines_come_through_signed_in_routes(page_client, lesion, rapp, photo, alice) -> None:
    new_visit(page_client, lesion, photo, "2026-02-01")
    visit = _visit_ids(page_client.get(f"/records/lesions/{lesion}").get_data(as_text=True))[0]
    response = page_client.get(f"/records/visits/{visit}/photo")
    assert response.data == photo and response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "no-store"
    outline = page_client.get(f"/records/visits/{visit}/outline.png")
    with Image.open(io.BytesIO(outline.data)) as layer, Image.open(io.BytesIO(photo)) as original:
        assert layer.mode == "RGBA" and layer.size[0] / layer.size[1] == pytest.approx(
            original.size[0] / original.size[1], rel=0.02
        )
    assert rapp.test_client().get(f"/records/visits/{visit}/photo").status_code == 303  # signed out: to sign-in
    reads = [event for event in alice.get("/audit").get_json()["events"] if event["action"] == "read_photo"]
    assert reads and reads[-1]["target"] == f"visit {visit}"


@SQLITE
def test_reanalysis_keeps_the_old_answer_beside_the_new(page_client, lesion, photo) -> None:
    new_visit(page_client, lesion, photo, "2026-02-01")
    visit = _visit_ids(page_client.get(f"/records/lesions/{lesion}").get_data(as_text=True))[0]
    response = post(page_client, f"/records/visits/{visit}/reanalyse")
    assert response.status_code == 303
    page = page_client.get(f"/records/lesions/{lesion}").get_data(as_text=True)
    assert "Answer at the visit" in page and "Re-analysed" in page
    assert f'id="visit-{visit}-probability"' in page and f'id="visit-{visit}-re2-probability"' in page


@SQLITE
def test_a_refused_photo_shows_the_refusal_and_no_probability(page_client, lesion) -> None:
    assert new_visit(page_client, lesion, PHONE_PHOTO.read_bytes(), "2026-03-01").status_code == 303
    page = page_client.get(f"/records/lesions/{lesion}").get_data(as_text=True)
    visit = _visit_ids(page)[0]
    assert f'id="visit-{visit}-refusal"' in page and "regular photo, not a dermoscopy image" in page
    assert "No probability is given" in page and f'id="visit-{visit}-probability"' not in page


@SQLITE
@pytest.mark.parametrize(
    ("data", "fields", "status"),
    [
        (b"not an image at all", {}, 415),
        (b"", {}, 400),
        (None, {"date": "2026-13-40"}, 400),
        (None, {"mm_per_px": "-1"}, 400),
    ],
    ids=["garbage", "empty", "bad-date", "bad-scale"],
)
def test_bad_visits_are_refused_and_leave_nothing(page_client, lesion, photo, data, fields, status) -> None:
    form = {"date": "2026-04-01", **fields}
    response = new_visit(page_client, lesion, photo if data is None else data, **form)
    assert response.status_code == status and 'id="error"' in response.get_data(as_text=True)
    assert _visit_ids(page_client.get(f"/records/lesions/{lesion}").get_data(as_text=True)) == []


@SQLITE
def test_the_visit_report_is_printable(page_client, lesion) -> None:
    before, after, _ = grown_pair("ISIC_0012151", 1.35, Camera(20, 0.9, (6, -4)))
    new_visit(page_client, lesion, before, "2026-01-10")
    new_visit(page_client, lesion, after, "2026-07-10")
    newest = _visit_ids(page_client.get(f"/records/lesions/{lesion}").get_data(as_text=True))[-1]
    page = page_client.get(f"/records/visits/{newest}/report").get_data(as_text=True)
    assert 'id="report-probability"' in page and 'id="report-changes"' in page and 'id="report-flag"' in page
    assert "TL-1" in page and "right forearm" in page and "Not a diagnosis. Not a medical device." in page
    style = page_client.get("/static/style.css").get_data(as_text=True)
    assert "@page { size: A4" in style and "@media print" in style


@pytest.mark.parametrize(
    ("area_ratio", "added", "expected"),
    [
        (1.2, (), []),
        (1.21, (), ["The area grew by 21% since the visit before (more than 20%)."]),
        (0.8, ("blue-grey",), ["A colour appeared: blue-grey."]),
        (
            1.5,
            ("black", "white"),
            ["The area grew by 50% since the visit before (more than 20%).", "A colour appeared: black, white."],
        ),
    ],
)
def test_flags(area_ratio, added, expected) -> None:
    change = LesionChange(area_ratio, 1.0, 0.0, 0.0, added, (), None, None)
    assert flags(change) == expected
