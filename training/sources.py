"""The dermoscopy sources beyond ISIC 2017 and HAM10000, cut into fit, selection and report parts.

- The ISIC archive extra (``isic_archive/``): only the images that are not in ISIC 2017 ``train/``
  (the others are copies); no lesion ids, so cut by image: a fit part and a selection part.
- The ISIC 2020 part (``isic2020/``): many lesions per patient, so cut by ``patient_id``. Patients
  with a melanoma and patients without are ranked separately by a stable hash, so each part gets
  its share of both: 40% fit, 25% selection, 35% report (which chooses nothing).
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from training.splits import SELECTION_FRACTION, LabelledImages, held_out

#: Cumulative shares of ISIC 2020 patients (by hash rank within each stratum): fit, then selection, then report.
ISIC2020_FIT_UNTIL, ISIC2020_SELECT_UNTIL = 0.4, 0.65
ISIC2020_PARTS = ("fit", "select", "report")


def _rows(folder: Path, name: str) -> list[dict[str, str]]:
    path = Path(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    with path.open(newline="") as handle:
        return sorted(csv.DictReader(handle), key=lambda row: row["image_id"])


def _images(folder: Path, rows: list[dict[str, str]], groups: list[str]) -> LabelledImages:
    paths = tuple(Path(folder) / "images" / f"{row['image_id']}.jpg" for row in rows)
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} listed images are missing, e.g. {missing[0]}")
    return LabelledImages(paths, np.array([float(row["melanoma"]) for row in rows], np.float32), tuple(groups))


def archive_parts(folder: Path) -> dict[str, LabelledImages]:
    """The ISIC archive images not in ISIC 2017 ``train/``, as ``fit`` and ``select`` parts (by image)."""
    rows = [row for row in _rows(folder, "labels.csv") if row["in_isic2017_train"] == "0"]
    images = _images(folder, rows, [row["image_id"] for row in rows])
    chosen = np.array([held_out(f"archive-selection/{group}", SELECTION_FRACTION) for group in images.groups])
    return {"fit": images.subset(~chosen), "select": images.subset(chosen)}


def _hash_rank(name: str) -> float:
    return int.from_bytes(hashlib.sha256(f"isic2020-split/{name}".encode()).digest()[:4], "big") / 2**32


def isic2020_part_of(patients_with_melanoma: dict[str, bool]) -> dict[str, str]:
    """Each patient's part (``fit``, ``select`` or ``report``), stratified by whether they have a melanoma."""
    parts = {}
    for stratum in (True, False):
        group = sorted((p for p, m in patients_with_melanoma.items() if m == stratum), key=_hash_rank)
        for rank, patient in enumerate(group):
            share = rank / len(group)
            if share < ISIC2020_FIT_UNTIL:
                parts[patient] = "fit"
            else:
                parts[patient] = "select" if share < ISIC2020_SELECT_UNTIL else "report"
    return parts


def isic2020_parts(folder: Path) -> dict[str, LabelledImages]:
    """The ISIC 2020 part as ``fit``, ``select`` and ``report`` parts, by patient."""
    rows = _rows(folder, "labels.csv")
    images = _images(folder, rows, [row["patient_id"] for row in rows])
    has_melanoma: dict[str, bool] = {}
    for patient, label in zip(images.groups, images.melanoma, strict=True):
        has_melanoma[patient] = has_melanoma.get(patient, False) or bool(label)
    part_of = isic2020_part_of(has_melanoma)
    which = np.array([part_of[patient] for patient in images.groups])
    return {part: images.subset(which == part) for part in ISIC2020_PARTS}
