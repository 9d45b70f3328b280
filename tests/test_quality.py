"""The quality gate: dermoscopy passes; regular skin photos and everything else are refused."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lesion.errors import ModelLoadError
from lesion.model_files import check_model_files
from lesion.quality import (
    DERMOSCOPY,
    IMAGE_FEATURES,
    KINDS,
    NOT_SKIN,
    SKIN_PHOTO,
    QualityGate,
    image_features,
    quality_message,
)
from tests.conftest import FIXTURES, ISIC_FIXTURES, copy_models, encode
from training import negatives


def test_probabilities_are_the_softmax_of_the_linear_scores() -> None:
    gate = QualityGate(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), np.array([0.0, 0.0, np.log(2.0)]), 0.5)
    probabilities = gate.probabilities(np.array([[np.log(2.0), 0.0], [0.0, np.log(6.0)]]))
    # scores (ln2, 0, ln2) -> (2, 1, 2)/5; scores (0, ln6, ln2) -> (1, 6, 2)/9
    np.testing.assert_allclose(probabilities, [[0.4, 0.2, 0.4], [1 / 9, 6 / 9, 2 / 9]])
    assert gate.kinds(probabilities) == [NOT_SKIN, SKIN_PHOTO]
    assert QualityGate(gate.weights, gate.biases, 0.1).kinds(probabilities) == [DERMOSCOPY, DERMOSCOPY]


def test_round_trip_and_shape_checks(tmp_path: Path) -> None:
    gate = QualityGate(np.arange(12, dtype=np.float32).reshape(3, 4), np.zeros(3, np.float32), 0.7)
    gate.save(tmp_path / "gate.npz")
    loaded = QualityGate.from_file(tmp_path / "gate.npz", 0.7)
    np.testing.assert_array_equal(loaded.weights, gate.weights)
    with pytest.raises(ValueError, match="Received shape"):
        loaded.probabilities(np.zeros((2, 5)))
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 not an archive")
    with pytest.raises(ModelLoadError, match=r"bad\.npz"):
        QualityGate.from_file(tmp_path / "bad.npz", 0.7)


def test_a_format_1_gate_reads_the_frozen_features_alone(tmp_path: Path) -> None:
    np.savez(tmp_path / "v1.npz", weights=np.ones((3, 4)), biases=np.zeros(3), kinds=np.array(KINDS))
    gate = QualityGate.from_file(tmp_path / "v1.npz", 0.5)
    assert gate.image_features == () and gate.feature_width == 4
    features = np.ones((2, 4))
    assert gate.inputs(features, np.zeros((2, 8, 8, 3), np.uint8)) is features


def test_a_format_2_gate_appends_the_image_features(tmp_path: Path) -> None:
    width = 3 + len(IMAGE_FEATURES)
    gate = QualityGate(np.zeros((3, width)), np.zeros(3), 0.5, IMAGE_FEATURES)
    gate.save(tmp_path / "gate.npz")
    loaded = QualityGate.from_file(tmp_path / "gate.npz", 0.5)
    assert loaded.image_features == IMAGE_FEATURES and loaded.feature_width == 3
    images = np.full((2, 16, 16, 3), 128, np.uint8)
    inputs = loaded.inputs(np.arange(6.0).reshape(2, 3), images)
    assert inputs.shape == (2, width)
    np.testing.assert_array_equal(inputs[:, :3], np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(inputs[0, 3:], image_features(images[0]))
    with pytest.raises(ValueError, match="one image per feature row"):
        loaded.inputs(np.zeros((3, 3)), images)


@pytest.mark.parametrize(
    ("stored", "problem"),
    [
        ({"format": np.array(3), "image_features": np.array(IMAGE_FEATURES)}, "format 3"),
        ({"format": np.array(2), "image_features": np.array(("sharpness",))}, "expects image features"),
    ],
)
def test_a_gate_file_this_code_cannot_compute_for_stops_the_load(tmp_path: Path, stored: dict, problem: str) -> None:
    width = 3 + len(IMAGE_FEATURES)
    np.savez(tmp_path / "g.npz", weights=np.ones((3, width)), biases=np.zeros(3), kinds=np.array(KINDS), **stored)
    with pytest.raises(ModelLoadError, match=problem):
        QualityGate.from_file(tmp_path / "g.npz", 0.5)


def test_image_features_of_a_flat_grey_photo() -> None:
    values = dict(zip(IMAGE_FEATURES, image_features(np.full((32, 32, 3), 128, np.uint8)), strict=True))
    grey = 128 / 255
    assert values["corner_luminance"] == pytest.approx(grey, abs=1e-3)
    assert values["centre_luminance"] == pytest.approx(grey, abs=1e-3)
    for name in ("corner_to_centre", "dark_corner_share", "corner_spread", "dark_border_share", "ring_to_centre"):
        assert values[name] == pytest.approx(0.0, abs=1e-5), name
    for name in ("light_gradient", "glare_share", "saturation_mean", "saturation_spread", "sharpness"):
        assert values[name] == pytest.approx(0.0, abs=1e-5), name


def test_image_features_see_a_dermoscope_vignette() -> None:
    side = 64
    yy, xx = np.mgrid[0:side, 0:side]
    inside = np.hypot(yy + 0.5 - side / 2, xx + 0.5 - side / 2) <= side / 2
    photo = np.where(inside[..., None], np.array([200, 150, 120], np.uint8), np.uint8(0))
    values = dict(zip(IMAGE_FEATURES, image_features(photo), strict=True))
    assert values["corner_luminance"] == 0.0 and values["dark_corner_share"] == 1.0
    assert values["corner_to_centre"] == pytest.approx(np.log(0.02 / (values["centre_luminance"] + 0.02)))
    assert values["dark_border_share"] > 0.4 and values["corner_spread"] == 0.0
    with pytest.raises(ValueError, match="Received shape"):
        image_features(np.zeros((8, 8)))


def test_a_gate_file_with_the_wrong_content_stops_the_start(tmp_path: Path) -> None:
    models = copy_models(tmp_path)
    models.joinpath("quality_gate.npz").unlink()
    np.savez(models / "quality_gate.npz", mean=np.zeros(3))
    problem = check_model_files(models)
    assert problem is not None and "quality_gate.npz" in problem and "\n" not in problem


def test_messages() -> None:
    phone = quality_message(True, SKIN_PHOTO)
    assert "regular photo, not a dermoscopy image" in phone and "validated on dermoscopy images only" in phone
    assert "see a dermatologist" in phone and "dermatoscope" in phone
    assert "not look like a photo of skin" in quality_message(True, NOT_SKIN)
    assert "No lesion" in quality_message(False, DERMOSCOPY)
    assert "looks like a dermoscopy image" in quality_message(True, DERMOSCOPY)


def _quality(client, data: bytes) -> dict:
    response = client.post(
        "/api/v1/analyze", data={"image": (io.BytesIO(data), "x.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    return response.get_json()


@pytest.mark.parametrize("path", sorted((ISIC_FIXTURES / "images").glob("*.jpg")), ids=lambda p: p.stem)
def test_dermoscopy_passes(client, path: Path) -> None:
    answer = _quality(client, path.read_bytes())
    quality = answer["quality"]
    assert quality["kind"] == DERMOSCOPY and quality["in_distribution"] and quality["probability_applies"]
    assert set(quality["kind_probabilities"]) == set(KINDS)
    assert answer["malignant_probability"] is not None


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    return negatives.as_rgb(getattr(data, name)())


# Generated here (seeds beyond the fitting corpus's) or installed with scikit-image; the
# held-out figures for photos the gate never saw are in the classifier card.
EVERYDAY = {
    "text page": lambda: negatives.rendered_text(np.random.default_rng(10_001)),
    "screenshot": lambda: negatives.rendered_text(np.random.default_rng(10_004)),
    "solid colour": lambda: np.full((300, 400, 3), (200, 40, 90), np.uint8),
    "noise": lambda: np.random.default_rng(3).integers(0, 256, (256, 256, 3), dtype=np.uint8),
    "cat": lambda: _skimage("cat"),
    "coffee": lambda: _skimage("coffee"),
    "rocket": lambda: _skimage("rocket"),
    "brick wall": lambda: _skimage("brick"),
}


@pytest.mark.parametrize("name", sorted(EVERYDAY))
def test_everyday_photos_are_refused_without_a_probability(client, name: str) -> None:
    answer = _quality(client, encode(Image.fromarray(EVERYDAY[name]()), "PNG"))
    quality = answer["quality"]
    assert quality["kind"] != DERMOSCOPY and not quality["in_distribution"] and not quality["probability_applies"]
    assert answer["malignant_probability"] is None and answer["label"] is None and answer["risk_band"] is None


@pytest.mark.parametrize("seed", [20_001, 20_002, 20_003])
def test_a_regular_skin_close_up_is_called_a_skin_photo(client, seed: int) -> None:
    photo = negatives.synthetic_skin(np.random.default_rng(seed))
    assert _quality(client, encode(Image.fromarray(photo), "JPEG"))["quality"]["kind"] == SKIN_PHOTO


def test_page_gives_the_reason_and_no_probability(client) -> None:
    response = client.post(
        "/",
        data={"image": (io.BytesIO(encode(Image.fromarray(_skimage("coffee")), "PNG")), "c.png")},
        content_type="multipart/form-data",
    )
    html = response.get_data(as_text=True)
    assert 'id="quality-warning"' in html and "not look like a photo of skin" in html
    assert 'id="probability"' not in html and 'id="label"' not in html and 'id="band"' not in html


PHONE_PHOTO = FIXTURES / "clinical" / "PAT_1180_651_559.jpg"


def test_a_real_phone_photo_gets_no_probability(client) -> None:
    answer = _quality(client, PHONE_PHOTO.read_bytes())
    quality = answer["quality"]
    assert quality["kind"] == SKIN_PHOTO and not quality["in_distribution"] and not quality["probability_applies"]
    assert "regular photo, not a dermoscopy image" in quality["message"]
    assert answer["malignant_probability"] is None and answer["label"] is None and answer["risk_band"] is None
    assert answer["lesion"] is not None and answer["mask_png"]


def test_the_page_for_a_phone_photo_says_so_and_keeps_the_outline_unvalidated(client) -> None:
    response = client.post(
        "/", data={"image": (io.BytesIO(PHONE_PHOTO.read_bytes()), "phone.jpg")}, content_type="multipart/form-data"
    )
    html = response.get_data(as_text=True)
    assert 'id="quality-warning"' in html and "regular photo, not a dermoscopy image" in html
    assert "see a dermatologist" in html
    assert 'id="probability"' not in html and 'id="label"' not in html and 'id="band"' not in html
    assert 'id="overlay"' in html and 'id="unvalidated"' in html and "not validated on regular photos" in html


def test_fitting_the_gate_without_the_wallpapers_stops_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from training import quality_gate

    monkeypatch.setattr(negatives, "WALLPAPER_DIRS", (tmp_path / "backgrounds",))
    assert negatives.installed_wallpapers() == []
    with pytest.raises(SystemExit) as stopped:
        folders = ("--data", "--ham", "--isic2020", "--archive", "--clinical", "--models")
        quality_gate.main([value for option in folders for value in (option, str(tmp_path))])
    assert stopped.value.code == 2
    assert "apt-get install gnome-backgrounds mate-backgrounds" in capsys.readouterr().err
    (tmp_path / "backgrounds" / "nature").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "backgrounds" / "nature" / "lake.jpg")
    assert [p.name for p in negatives.installed_wallpapers()] == ["lake.jpg"]


def test_a_refused_photo_gets_no_heat_map(client) -> None:
    """Where the classifier looked explains a score; a refused photo is shown none."""
    answer = client.post(
        "/api/v1/analyze?explain=1",
        data={"image": (io.BytesIO(PHONE_PHOTO.read_bytes()), "phone.jpg")},
        content_type="multipart/form-data",
    ).get_json()
    assert answer["malignant_probability"] is None and answer["explanation_png"] is None
    page = client.post(
        "/", data={"image": (io.BytesIO(PHONE_PHOTO.read_bytes()), "phone.jpg")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert 'id="unvalidated"' in page and 'id="explanation"' not in page and "Grad-CAM" not in page
