"""Every dermoscopy source's fit and selection parts, reduced once to the low-resolution member's input."""

from __future__ import annotations

import argparse
import hashlib
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lesion.preprocessing import prepare_image
from training.data import read_split
from training.low_resolution import build_reduction
from training.sources import archive_parts, isic2019_parts, isic2020_parts
from training.splits import LabelledImages, classifier_parts

#: The sources, in a fixed order (names used in caches, histories and cards).
SOURCES = ("isic2017", "ham10000", "archive", "isic2020", "isic2019")


def load_parts(args: argparse.Namespace) -> dict[str, dict[str, LabelledImages]]:
    """Each source's ``fit`` and ``select`` parts (and ``report`` where the source has one)."""
    train, val = read_split(args.data / "train"), read_split(args.data / "val")
    base = classifier_parts(train, val, args.ham)
    return {
        "isic2017": {"fit": base.isic_fit, "select": base.isic_select, "report": base.isic_report},
        "ham10000": {"fit": base.ham_fit, "select": base.ham_select, "report": base.ham_report},
        "archive": archive_parts(args.archive),
        "isic2020": isic2020_parts(args.isic2020),
        "isic2019": isic2019_parts(args.isic2019),
    }


def _prepared(job: tuple[str, int]) -> np.ndarray:
    path, side = job
    return prepare_image(path, side)[0]


def model_sized(paths: tuple[Path, ...], side: int, workers: int = 2) -> np.ndarray:
    """The classifier's model-sized uint8 RGB of each file, through the shared preprocessing."""
    with ProcessPoolExecutor(workers) as pool:
        jobs = [(str(path), side) for path in paths]
        rows = list(tqdm(pool.map(_prepared, jobs, chunksize=64), total=len(jobs), file=sys.stderr, desc="decoding"))
    return np.stack(rows)


def reduced_cache(part: LabelledImages, input_size: int, stem: Path) -> tuple[np.ndarray, np.ndarray]:
    """(reduced float32 images, labels) of a part, computed once and cached as ``<stem>.npz``."""
    key = hashlib.sha256("\n".join([str(input_size), *map(str, part.paths)]).encode()).hexdigest()[:16]
    path = stem.with_name(f"{stem.name}-{key}.npz")
    if path.is_file():
        with np.load(path) as cached:
            return cached["images"], cached["labels"]
    reduction = build_reduction(input_size)
    sized = model_sized(part.paths, input_size)
    reduced = np.concatenate(
        [reduction.predict(sized[i : i + 256].astype(np.float32), verbose=0) for i in range(0, len(sized), 256)]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, images=reduced, labels=part.melanoma)
    return reduced, part.melanoma
