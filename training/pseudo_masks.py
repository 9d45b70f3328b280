"""Pseudo-masks for self-training: a segmenter's confident outlines on dermoscopy photos without masks.

The teacher sees each photo in three views (as served, flipped left-right, flipped up-down); a
photo is kept only when the views agree and the outline is sharp, so the student learns the
teacher's sure answers on other clinics' photos and not its guesses. Only parts that may be
fitted are read: the HAM10000 fit part (one photo per lesion), the ISIC 2020 fit and selection
patients and the ISIC archive extra; every report part stays unseen.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np

from lesion.postprocessing import flip_views, mask_from_probability, unflip_views
from training.data import IsicSplit, model_inputs
from training.sources import archive_parts, isic2020_parts
from training.splits import held_out, read_ham

#: A photo is kept when its views' masks overlap at least this much (intersection over union)...
MIN_VIEW_AGREEMENT = 0.93
#: ...its uncertain pixels (probability between 0.1 and 0.9) are at most this share of its lesion pixels
#: (the outline's soft edge alone is about a fifth on ISIC train/ photos)...
MAX_UNCERTAIN_SHARE = 0.35
#: ...and the lesion covers this share of the frame (nothing found, or the whole frame, is a guess).
AREA_SHARE_RANGE = (0.02, 0.90)


@dataclass(frozen=True)
class Teaching:
    """The teacher's verdict on one photo: its mask at the model's side and how sure it is."""

    mask: np.ndarray
    view_agreement: float
    uncertain_share: float
    area_share: float

    @property
    def confident(self) -> bool:
        low, high = AREA_SHARE_RANGE
        return (
            self.view_agreement >= MIN_VIEW_AGREEMENT
            and self.uncertain_share <= MAX_UNCERTAIN_SHARE
            and low <= self.area_share <= high
        )

    @property
    def confidence(self) -> float:
        """One number to rank confident photos by: agreement discounted by uncertainty."""
        return self.view_agreement * (1.0 - self.uncertain_share)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def judge(views: np.ndarray) -> Teaching:
    """A :class:`Teaching` from one photo's un-flipped probability maps (views x H x W)."""
    side = views.shape[1]
    merged = views.mean(axis=0)
    mask = mask_from_probability(merged, (side, side), 0.5) > 0
    agreement = min(_iou(mask, mask_from_probability(view, (side, side), 0.5) > 0) for view in views)
    area = float(mask.mean())
    uncertain = float(((merged > 0.1) & (merged < 0.9)).sum() / max(mask.sum(), 1))
    return Teaching(mask.astype(np.uint8) * 255, agreement, uncertain, area)


def teach(teacher: keras.Model, images: np.ndarray, batch_size: int = 16) -> list[Teaching]:
    """The teacher's verdict on each image of a uint8 NHWC batch (three flip views each)."""
    verdicts = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32)
        outputs = np.asarray(teacher.predict_on_batch(flip_views(batch, 3)))[..., 0]
        for views in zip(*unflip_views(outputs, 3), strict=True):
            verdicts.append(judge(np.stack(views)))
    return verdicts


def unlabelled_sources(
    ham: Path | None, isic2020: Path | None, archive: Path | None, per_source: int
) -> dict[str, list[Path]]:
    """Up to ``per_source`` candidate photos of each source (chosen by a stable hash, not at random)."""
    sources: dict[str, list[Path]] = {}
    if ham is not None:
        images = read_ham(ham, "fit")
        first_of_lesion = dict(zip(reversed(images.lesion_ids), reversed(images.paths), strict=True))
        sources["ham10000"] = sorted(first_of_lesion.values())
    if isic2020 is not None:
        parts = isic2020_parts(isic2020)
        sources["isic2020"] = sorted([*parts["fit"].paths, *parts["select"].paths])
    if archive is not None:
        parts = archive_parts(archive)
        sources["isic_archive"] = sorted([*parts["fit"].paths, *parts["select"].paths])
    return {name: _stable_sample(paths, name, per_source) for name, paths in sources.items()}


def _stable_sample(paths: Sequence[Path], source: str, count: int) -> list[Path]:
    """``count`` of ``paths`` ranked by a hash of their names (every run picks the same photos)."""
    if len(paths) <= count:
        return list(paths)
    fraction = count / len(paths)
    ranked = sorted(paths, key=lambda path: (not held_out(f"pseudo/{source}/{path.stem}", fraction), path.stem))
    return sorted(ranked[:count])


def write_pseudo_masks(
    teacher: keras.Model,
    sources: dict[str, list[Path]],
    out_dir: Path,
    side: int,
    keep_share: float,
) -> tuple[IsicSplit, dict[str, dict[str, int]]]:
    """Judge every candidate, keep the most confident ``keep_share`` of each source's confident ones.

    Writes the kept masks (0/255 PNG at ``side``) and ``pseudo_masks.csv`` into ``out_dir`` and
    returns them as a mask split for training, with counts per source.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, counts = [], {}
    for source, paths in sources.items():
        verdicts = teach(teacher, model_inputs(paths, side))
        confident = sorted(
            (pair for pair in zip(paths, verdicts, strict=True) if pair[1].confident),
            key=lambda pair: -pair[1].confidence,
        )
        kept = confident[: round(keep_share * len(confident))]
        counts[source] = {"candidates": len(paths), "confident": len(confident), "kept": len(kept)}
        for path, verdict in kept:
            mask_path = out_dir / f"{source}-{path.stem}.png"
            cv2.imwrite(str(mask_path), verdict.mask)
            rows.append(
                {
                    "source": source,
                    "image": str(path),
                    "mask": str(mask_path),
                    "view_agreement": round(verdict.view_agreement, 4),
                    "uncertain_share": round(verdict.uncertain_share, 4),
                }
            )
    with (out_dir / "pseudo_masks.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["source", "image", "mask"])
        writer.writeheader()
        writer.writerows(rows)
    return as_split(rows), counts


def as_split(rows: list[dict]) -> IsicSplit:
    """Pseudo-mask rows as an :class:`IsicSplit` (labels unknown: zeros, never read by the segmenter)."""
    zeros = np.zeros(len(rows), np.float32)
    return IsicSplit(
        tuple(f"{row['source']}-{Path(row['image']).stem}" for row in rows),
        tuple(Path(row["image"]) for row in rows),
        tuple(Path(row["mask"]) for row in rows),
        zeros,
        zeros.copy(),
    )
