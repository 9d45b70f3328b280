"""Every cut of the data: what fits, what selects, what only reports.

A stable hash of each group's name (image or lesion id) decides its part, so every run cuts the
same parts. HAM10000 (reduced to 200x150) is first split by lesion into a ``fit`` part and the
``held_out`` lesions. ISIC ``train/`` is cut into a fit part and a selection part (by image); the
HAM10000 fit part is cut the same way by lesion. Epochs, ensembles, calibration and the
threshold are chosen on the two selection parts. ISIC ``val/`` and the HAM10000 held-out
lesions choose nothing: they are only reported. The quality gate's negatives are held out by
source group with the same hash.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import IsicSplit

#: Share of ISIC ``train/`` images, and of HAM10000 fit-part lesions, set aside for selection.
SELECTION_FRACTION = 0.2
#: Share of HAM10000 lesions kept out of every fit and selection, for reporting only.
HELD_OUT_FRACTION = 0.3


def stable_rank(name: str) -> float:
    """A stable number in [0, 1) for a name (a hash, not a random draw): every run cuts the same parts."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") / 2**32


def held_out(group: str, fraction: float = 0.35) -> bool:
    """Whether a group belongs to the held-out part (a stable hash of its name, not a random draw)."""
    return stable_rank(group) < fraction


@dataclass(frozen=True)
class HamImages:
    """Image paths with their lesion, diagnosis and melanoma label (1 for ``mel``)."""

    paths: tuple[Path, ...]
    lesion_ids: tuple[str, ...]
    diagnoses: tuple[str, ...]

    @property
    def melanoma(self) -> tuple[int, ...]:
        return tuple(int(dx == "mel") for dx in self.diagnoses)


def read_ham(folder: Path, part: str = "all") -> HamImages:
    """HAM10000 images of one part, split by ``lesion_id`` so no lesion is in two parts.

    Args:
        folder: the folder with ``metadata.csv`` and ``images/``.
        part: ``"fit"`` (usable for fitting and selection), ``"held_out"`` (reporting only) or ``"all"``.
    """
    if part not in ("fit", "held_out", "all"):
        raise ValueError(f"part must be fit, held_out or all. Received part={part!r}")
    rows = []
    with (Path(folder) / "metadata.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            kept_out = held_out(f"ham10000/{row['lesion_id']}", HELD_OUT_FRACTION)
            if part == "all" or kept_out == (part == "held_out"):
                rows.append((Path(folder) / "images" / f"{row['image_id']}.jpg", row["lesion_id"], row["dx"]))
    rows.sort()
    return HamImages(tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows))


@dataclass(frozen=True)
class LabelledImages:
    """Image files with melanoma labels and the group (lesion or image) each belongs to."""

    paths: tuple[Path, ...]
    melanoma: np.ndarray
    groups: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, keep: np.ndarray) -> LabelledImages:
        chosen = np.flatnonzero(keep)
        return LabelledImages(
            tuple(self.paths[i] for i in chosen), self.melanoma[chosen], tuple(self.groups[i] for i in chosen)
        )


@dataclass(frozen=True)
class ClassifierParts:
    """Fit and selection parts per source; ``report`` parts are for measurement only."""

    isic_fit: LabelledImages
    isic_select: LabelledImages
    ham_fit: LabelledImages
    ham_select: LabelledImages
    isic_report: LabelledImages
    ham_report: LabelledImages

    def summary(self) -> dict[str, dict[str, int]]:
        return {
            name: {"images": len(part), "melanoma": int(part.melanoma.sum())}
            for name, part in vars(self).items()
            if isinstance(part, LabelledImages)
        }


def from_isic(split: IsicSplit) -> LabelledImages:
    return LabelledImages(split.image_paths, np.asarray(split.melanoma, np.float32), split.image_ids)


def from_ham(folder: Path, part: str) -> LabelledImages:
    ham = read_ham(folder, part)
    return LabelledImages(ham.paths, np.asarray(ham.melanoma, np.float32), ham.lesion_ids)


def selection_mask(images: LabelledImages, source: str) -> np.ndarray:
    """True for the images whose group falls in the selection part (a stable hash of the group)."""
    return np.array([held_out(f"{source}-selection/{group}", SELECTION_FRACTION) for group in images.groups])


def split_isic(train: IsicSplit) -> tuple[IsicSplit, IsicSplit]:
    """ISIC ``train/`` as (fit, selection) splits with masks: the same images as the classifier's parts."""
    chosen = selection_mask(from_isic(train), "isic2017")
    if len(chosen) >= 2 and (chosen.all() or not chosen.any()):
        chosen[0] = not chosen[0]  # only tiny folders (smoke runs) need this: both parts non-empty
    return train.subset(np.flatnonzero(~chosen)), train.subset(np.flatnonzero(chosen))


def classifier_parts(train: IsicSplit, val: IsicSplit, ham_folder: Path) -> ClassifierParts:
    """Cut ISIC ``train/`` and the HAM10000 fit part into fit and selection parts."""
    isic = from_isic(train)
    ham = from_ham(ham_folder, "fit")
    isic_select, ham_select = selection_mask(isic, "isic2017"), selection_mask(ham, "ham10000")
    return ClassifierParts(
        isic_fit=isic.subset(~isic_select),
        isic_select=isic.subset(isic_select),
        ham_fit=ham.subset(~ham_select),
        ham_select=ham.subset(ham_select),
        isic_report=from_isic(val),
        ham_report=from_ham(ham_folder, "held_out"),
    )
