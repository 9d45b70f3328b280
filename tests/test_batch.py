"""The batch CLI contract, run as a user runs it, with the committed models."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ISIC_FIXTURES, ROOT, with_exif_orientation


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path, Path]:
    inputs = tmp_path_factory.mktemp("in")
    for path in (ISIC_FIXTURES / "images").glob("*.jpg"):
        shutil.copy(path, inputs / path.name)
    with Image.open(ISIC_FIXTURES / "images" / "ISIC_0012099.jpg") as image:
        wide = image.convert("RGB").resize((300, 180))
        wide.save(inputs / "wide.PNG")
        (inputs / "rotated.jpeg").write_bytes(with_exif_orientation(wide, 6))
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (inputs / "notes.txt").write_text("not an image, not listed")
    outputs = tmp_path_factory.mktemp("out")
    completed = subprocess.run(
        [sys.executable, "-m", "app.batch", str(inputs), str(outputs), "--batch-size", "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return completed, inputs, outputs


def test_exit_status_is_one_and_failure_is_listed(batch_run) -> None:
    completed, _, _ = batch_run
    assert completed.returncode == 1
    assert "broken.jpg" in completed.stderr and "corrupt or truncated" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_predictions_csv(batch_run) -> None:
    _, _, outputs = batch_run
    with (outputs / "predictions.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["image", "malignant"]
    scored = {row[0]: float(row[1]) for row in rows[1:]}
    assert set(scored) == {"ISIC_0001769", "ISIC_0012099", "ISIC_0012143", "ISIC_0012151", "wide", "rotated"}
    assert all(0.0 <= p <= 1.0 for p in scored.values())


@pytest.mark.parametrize(
    ("stem", "size"), [("ISIC_0012099", (256, 256)), ("wide", (300, 180)), ("rotated", (300, 180))]
)
def test_masks_are_binary_and_full_size(batch_run, stem: str, size: tuple[int, int]) -> None:
    _, _, outputs = batch_run
    with Image.open(outputs / "masks" / f"{stem}_segmentation.png") as mask:
        assert mask.mode == "L" and mask.size == size
        values = np.unique(np.asarray(mask))
    assert set(values) <= {0, 255} and 255 in values


def test_mask_agrees_with_ground_truth(batch_run) -> None:
    _, _, outputs = batch_run
    truth = np.asarray(Image.open(ISIC_FIXTURES / "masks" / "ISIC_0012099_segmentation.png")) > 127
    predicted = np.asarray(Image.open(outputs / "masks" / "ISIC_0012099_segmentation.png")) > 127
    assert (truth & predicted).sum() / (truth | predicted).sum() > 0.6


def test_all_good_files_exit_zero(tmp_path: Path) -> None:
    shutil.copy(ISIC_FIXTURES / "images" / "ISIC_0001769.jpg", tmp_path)
    completed = subprocess.run(
        [sys.executable, "-m", "app.batch", str(tmp_path), str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr


def test_ray_engine_writes_the_same_outputs(batch_run, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is installed with requirements-dev.txt")
    _, inputs, outputs = batch_run
    ray_outputs = tmp_path / "ray"
    completed = subprocess.run(
        [sys.executable, "-m", "app.batch", str(inputs), str(ray_outputs), "--engine", "ray", "--ray-actors", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 1 and "broken.jpg" in completed.stderr, completed.stderr[-3000:]
    with (outputs / "predictions.csv").open(newline="") as plain, (ray_outputs / "predictions.csv").open() as ray:
        plain_rows, ray_rows = list(csv.reader(plain)), list(csv.reader(ray))
    assert [row[0] for row in ray_rows] == [row[0] for row in plain_rows]
    np.testing.assert_allclose([float(r[1]) for r in ray_rows[1:]], [float(r[1]) for r in plain_rows[1:]], atol=1e-6)
    masks = sorted(p.name for p in (outputs / "masks").iterdir())
    assert masks == sorted(p.name for p in (ray_outputs / "masks").iterdir())
    for name in masks:
        assert (ray_outputs / "masks" / name).read_bytes() == (outputs / "masks" / name).read_bytes(), name


def test_ray_options_need_the_ray_engine(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "app.batch", str(tmp_path), str(tmp_path / "out"), "--ray-actors", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2 and "go with --engine ray" in completed.stderr
