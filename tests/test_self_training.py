"""Self-training of the segmenter: which outlines count as confident, and one tiny run end to end."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

from lesion.model_card import write_card
from tests.conftest import ISIC_FIXTURES
from training import self_train_segmenter
from training.data import load_mask, read_split
from training.pseudo_masks import _stable_sample, as_split, judge, teach, write_pseudo_masks

SIDE = 32


def disk_map(radius: float = 16, centre: tuple[float, float] = (32, 32), edge: float = 0.2) -> np.ndarray:
    """A lesion probability map: 1 inside a disk, 0 outside, with a soft edge ``edge`` px wide."""
    yy, xx = np.mgrid[:64, :64]
    distance = np.hypot(xx - centre[0], yy - centre[1]) - radius
    return 1.0 / (1.0 + np.exp(distance / edge))


def test_views_that_agree_on_a_sharp_outline_are_confident() -> None:
    verdict = judge(np.stack([disk_map()] * 3))
    assert verdict.confident and verdict.view_agreement == 1.0 and verdict.uncertain_share < 0.15
    assert 0.19 < verdict.area_share < 0.21 and set(np.unique(verdict.mask)) == {0, 255}


@pytest.mark.parametrize(
    "views",
    [
        np.stack([disk_map(), disk_map(centre=(38, 32)), disk_map()]),  # one view outlines another place
        np.stack([disk_map(edge=6.0)] * 3),  # a blurred guess: most lesion pixels are uncertain
        np.stack([disk_map(radius=3)] * 3),  # a speck: 1% of the frame
        np.stack([np.full((64, 64), 0.97)] * 3),  # the whole frame
        np.zeros((3, 64, 64)),  # nothing found
    ],
    ids=["views-disagree", "blurred", "speck", "whole-frame", "empty"],
)
def test_unsure_outlines_are_not_confident(views: np.ndarray) -> None:
    assert not judge(views).confident


def test_stable_sample_is_a_repeatable_subset() -> None:
    paths = [Path(f"ISIC_{i:07d}.jpg") for i in range(50)]
    sample = _stable_sample(paths, "ham10000", 10)
    assert len(sample) == 10 and set(sample) <= set(paths) and sample == _stable_sample(paths[::-1], "ham10000", 10)
    assert _stable_sample(paths, "isic2020", 10) != sample and _stable_sample(paths, "x", 80) == paths


def darkness_teacher(side: int) -> keras.Model:
    """A pixel-wise 'segmenter' that calls dark pixels lesion: sharp, and exact under flips."""
    inputs = keras.Input((side, side, 3))
    layer = keras.layers.Conv2D(1, 1, activation="sigmoid")
    outputs = layer(inputs)
    layer.set_weights([np.full((1, 1, 3, 1), -0.5 / 3, np.float32), np.array([0.5 * 128], np.float32)])
    return keras.Model(inputs, outputs)


def disk_photo(path: Path, radius: int, side: int = 96) -> Path:
    """A synthetic dermoscopy photo: a dark disk on light skin."""
    image = np.full((side, side, 3), (190, 160, 150), np.uint8)
    cv2.circle(image, (side // 2, side // 2), radius, (40, 30, 60), thickness=-1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
    return path


def test_pseudo_masks_keep_confident_outlines(tmp_path: Path) -> None:
    photos = [disk_photo(tmp_path / "photos" / f"ISIC_{r:07d}.jpg", r) for r in (20, 28, 1)]
    split, counts = write_pseudo_masks(darkness_teacher(SIDE), {"archive": photos}, tmp_path / "out", SIDE, 1.0)
    # The speck (radius 1) covers under 2% of the frame: not kept.
    assert counts == {"archive": {"candidates": 3, "confident": 2, "kept": 2}}
    assert sorted(path.name for path in split.image_paths) == ["ISIC_0000020.jpg", "ISIC_0000028.jpg"]
    masks = {path.name: load_mask(mask) for path, mask in zip(split.image_paths, split.mask_paths, strict=True)}
    assert masks["ISIC_0000020.jpg"].shape == (SIDE, SIDE) and 0.1 < (masks["ISIC_0000020.jpg"] > 0).mean() < 0.2
    with (tmp_path / "out" / "pseudo_masks.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert as_split(rows).mask_paths == split.mask_paths


def test_teach_unflips_the_views(tmp_path: Path) -> None:
    image = np.zeros((1, SIDE, SIDE, 3), np.uint8) + 200
    image[0, 2:14, 3:12] = 20  # an off-centre dark patch: a wrong un-flip would misplace it
    verdict = teach(darkness_teacher(SIDE), image)[0]
    assert verdict.view_agreement == 1.0 and (verdict.mask[2:14, 3:12] == 255).all() and verdict.mask.sum() == 255 * 108


def test_self_training_run_writes_student_and_card(tmp_path: Path) -> None:
    data = tmp_path / "isic"
    shutil.copytree(ISIC_FIXTURES, data / "train")
    shutil.copytree(ISIC_FIXTURES, data / "val")
    archive = tmp_path / "archive"
    for radius in (18, 24, 30):
        disk_photo(archive / "images" / f"ISIC_{radius:07d}.jpg", radius)
    with (archive / "labels.csv").open("w") as handle:
        handle.write("image_id,diagnosis,melanoma,in_isic2017_train\n")
        handle.writelines(f"ISIC_{r:07d},nevus,0,0\n" for r in (18, 24, 30))
    teacher_path = tmp_path / "teacher" / "segmenter.keras"
    teacher_path.parent.mkdir()
    teacher = darkness_teacher(SIDE)
    teacher.save(teacher_path)
    teacher_card = {
        "name": "segmenter",
        "version": "teacher",
        "input_size": SIDE,
        "threshold": 0.5,
        "training_data": [{"name": "ISIC 2017 challenge data", "licence": "CC-0"}],
        "selection": {"data": "ISIC val/"},
        "training": {"command": "python -m training.train_segmenter ...", "epochs": 24},
        "validation": {"jaccard": 0.5},
    }
    write_card(teacher_path.with_suffix(".json"), teacher_card)
    out = tmp_path / "student" / "segmenter.keras"
    self_train_segmenter.main(
        [
            *("--data", str(data), "--archive", str(archive), "--teacher", str(teacher_path), "--out", str(out)),
            *(
                "--pseudo-dir",
                str(tmp_path / "pseudo"),
                "--image-size",
                str(SIDE),
                "--epochs",
                "1",
                "--batch-size",
                "4",
            ),
        ]
    )
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["pseudo_masks"]["sources"] == {"isic_archive": {"candidates": 3, "confident": 3, "kept": 3}}
    assert card["data"]["parts"] == {"train_masks": len(read_split(data / "train")), "pseudo_masks": 3}
    assert card["test_time_views"] in (1, 2, 3) and "validation" not in card
    assert card["training"]["teacher_command"] == teacher_card["training"]["command"]
    assert [entry["licence"] for entry in card["training_data"]] == ["CC-0", "CC-0 or CC BY (per image)"]
    assert "chosen on nothing" in card["selection"]["student"]
    student = keras.models.load_model(out, compile=False)
    assert any(not np.allclose(a, b) for a, b in zip(teacher.get_weights(), student.get_weights(), strict=True))
    assert [e["epoch"] for e in json.loads((out.parent / ".checkpoints" / "segmenter-history.json").read_text())] == [1]


def test_self_training_needs_photos_without_masks() -> None:
    with pytest.raises(SystemExit):
        self_train_segmenter.parse_args(["--data", "."])
