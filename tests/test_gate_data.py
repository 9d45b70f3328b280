"""The quality gate's data: clinical photos read by patient, the gate's inputs, the cache round trip."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from lesion.quality import IMAGE_FEATURES, image_features
from training.gate_data import GateData, from_path, gate_inputs
from training.negatives import clinical_photos


def _clinical_folder(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    (tmp_path / "images").mkdir()
    lines = ["image_id,patient_id,diagnosis"]
    for image, patient in rows:
        lines.append(f"{image},{patient},NEV")
        Image.new("RGB", (48, 40), (180, 120, 100)).save(tmp_path / "images" / f"{image}.jpg")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_clinical_photos_come_with_their_patient(tmp_path: Path) -> None:
    folder = _clinical_folder(tmp_path, [("PAT_2_5_1", "PAT_2"), ("PAT_1_3_9", "PAT_1"), ("PAT_1_4_2", "PAT_1")])
    paths, patients = clinical_photos(folder)
    assert [p.name for p in paths] == ["PAT_1_3_9.jpg", "PAT_1_4_2.jpg", "PAT_2_5_1.jpg"]
    assert patients == ("PAT_1", "PAT_1", "PAT_2")
    (folder / "images" / "PAT_2_5_1.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 listed photos are missing"):
        clinical_photos(folder)
    with pytest.raises(FileNotFoundError, match=r"labels\.csv"):
        clinical_photos(tmp_path / "nowhere")


def test_gate_inputs_are_the_frozen_features_then_the_image_features(tmp_path: Path) -> None:
    folder = _clinical_folder(tmp_path, [("PAT_1_1_1", "PAT_1"), ("PAT_2_2_2", "PAT_2")])
    paths, _ = clinical_photos(folder)
    seen = []

    def predict_all(batch: np.ndarray) -> list[np.ndarray]:
        seen.append(batch.shape)
        return [np.zeros((len(batch), 1)), np.full((len(batch), 4), 7.0)]

    classifier = SimpleNamespace(card=SimpleNamespace(input_size=16), predict_all=predict_all)
    inputs = gate_inputs(classifier, paths, from_path, batch_size=1)
    assert seen == [(1, 16, 16, 3), (1, 16, 16, 3)] and inputs.shape == (2, 4 + len(IMAGE_FEATURES))
    np.testing.assert_array_equal(inputs[:, :4], 7.0)
    np.testing.assert_allclose(inputs[0, 4:], image_features(from_path(paths[0], 16)))


def test_gate_data_round_trips_through_its_cache(tmp_path: Path) -> None:
    data = GateData(
        np.arange(6, dtype=np.float32).reshape(3, 2),
        np.array([0, 1, 2]),
        np.array(["isic2017", "clinical photos", "text"]),
        np.array(["isic/a", "clinical/PAT_1", "text/0"]),
        np.array([True, False, True]),
    )
    data.save(tmp_path / "gate.npz")
    loaded = GateData.load(tmp_path / "gate.npz")
    for name in ("inputs", "labels", "sources", "groups", "fits"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(data, name))
    assert list(loaded.subset(loaded.fits).sources) == ["isic2017", "text"]
