"""Records pages for patients: sign-in, search, creation, hostile text shown escaped, other clinics, export, erasure."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from markupsafe import escape

from tests.records.pages_helpers import new_lesion, new_patient, post, sign_in

#: Text a clinic might type, or an attacker: SQL, markup, 10 kB of Unicode.
HOSTILE = [
    "'; DROP TABLE patients; --",
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "é漢字🙂‮" * 2000,
]


@pytest.fixture()
def page_client(rapp, alice):
    """A browser signed in as alice (an admin of clinic A)."""
    client = rapp.test_client()
    sign_in(client, alice.email)
    return client


@pytest.fixture()
def other_clinic(rapp, bob):
    """A browser signed in as bob (clinic B)."""
    client = rapp.test_client()
    sign_in(client, bob.email)
    return client


def test_every_page_needs_sign_in(rclient, alice) -> None:
    patient = alice.patient()
    lesion = alice.lesion(patient)
    for path in ("/records", f"/records/patients/{patient}", f"/records/lesions/{lesion}"):
        response = rclient.get(path)
        assert response.status_code == 303 and response.headers["Location"].startswith("/records/signin?next=")
    assert rclient.post("/records/patients", data={"code": "X"}).status_code == 400  # no CSRF token: refused first


def test_pages_are_not_there_when_records_are_off(client) -> None:
    for path in ("/records", "/records/patients/1", "/records/lesions/1", "/records/visits/1/photo"):
        assert client.get(path).status_code == 404


def test_create_search_and_open_a_patient(page_client) -> None:
    first = new_patient(page_client, "MM-2026-001", birth_year="1971", sex="female")
    new_patient(page_client, "MM-2026-002")
    new_patient(page_client, "OTHER-9")
    page = page_client.get(f"/records/patients/{first}").get_data(as_text=True)
    assert "MM-2026-001" in page and "1971" in page and "female" in page
    assert "Not a diagnosis" in page and "not a medical device" in page
    assert "encrypted" in page and "never stored" not in page  # the footer says what records keep
    found = page_client.get("/records?q=mm-2026").get_data(as_text=True)
    assert "MM-2026-001" in found and "MM-2026-002" in found and "OTHER-9" not in found
    assert "No patient" in page_client.get("/records?q=nobody").get_data(as_text=True)


def test_a_form_without_the_csrf_token_is_refused(page_client) -> None:
    for token in (None, "forged"):
        form = {"code": "NO-TOKEN"} if token is None else {"code": "NO-TOKEN", "csrf_token": token}
        assert page_client.post("/records/patients", data=form).status_code == 400
    assert "NO-TOKEN" not in page_client.get("/records").get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code": ""}, "code is required"),
        ({"code": "P", "birth_year": "19x1"}, "birth_year must be a year"),
        ({"code": "P", "sex": "unknown"}, "sex must be one of"),
    ],
    ids=["no-code", "bad-year", "bad-sex"],
)
def test_invalid_patients_are_refused_with_the_reason(page_client, fields, message) -> None:
    response = post(page_client, "/records/patients", fields)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert "No patients yet" in page_client.get("/records").get_data(as_text=True)


def test_a_lesion_needs_one_of_isics_sites(page_client) -> None:
    patient = new_patient(page_client)
    page = page_client.get(f"/records/patients/{patient}").get_data(as_text=True)
    for site in ("head/neck", "palms/soles", "oral/genital", "lateral torso"):
        assert f'<option value="{site}"' in page
    response = post(page_client, f"/records/patients/{patient}/lesions", {"site": "elbow"})
    assert response.status_code == 400 and "site must be one of" in response.get_data(as_text=True)
    lesion = new_lesion(page_client, patient, "head/neck", "behind the left ear")
    page = page_client.get(f"/records/patients/{patient}").get_data(as_text=True)
    assert f"/records/lesions/{lesion}" in page and "behind the left ear" in page


@pytest.mark.parametrize("text", HOSTILE, ids=["sql", "script", "attribute", "unicode-10k"])
def test_hostile_text_is_shown_escaped(page_client, text) -> None:
    patient = new_patient(page_client, text)
    lesion = new_lesion(page_client, patient, label=text)
    escaped = str(escape(text))  # what Jinja's autoescape writes
    for path in (f"/records/patients/{patient}", f"/records/lesions/{lesion}", "/records"):
        page = page_client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page
        assert str(escape(text[:20])) in page
    full = page_client.get(f"/records/patients/{patient}").get_data(as_text=True)
    assert escaped in full  # the whole code, once on the patient's own page


def test_another_clinics_records_answer_404(page_client, other_clinic, alice, photo) -> None:
    patient = alice.patient("A-1")
    lesion = alice.lesion(patient)
    visit = alice.visit(lesion, photo).get_json()["id"]
    gets = [
        f"/records/patients/{patient}",
        f"/records/patients/{patient}/erase",
        f"/records/lesions/{lesion}",
        f"/records/visits/{visit}/photo",
        f"/records/visits/{visit}/outline.png",
        f"/records/visits/{visit}/report",
    ]
    posts = [
        f"/records/patients/{patient}/lesions",
        f"/records/patients/{patient}/export",
        f"/records/patients/{patient}/erase",
        f"/records/visits/{visit}/reanalyse",
        f"/records/lesions/{lesion}/visits",
    ]
    for path in gets:
        assert other_clinic.get(path).status_code == 404, path
        assert page_client.get(path).status_code == 200, path
    for path in posts:
        assert post(other_clinic, path, {"site": "head/neck", "confirm": "erase"}).status_code == 404, path
    assert "A-1" not in other_clinic.get("/records?q=A").get_data(as_text=True)
    assert page_client.get(f"/records/patients/{patient}").status_code == 200  # nothing was erased


def test_export_is_a_zip_of_json_and_photos(page_client, alice, photo) -> None:
    patient = alice.patient("<b>EX-1</b>")
    alice.visit(alice.lesion(patient), photo)
    response = post(page_client, f"/records/patients/{patient}/export")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == f'attachment; filename="patient-{patient}.zip"'
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        document = json.loads(archive.read("patient.json"))
        photos = [name for name in archive.namelist() if name.startswith("photos/")]
        assert document["patient"]["code"] == "<b>EX-1</b>"
        assert [archive.read(name) for name in photos] == [photo]


def test_erasing_needs_the_confirmation_and_removes_the_patient(page_client, alice, photo) -> None:
    patient = alice.patient("ER-1")
    lesion = alice.lesion(patient)
    visit = alice.visit(lesion, photo).get_json()["id"]
    page = page_client.get(f"/records/patients/{patient}/erase").get_data(as_text=True)
    assert "cannot be undone" in page
    refused = post(page_client, f"/records/patients/{patient}/erase")
    assert refused.status_code == 400 and page_client.get(f"/records/patients/{patient}").status_code == 200
    response = post(page_client, f"/records/patients/{patient}/erase", {"confirm": "erase"})
    assert response.status_code == 303 and response.headers["Location"] == "/records"
    assert "were erased" in page_client.get("/records").get_data(as_text=True)
    for path in (f"/records/patients/{patient}", f"/records/lesions/{lesion}", f"/records/visits/{visit}/photo"):
        assert page_client.get(path).status_code == 404
    events = alice.get("/audit").get_json()["events"]
    assert any(event["action"] == "erase" and "ER-1" in json.dumps(event) for event in events)
