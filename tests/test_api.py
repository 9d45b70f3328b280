"""The JSON API through Flask's test client, with the real committed models."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, upload_limit, with_exif_orientation


def _post(client, data: bytes, filename: str = "photo.jpg", field: str = "image"):
    return client.post(
        "/api/v1/analyze", data={field: (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )


def _mask(payload: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload["mask_png"]))))


def test_analyze_contract(client, lesion_path) -> None:
    response = _post(client, lesion_path.read_bytes())
    assert response.status_code == 200 and response.is_json
    payload = response.get_json()
    assert 0.0 <= payload["malignant_probability"] <= 1.0
    assert payload["label"] in ("benign", "malignant")
    assert payload["label"] == ("malignant" if payload["malignant_probability"] >= payload["threshold"] else "benign")
    assert set(payload["model"]) == {"classifier", "segmenter"}
    assert payload["lesion"]["area_fraction"] > 0.01  # this small lesion covers 1.5% of the image
    assert payload["lesion"]["diameter_px"] > 0
    assert payload["timing_ms"]["total"] > 0
    assert "not a medical device" in payload["disclaimer"]
    mask = _mask(payload)
    assert mask.shape == (256, 256) and set(np.unique(mask)) <= {0, 255}


def test_mask_follows_exif_orientation(client, lesion_rgb) -> None:
    upright = Image.fromarray(lesion_rgb).resize((320, 200))
    payload = _post(client, with_exif_orientation(upright, 6)).get_json()
    assert _mask(payload).shape == (200, 320)
    assert (payload["image"]["width"], payload["image"]["height"]) == (320, 200)


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P", "CMYK"])
def test_odd_colour_modes_are_analysed(client, lesion_rgb, mode: str) -> None:
    image = Image.fromarray(lesion_rgb)
    image = image.convert("L").convert("I;16") if mode == "I;16" else image.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    response = _post(client, encode(image, fmt), filename=f"x.{fmt.lower()}")
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 400, "missing_image"),
        (b"hello, I am text", 415, "unsupported_image"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", 415, "unsupported_image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 truncated", 415, "unsupported_image"),
    ],
    ids=["empty", "text", "svg", "truncated-jpeg"],
)
def test_bad_uploads_get_json_errors(client, data: bytes, status: int, code: str) -> None:
    response = _post(client, data)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert "Traceback" not in response.get_data(as_text=True)


def test_missing_field_is_400(client, lesion_path) -> None:
    response = _post(client, lesion_path.read_bytes(), field="photo")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "missing_image"


@pytest.mark.parametrize("size", [(20, 20), (10000, 10)], ids=["tiny", "sliver"])
def test_unanalysable_sizes_are_422(client, size) -> None:
    response = _post(client, encode(Image.new("RGB", size), "PNG"))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "unprocessable_image"


def test_decompression_bomb_is_422(client) -> None:
    response = _post(client, encode(Image.new("1", (12000, 6000)), "PNG"))
    assert response.status_code == 422


def test_too_large_upload_is_413(app, lesion_path) -> None:
    with upload_limit(app, 10_000):
        response = _post(app.test_client(), lesion_path.read_bytes() * 2)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"


def test_unknown_route_and_method_are_json(client) -> None:
    assert client.get("/api/v1/nope").get_json()["error"]["code"] == "not_found"
    response = client.get("/api/v1/analyze")
    assert response.status_code == 405 and response.is_json


def test_probes_and_model_cards(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"
    cards = client.get("/api/v1/models").get_json()
    assert cards["classifier"]["name"] == "classifier" and "validation" in cards["segmenter"]


def test_readyz_is_503_without_models() -> None:
    from app import create_app

    unloaded = create_app({"TESTING": True, "LOAD_MODELS": False}).test_client()
    assert unloaded.get("/readyz").status_code == 503
    assert _post(unloaded, b"x").status_code == 503


def test_security_headers(client) -> None:
    headers = client.get("/").headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_metrics_count_requests_and_stages(client, lesion_path) -> None:
    _post(client, lesion_path.read_bytes())
    text = client.get("/metrics").get_data(as_text=True)
    assert 'lesion_http_requests_total{endpoint="api.analyze",method="POST",status="200"}' in text
    assert 'lesion_stage_duration_seconds_count{stage="classifier"}' in text
    assert 'lesion_model_info{model="classifier"' in text


def test_lesion_measurements_and_scale(client, lesion_path) -> None:
    response = client.post(
        "/api/v1/analyze",
        data={"image": (io.BytesIO(lesion_path.read_bytes()), "a.jpg"), "mm_per_px": "0.05"},
        content_type="multipart/form-data",
    )
    lesion = response.get_json()["lesion"]
    assert lesion["diameter_mm"] == pytest.approx(lesion["diameter_px"] * 0.05, abs=0.01)
    assert 0.0 <= lesion["asymmetry_mean"] <= 1.0 and lesion["border_irregularity"] >= 1.0
    assert set(lesion["colours"]) <= {"white", "red", "light brown", "dark brown", "blue-gray", "black"}


@pytest.mark.parametrize("scale", ["-1", "abc", "nan", "1e9"])
def test_bad_scale_is_400(client, lesion_path, scale: str) -> None:
    response = client.post(
        "/api/v1/analyze",
        data={"image": (io.BytesIO(lesion_path.read_bytes()), "a.jpg"), "mm_per_px": scale},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"


def test_explanation_on_request(client, lesion_path) -> None:
    plain = _post(client, lesion_path.read_bytes()).get_json()
    assert "explanation_png" not in plain
    response = client.post(
        "/api/v1/analyze?explain=1",
        data={"image": (io.BytesIO(lesion_path.read_bytes()), "a.jpg")},
        content_type="multipart/form-data",
    )
    payload = response.get_json()
    heat = np.asarray(Image.open(io.BytesIO(base64.b64decode(payload["explanation_png"]))))
    assert heat.shape == (256, 256, 3)
    assert payload["timing_ms"]["explanation"] >= 0 and "Grad-CAM" in payload["explanation"]
