"""The dermoscopy sources beyond ISIC 2017 and HAM10000, cut into fit, selection and report parts.

- The ISIC archive extra (``isic_archive/``): only the images that are not in ISIC 2017 ``train/``
  (the others are copies); no lesion ids, so cut by image: a fit part and a selection part.
- The ISIC 2019 extra (``isic2019/``, 84 px): cut by ``lesion_id`` 65% fit, 15% selection, 20%
  report, stratified by melanoma like ISIC 2020.
- The ISIC 2020 part (``isic2020/``): many lesions per patient, so cut by ``patient_id``. Patients
  with a melanoma and patients without are ranked separately by a stable hash, so each part gets
  its share of both: 40% fit, 25% selection, 35% report (which chooses nothing).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np

from training.splits import SELECTION_FRACTION, LabelledImages, held_out, stable_rank

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


def isic2020_part_of(patients_with_melanoma: dict[str, bool]) -> dict[str, str]:
    """Each patient's part (``fit``, ``select`` or ``report``), stratified by whether they have a melanoma."""
    return _rank_parts(patients_with_melanoma, "isic2020-split", ISIC2020_FIT_UNTIL, ISIC2020_SELECT_UNTIL)


def isic2020_parts(folder: Path) -> dict[str, LabelledImages]:
    """The ISIC 2020 part as ``fit``, ``select`` and ``report`` parts, by patient."""
    rows = _rows(folder, "labels.csv")
    images = _images(folder, rows, [row["patient_id"] for row in rows])
    return _cut(images, isic2020_part_of)


def _cut(images: LabelledImages, part_of: Callable[[dict[str, bool]], dict[str, str]]) -> dict[str, LabelledImages]:
    """Images split by their group's part; ``part_of`` maps each group (with or without a melanoma) to one."""
    has_melanoma: dict[str, bool] = {}
    for group, label in zip(images.groups, images.melanoma, strict=True):
        has_melanoma[group] = has_melanoma.get(group, False) or bool(label)
    parts = part_of(has_melanoma)
    which = np.array([parts[group] for group in images.groups])
    return {part: images.subset(which == part) for part in ISIC2020_PARTS}


#: Cumulative shares of ISIC 2019 lesions (by hash rank within each stratum): fit, then selection, then report.
ISIC2019_FIT_UNTIL, ISIC2019_SELECT_UNTIL = 0.65, 0.8
#: Lesion ids that byte-identical copies join (the folder's README): one group, on one side of every cut.
ISIC2019_JOINED_LESIONS = {"BCN_0004816": "BCN_0001604"}


def _isic2019_group(row: dict[str, str]) -> str:
    lesion = row["lesion_id"]
    return ISIC2019_JOINED_LESIONS.get(lesion, lesion) if lesion else f"image/{row['image_id']}"


def _rank_parts(labelled_groups: dict[str, bool], salt: str, fit_until: float, select_until: float) -> dict[str, str]:
    """Each group's part, ranked by a stable hash within the groups with and without a melanoma."""
    parts = {}
    for stratum in (True, False):
        group = sorted(
            (g for g, m in labelled_groups.items() if m == stratum), key=lambda g: stable_rank(f"{salt}/{g}")
        )
        for rank, name in enumerate(group):
            share = rank / len(group)
            parts[name] = "fit" if share < fit_until else "select" if share < select_until else "report"
    return parts


def isic2019_parts(folder: Path) -> dict[str, LabelledImages]:
    """The ISIC 2019 extra (84 px) as ``fit``, ``select`` and ``report`` parts (65/15/20), by lesion.

    Images without a ``lesion_id`` are their own group; lesions with a melanoma and lesions
    without are ranked separately so each part gets its share of both.
    """
    rows = _rows(folder, "labels.csv")
    images = _images(folder, rows, [_isic2019_group(row) for row in rows])
    return _cut(images, lambda groups: _rank_parts(groups, "isic2019-split", ISIC2019_FIT_UNTIL, ISIC2019_SELECT_UNTIL))
