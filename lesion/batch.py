"""Score image files in batches: the one scoring path shared by the plain and the Ray engine."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from lesion.errors import InvalidImageError
from lesion.inference import Predictor
from lesion.preprocessing import IMAGE_SUFFIXES, decode_image


@dataclass(frozen=True)
class Scored:
    """One input file's outcome: its probability and PNG mask, or why it could not be read."""

    name: str
    probability: float | None = None
    mask_png: bytes | None = None
    error: str | None = None


def list_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def score_files(predictor: Predictor, files: Sequence[tuple[str, bytes]]) -> list[Scored]:
    """Decode and analyse (name, bytes) pairs in one forward pass per model: the one scoring path of every engine."""
    side = max(predictor.classifier.card.input_size, predictor.segmenter.card.input_size)
    decoded, failed = [], []
    for name, data in files:
        try:
            decoded.append((name, decode_image(data, draft_side=2 * side)))
        except (InvalidImageError, OSError) as error:
            failed.append(Scored(name, error=str(error)))
    analyses = predictor.analyze_batch([image for _, image in decoded])
    scored = [
        Scored(name, analysis.probability, cv2.imencode(".png", analysis.mask)[1].tobytes())
        for (name, _), analysis in zip(decoded, analyses, strict=True)
    ]
    return scored + failed


def score_locally(models: Path, paths: list[Path], batch_size: int) -> Iterator[Scored]:
    """Score image files with one predictor in this process, ``batch_size`` at a time."""
    predictor = Predictor.from_directory(models)
    for start in range(0, len(paths), batch_size):
        yield from score_files(predictor, [(p.name, p.read_bytes()) for p in paths[start : start + batch_size]])
