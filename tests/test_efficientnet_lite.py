"""The EfficientNet-Lite builder, loaded from the ImageNet arrays, classifies known photos correctly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from experiments.efficientnet_lite import build_efficientnet_lite
from experiments.probe_layers import lite_maps
from tests.conftest import ROOT

WEIGHTS = ROOT.parent / "shared" / "weights"
ESPRESSO, EGYPTIAN_CAT = 967, 285


def _arrays(variant: str):
    path = WEIGHTS / f"efficientnet_{variant}_imagenet.npz"
    if not path.is_file():
        pytest.skip(f"{path} is not here (the ImageNet arrays ship in ../shared/weights)")
    return path


@pytest.fixture(scope="module")
def lite0():
    return build_efficientnet_lite(_arrays("lite0"), (224, 224, 3))


def _photo(name: str, side: int = 224) -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB").resize((side, side)), np.float32)


def test_class_index_names_the_classes_checked() -> None:
    names = json.loads((WEIGHTS / "imagenet_class_index.json").read_text()) if WEIGHTS.is_dir() else None
    if names is None:
        pytest.skip("../shared/weights is not here")
    assert names[str(ESPRESSO)][1] == "espresso" and names[str(EGYPTIAN_CAT)][1] == "Egyptian_cat"


@pytest.mark.parametrize(("photo", "label"), [("coffee", ESPRESSO), ("cat", EGYPTIAN_CAT)])
def test_lite0_recognises_known_photos(lite0, photo: str, label: int) -> None:
    probabilities = np.asarray(lite0(_photo(photo)[None]))[0]
    assert int(probabilities.argmax()) == label and probabilities[label] > 0.5
    assert lite0.count_params() == 4_694_024  # EfficientNet-Lite0 with its 1000-class head


def test_lite2_recognises_a_known_photo_at_its_own_size() -> None:
    lite2 = build_efficientnet_lite(_arrays("lite2"), (260, 260, 3))
    probabilities = np.asarray(lite2(_photo("coffee", 260)[None]))[0]
    assert int(probabilities.argmax()) == ESPRESSO and probabilities[ESPRESSO] > 0.5
    assert lite2.count_params() == 6_150_168  # EfficientNet-Lite2 with its 1000-class head


@pytest.mark.parametrize(
    ("variant", "side", "first", "count", "grids"),
    [
        ("lite0", 224, "block6_add", 8, {14, 7}),
        ("lite2", 192, "block8_add", 11, {12, 6}),
        ("lite2", 260, "block8_add", 11, {17, 9}),  # padded: 260 is no multiple of 32
    ],
)
def test_probe_maps_are_the_deep_block_outputs(variant: str, side: int, first: str, count: int, grids: set) -> None:
    maps = lite_maps(_arrays(variant), side)
    assert maps.output_names[0] == first and maps.output_names[-1] == "head_relu"
    assert len(maps.outputs) == count and {output.shape[1] for output in maps.outputs} == grids


def test_feature_map_without_top(lite0) -> None:
    features = build_efficientnet_lite(WEIGHTS / "efficientnet_lite0_imagenet.npz", (256, 256, 3), include_top=False)
    assert features.output.shape[1:] == (8, 8, 1280)


def test_arguments_are_checked(tmp_path) -> None:
    with pytest.raises(ValueError, match="input_shape"):
        build_efficientnet_lite(tmp_path / "x.npz", (224, 224))
    with pytest.raises(ValueError, match=r"existing \.npz"):
        build_efficientnet_lite(tmp_path / "missing.npz")
