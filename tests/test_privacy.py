"""Uploads stay in memory: nothing is written to disk and nothing of the image is logged."""

from __future__ import annotations

import io
import logging
import tempfile

import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode


@pytest.fixture()
def big_upload(lesion_rgb) -> bytes:
    # Over Werkzeug's 500 kB spooling limit, so a default Flask app would write it to disk.
    noisy = np.clip(
        np.asarray(Image.fromarray(lesion_rgb).resize((1400, 1000)), dtype=np.int16)
        + np.random.default_rng(0).integers(-20, 20, (1000, 1400, 3)),
        0,
        255,
    ).astype(np.uint8)
    data = encode(Image.fromarray(noisy), "PNG")
    assert len(data) > 600_000
    return data


def test_no_temporary_file_is_created_for_an_upload(client, big_upload, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("an upload was about to be written to a temporary file")

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    response = client.post(
        "/api/v1/analyze", data={"image": (io.BytesIO(big_upload), "big.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 200


def test_temp_directory_is_unchanged(client, big_upload) -> None:
    from pathlib import Path

    before = set(Path(tempfile.gettempdir()).iterdir())
    for _ in range(2):
        client.post(
            "/api/v1/analyze", data={"image": (io.BytesIO(big_upload), "big.png")}, content_type="multipart/form-data"
        )
    assert set(Path(tempfile.gettempdir()).iterdir()) == before


def test_filename_is_never_used_or_logged(client, lesion_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    hostile_name = "../../etc/passwd<script>.jpg"
    response = client.post(
        "/api/v1/analyze",
        data={"image": (io.BytesIO(lesion_path.read_bytes()), hostile_name)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert hostile_name not in response.get_data(as_text=True)
    assert "passwd" not in caplog.text
