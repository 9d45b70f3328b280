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
    schema = responses[status]["content"]["application/json"]["schema"]
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


def test_every_documented_response_was_checked() -> None:
    if not checked:
        pytest.skip("needs the other tests of this module to run first")
    documented = {
        (path, method, status)
        for path, methods in SPEC["paths"].items()
        for method, operation in methods.items()
        for status in operation["responses"]
    }
    assert documented - checked == set(), "documented responses no test produced"
