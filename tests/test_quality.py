"""The quality gate: out-of-distribution photos are flagged, dermoscopy is not."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.quality import QualityGate, quality_message
from tests.conftest import ISIC_FIXTURES, encode


def test_gate_separates_a_shifted_cloud(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(500, 20)) @ rng.normal(size=(20, 40))
    gate = QualityGate.fit(train, components=8)
    threshold = float(np.percentile(gate.distance(train), 99))
    gate.save(tmp_path / "gate.npz")
    loaded = QualityGate.from_file(tmp_path / "gate.npz", threshold)
    nearby = train[:200] + rng.normal(0, 0.01, (200, 40))
    assert loaded.in_distribution(nearby).mean() > 0.95
    assert not loaded.in_distribution(train[:50] + 25.0).any()


def test_messages() -> None:
    assert "does not look like" in quality_message(True, False)
    assert "No lesion" in quality_message(False, True)
    assert "looks like a dermoscopy image" in quality_message(True, True)


def _analyze(client, data: bytes) -> dict:
    response = client.post(
        "/api/v1/analyze", data={"image": (io.BytesIO(data), "x.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    return response.get_json()["quality"]


@pytest.mark.parametrize("path", sorted((ISIC_FIXTURES / "images").glob("*.jpg")), ids=lambda p: p.stem)
def test_dermoscopy_passes(client, path: Path) -> None:
    quality = _analyze(client, path.read_bytes())
    assert quality["in_distribution"] and quality["lesion_found"] and quality["probability_applies"]


# Measured with the committed models: these five are caught (by the feature distance or by
# finding no lesion). Two other scikit-image photos are NOT caught: "chelsea" (a cat, distance
# 4.5, well inside the threshold) and "hubble_deep_field" (8.4, just inside); see the README.
NON_SKIN = ["astronaut", "coffee", "rocket", "camera", "immunohistochemistry"]


@pytest.mark.parametrize("name", NON_SKIN)
def test_non_skin_photos_are_flagged(client, name: str) -> None:
    from skimage import data

    photo = getattr(data, name)()
    quality = _analyze(client, encode(Image.fromarray(photo), "PNG"))
    assert not quality["probability_applies"]
    assert not quality["in_distribution"] or not quality["lesion_found"]


def test_page_says_so_instead_of_presenting_a_probability(client) -> None:
    from skimage import data

    response = client.post(
        "/",
        data={"image": (io.BytesIO(encode(Image.fromarray(data.coffee()), "PNG")), "c.png")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert 'id="quality-warning"' in html and "does not look like" in html
    assert "Show the model's output anyway" in html
