"""The quality gate's data: every source as fitting or report images, with the gate's inputs.

Dermoscopy fits from ISIC 2017 ``train/``, the HAM10000 ``fit`` part, the ISIC 2020 ``fit`` and
``select`` patients and the ISIC archive extra; ISIC ``val/``, the held-out HAM10000 lesions and
the ISIC 2020 ``report`` patients only report. Smartphone photos of skin lesions (PAD-UFES-20)
are split by patient and everyday photos (``training.negatives``) by group, with the project's
stable hash; their held-out part only reports.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lesion.inference import LoadedModel
from lesion.preprocessing import prepare_image, resize_for_model
from lesion.quality import DERMOSCOPY, KINDS, SKIN_PHOTO, image_features
from training.data import read_split
from training.negatives import clinical_photos, negative_corpus
from training.sources import archive_parts, isic2020_parts
from training.splits import held_out, read_ham

#: Share of clinical-photo patients kept for reporting only.
CLINICAL_HELD_OUT = 0.35
#: The dermoscopy sources (each must pass on its own) and the clinical photos' source name.
DERMOSCOPY_SOURCES = ("isic2017", "ham10000", "isic2020", "isic_archive")
CLINICAL = "clinical photos"


@dataclass(frozen=True)
class GateData:
    """One row per image: the gate's input, its kind (index into ``KINDS``), source, group and role."""

    inputs: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    groups: np.ndarray
    #: True for images the gate is fitted and chosen on; False for report-only images.
    fits: np.ndarray

    def subset(self, keep: np.ndarray) -> GateData:
        return GateData(*(getattr(self, name)[keep] for name in ("inputs", "labels", "sources", "groups", "fits")))

    def save(self, path: Path) -> None:
        np.savez(path, **{name: getattr(self, name) for name in ("inputs", "labels", "sources", "groups", "fits")})

    @classmethod
    def load(cls, path: Path) -> GateData:
        with np.load(path, allow_pickle=False) as stored:
            return cls(*(stored[name] for name in ("inputs", "labels", "sources", "groups", "fits")))


@dataclass(frozen=True)
class _Part:
    images: Sequence
    label: int | Sequence[int]
    source: str | Sequence[str]
    groups: Sequence[str]
    fits: bool | Sequence[bool]


def gate_inputs(classifier: LoadedModel, images: Sequence, load: Callable, batch_size: int = 32) -> np.ndarray:
    """The gate's input for each image (frozen features, then ``image_features``), made model-sized by ``load``."""
    side = classifier.card.input_size
    rows = []
    for start in tqdm(range(0, len(images), batch_size), desc="features", unit="batch", file=sys.stderr):
        batch = np.stack([load(image, side) for image in images[start : start + batch_size]])
        measured = np.stack([image_features(image) for image in batch])
        rows.append(np.hstack([classifier.predict_all(batch)[1], measured]))
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)


def from_path(path: Path, side: int) -> np.ndarray:
    return prepare_image(path, side)[0]


def _parts(folders: dict[str, Path]) -> list[_Part]:
    """Every source's images with kind, source, group and role (no pixels read yet, except generated ones)."""
    derm = KINDS.index(DERMOSCOPY)
    isic_train, isic_val = read_split(folders["data"] / "train"), read_split(folders["data"] / "val")
    parts = [
        _Part(isic_train.image_paths, derm, "isic2017", [f"isic/{p.stem}" for p in isic_train.image_paths], True),
        _Part(isic_val.image_paths, derm, "isic2017", [f"isic/{p.stem}" for p in isic_val.image_paths], False),
    ]
    for part in ("fit", "held_out"):
        ham = read_ham(folders["ham"], part)
        parts.append(_Part(ham.paths, derm, "ham10000", [f"ham/{g}" for g in ham.lesion_ids], part == "fit"))
    for name, images in isic2020_parts(folders["isic2020"]).items():
        parts.append(_Part(images.paths, derm, "isic2020", [f"isic2020/{g}" for g in images.groups], name != "report"))
    for images in archive_parts(folders["archive"]).values():
        parts.append(_Part(images.paths, derm, "isic_archive", [f"archive/{g}" for g in images.groups], True))
    paths, patients = clinical_photos(folders["clinical"])
    groups = [f"clinical/{patient}" for patient in patients]
    reported = [held_out(group, CLINICAL_HELD_OUT) for group in groups]
    parts.append(_Part(paths, KINDS.index(SKIN_PHOTO), CLINICAL, groups, [not r for r in reported]))
    negatives = negative_corpus()
    parts.append(
        _Part(
            [n.rgb for n in negatives],
            [KINDS.index(n.kind) for n in negatives],
            [n.source for n in negatives],
            [n.group for n in negatives],
            [not held_out(n.group) for n in negatives],
        )
    )
    return parts


def gate_data(classifier: LoadedModel, folders: dict[str, Path]) -> GateData:
    """Read and measure every image of every source once (one forward pass each)."""
    inputs, labels, sources, groups, fits = [], [], [], [], []
    for part in _parts(folders):
        count = len(part.images)
        in_memory = count and isinstance(part.images[0], np.ndarray)
        inputs.append(gate_inputs(classifier, part.images, resize_for_model if in_memory else from_path))
        labels.append(np.broadcast_to(np.asarray(part.label), count))
        sources.append(np.broadcast_to(np.asarray(part.source), count))
        groups.append(np.asarray(part.groups))
        fits.append(np.broadcast_to(np.asarray(part.fits), count))
    return GateData(
        np.concatenate(inputs).astype(np.float32),
        np.concatenate(labels).astype(int),
        np.concatenate(sources).astype(str),
        np.concatenate(groups).astype(str),
        np.concatenate(fits).astype(bool),
    )
