"""docs/openapi.yaml against real responses of the committed models (every documented response is exercised)."""

from __future__ import annotations

import io

import jsonschema
import numpy as np
import pytest
import yaml
from PIL import Image

from app import create_app
from tests.conftest import ROOT, encode, upload_limit
from tests.synthetic_pairs import Camera, grown_pair, jpeg, load

SPEC = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
checked: set[tuple[str, str, str]] = set()


def _check(response, path: str, method: str = "get") -> dict:
    """Validate a response against the spec's schema for its path, method and status; return its JSON."""
    status = str(response.status_code)
    responses = SPEC["paths"][path][method]["responses"]
    assert status in responses, f"{method.upper()} {path} answered {status}, which docs/openapi.yaml does not list"
    content = responses[status].get("content")
    if content is None or "application/json" not in content:
        # No body (204), or a photo: the media type is one the spec lists.
        kinds = list(content or {})
        assert (not kinds and not response.data) or any(
            response.mimetype.startswith(kind.rstrip("*")) for kind in kinds
        ), f"{method.upper()} {path} {status} answered {response.mimetype}, not {kinds}"
        checked.add((path, method, status))
        return {}
    schema = content["application/json"]["schema"]
    payload = response.get_json()
    jsonschema.Draft202012Validator({**schema, "components": SPEC["components"]}).validate(payload)
    checked.add((path, method, status))
    return payload


def _analyze(client, data: bytes, query: str = "", **fields):
    form = {"image": (io.BytesIO(data), "photo.png"), **fields} if data is not None else fields
    return client.post(f"/api/v1/analyze{query}", data=form, content_type="multipart/form-data")


def test_the_document_is_openapi_3_1() -> None:
    assert SPEC["openapi"].startswith("3.1")
    jsonschema.Draft202012Validator.check_schema({"components": SPEC["components"]})


def test_analysis_of_a_dermoscopy_photo(client, lesion_path) -> None:
    payload = _check(_analyze(client, lesion_path.read_bytes(), mm_per_px="0.05"), "/api/v1/analyze", "post")
    assert payload["malignant_probability"] is not None and payload["lesion"]["diameter_mm"] is not None


def test_analysis_with_an_explanation(client, lesion_path) -> None:
    payload = _check(_analyze(client, lesion_path.read_bytes(), "?explain=1"), "/api/v1/analyze", "post")
    assert payload["explanation_png"] and "explanation" in payload["timing_ms"]


def test_analysis_of_a_refused_photo(client) -> None:
    from skimage import data

    payload = _check(_analyze(client, encode(Image.fromarray(data.coffee()), "PNG")), "/api/v1/analyze", "post")
    assert payload["malignant_probability"] is None and payload["risk_band"] is None


def test_analysis_without_a_lesion(client) -> None:
    skin = np.full((256, 256, 3), (224, 172, 150), np.uint8)
    _check(_analyze(client, encode(Image.fromarray(skin), "PNG")), "/api/v1/analyze", "post")


@pytest.mark.parametrize(
    ("data", "fields", "status"),
    [
        (None, {}, 400),
        (b"not an image", {}, 415),
        (b"", {}, 400),
        ("tiny", {}, 422),
        ("lesion", {"mm_per_px": "-1"}, 400),
    ],
)
def test_analysis_errors(client, lesion_path, data, fields: dict, status: int) -> None:
    if data == "tiny":
        data = encode(Image.new("RGB", (16, 16)), "PNG")
    elif data == "lesion":
        data = lesion_path.read_bytes()
    response = _analyze(client, data, **fields)
    assert response.status_code == status
    _check(response, "/api/v1/analyze", "post")


def test_too_large(app, lesion_path) -> None:
    with upload_limit(app, 10_000):
        response = _analyze(app.test_client(), lesion_path.read_bytes() * 2)
    _check(response, "/api/v1/analyze", "post")


def _compare(client, before: bytes | None, after: bytes | None, **fields):
    form = dict(fields)
    for name, data in (("before", before), ("after", after)):
        if data is not None:
            form[name] = (io.BytesIO(data), f"{name}.jpg")
    return client.post("/api/v1/compare", data=form, content_type="multipart/form-data")


def test_comparison_of_a_grown_lesion(client) -> None:
    before, after, _ = grown_pair("ISIC_0012151", 1.25, Camera(30, 0.85, (6, -4), gain=0.85, jpeg_quality=80))
    response = _compare(
        client, before, after, before_date="2026-01-01", after_date="2026-07-02", after_mm_per_px="0.04"
    )
    payload = _check(response, "/api/v1/compare", "post")
    assert payload["same_lesion"] and payload["change"]["days"] == 182 and payload["overlay_png"]


def test_comparison_of_different_lesions(client) -> None:
    first, second = (jpeg(load(name)[0]) for name in ("ISIC_0012099", "ISIC_0012143"))
    payload = _check(_compare(client, first, second), "/api/v1/compare", "post")
    assert payload["same_lesion"] is False and payload["change"] is None


@pytest.mark.parametrize(
    ("after", "fields", "status"),
    [(None, {}, 400), (b"not an image", {}, 415), ("tiny", {}, 422), ("lesion", {"before_date": "01/02/2026"}, 400)],
)
def test_comparison_errors(client, lesion_path, after, fields: dict, status: int) -> None:
    if after == "tiny":
        after = encode(Image.new("RGB", (16, 16)), "PNG")
    elif after == "lesion":
        after = lesion_path.read_bytes()
    response = _compare(client, lesion_path.read_bytes(), after, **fields)
    assert response.status_code == status
    _check(response, "/api/v1/compare", "post")


def test_comparison_too_large(app, lesion_path) -> None:
    with upload_limit(app, 10_000):
        response = _compare(app.test_client(), lesion_path.read_bytes(), lesion_path.read_bytes())
    _check(response, "/api/v1/compare", "post")


def test_models_and_probes(client) -> None:
    _check(client.get("/api/v1/models"), "/api/v1/models")
    _check(client.get("/healthz"), "/healthz")
    _check(client.get("/readyz"), "/readyz")


def test_not_ready() -> None:
    unloaded = create_app({"TESTING": True, "LOAD_MODELS": False}).test_client()
    _check(_analyze(unloaded, b"x"), "/api/v1/analyze", "post")
    _check(_compare(unloaded, b"x", b"y"), "/api/v1/compare", "post")
    _check(unloaded.get("/api/v1/models"), "/api/v1/models")
    _check(unloaded.get("/readyz"), "/readyz")


RECORDS = "/api/v1/records"


@pytest.fixture(scope="module")
def records(app, tmp_path_factory):
    """A records app on a migrated SQLite database, with users of two clinics and their tokens."""
    from records.db import migrate
    from tests.records.conftest import new_key, records_app, sign_up

    url = f"sqlite:///{tmp_path_factory.mktemp('records') / 'records.sqlite3'}"
    migrate(url)
    client = records_app(app, url, new_key()).test_client()
    return sign_up(client, url, "admin@a.example", "A", admin=True), sign_up(client, url, "user@b.example", "B")


def test_records_people(records) -> None:
    admin, other = records
    client = admin.client
    tokens = f"{RECORDS}/tokens"
    _check(
        client.post(tokens, json={"email": "user@b.example", "password": "correct horse battery staple"}),
        tokens,
        "post",
    )
    _check(client.post(tokens, json=["not", "an", "object"]), tokens, "post")
    _check(client.post(tokens, json={"email": "user@b.example", "password": "wrong"}), tokens, "post")
    _check(client.get(f"{RECORDS}/patients"), f"{RECORDS}/patients")
    _check(admin.get("/audit"), f"{RECORDS}/audit")
    _check(other.get("/audit"), f"{RECORDS}/audit")


def test_records_patients_and_lesions(records) -> None:
    admin, other = records
    patients, patient = f"{RECORDS}/patients", f"{RECORDS}/patients/{{patient_id}}"
    created = _check(admin.post("/patients", code="OA-1", birth_year=1980, sex="other"), patients, "post")
    _check(admin.post("/patients", code="OA-1"), patients, "post")
    _check(admin.get("/patients?q=oa"), patients)
    _check(admin.get(f"/patients/{created['id']}"), patient)
    _check(other.get(f"/patients/{created['id']}"), patient)
    lesions = f"{patient}/lesions"
    _check(admin.post(f"/patients/{created['id']}/lesions", site="palms/soles", label="sole"), lesions, "post")
    _check(admin.post(f"/patients/{created['id']}/lesions", site="knee"), lesions, "post")
    _check(other.post(f"/patients/{created['id']}/lesions", site="palms/soles"), lesions, "post")
    _check(admin.delete(f"/patients/{created['id']}"), patient, "delete")
    _check(admin.delete(f"/patients/{created['id']}"), patient, "delete")


def test_records_visits(app, records, lesion_path) -> None:
    admin, other = records
    lesion_id = admin.lesion(admin.patient("OV-1"))
    visits, lesion = f"{RECORDS}/lesions/{{lesion_id}}/visits", f"{RECORDS}/lesions/{{lesion_id}}"
    photo = lesion_path.read_bytes()
    first = _check(admin.visit(lesion_id, photo, date="2026-01-01", mm_per_px="0.05"), visits, "post")
    second = _check(admin.visit(lesion_id, photo, date="2026-06-01"), visits, "post")
    assert first["change"] is None and second["change"] is not None
    from skimage import data

    refused = _check(admin.visit(lesion_id, encode(Image.fromarray(data.coffee()), "PNG")), visits, "post")
    assert refused["refused"] and refused["malignant_probability"] is None
    _check(admin.visit(lesion_id, photo, date="June"), visits, "post")
    _check(admin.visit(lesion_id, b"not an image"), visits, "post")
    _check(admin.visit(lesion_id, encode(Image.new("RGB", (16, 16)), "PNG")), visits, "post")
    _check(other.visit(lesion_id, photo), visits, "post")
    with upload_limit(admin.client.application, 10_000):
        _check(admin.visit(lesion_id, photo * 2), visits, "post")
    _check(admin.get(f"/lesions/{lesion_id}"), lesion)
    _check(other.get(f"/lesions/{lesion_id}"), lesion)
    visit, image = f"{RECORDS}/visits/{{visit_id}}", f"{RECORDS}/visits/{{visit_id}}/image"
    _check(admin.get(f"/visits/{first['id']}"), visit)
    _check(other.get(f"/visits/{first['id']}"), visit)
    assert admin.get(f"/visits/{first['id']}/image").data == photo
    _check(admin.get(f"/visits/{first['id']}/image"), image)
    _check(other.get(f"/visits/{first['id']}/image"), image)


def test_records_unavailable(app, tmp_path) -> None:
    from tests.records.conftest import new_key, records_app

    behind = records_app(app, f"sqlite:///{tmp_path / 'not-migrated.sqlite3'}", new_key()).test_client()
    form = {"image": (io.BytesIO(b"x"), "a.jpg"), "date": "2026-01-01"}
    response = behind.post(f"{RECORDS}/lesions/1/visits", data=form, content_type="multipart/form-data")
    _check(response, f"{RECORDS}/lesions/{{lesion_id}}/visits", "post")


def test_every_documented_response_was_checked() -> None:
    if not checked:
        pytest.skip("needs the other tests of this module to run first")
    documented = {
        (path, method, status)
        for path, methods in SPEC["paths"].items()
        for method, operation in methods.items()
        if method != "parameters"  # path parameters shared by the path's operations
        for status in operation["responses"]
    }
    assert documented - checked == set(), "documented responses no test produced"
