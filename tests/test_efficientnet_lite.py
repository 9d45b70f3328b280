"""The EfficientNet-Lite builder, loaded from the ImageNet arrays, classifies known photos correctly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT
from training.efficientnet_lite import build_efficientnet_lite

WEIGHTS = ROOT.parent / "shared" / "weights"
ESPRESSO, EGYPTIAN_CAT = 967, 285


@pytest.fixture(scope="module")
def lite0():
    path = WEIGHTS / "efficientnet_lite0_imagenet.npz"
    if not path.is_file():
        pytest.skip(f"{path} is not here (the ImageNet arrays ship in ../shared/weights)")
    return build_efficientnet_lite(path, (224, 224, 3))


def _photo(name: str) -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB").resize((224, 224)), np.float32)


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


def test_feature_map_without_top(lite0) -> None:
    features = build_efficientnet_lite(WEIGHTS / "efficientnet_lite0_imagenet.npz", (256, 256, 3), include_top=False)
    assert features.output.shape[1:] == (8, 8, 1280)


def test_arguments_are_checked(tmp_path) -> None:
    with pytest.raises(ValueError, match="input_shape"):
        build_efficientnet_lite(tmp_path / "x.npz", (224, 224))
    with pytest.raises(ValueError, match=r"existing \.npz"):
        build_efficientnet_lite(tmp_path / "missing.npz")
