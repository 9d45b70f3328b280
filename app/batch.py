"""Batch scoring: ``python -m app.batch INPUT_DIR OUTPUT_DIR [--batch-size N]``.

Writes ``OUTPUT_DIR/predictions.csv`` (``image,malignant``) and
``OUTPUT_DIR/masks/<stem>_segmentation.png`` (0/255, full input size) for every image
directly in INPUT_DIR. Unreadable files are skipped, listed at the end, and make the
exit status 1.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
from tqdm import tqdm

from app.errors import InvalidImageError, ModelLoadError
from app.inference import Predictor
from app.preprocessing import IMAGE_SUFFIXES, DecodedImage, decode_image

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def list_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.batch", description=__doc__.splitlines()[0])
    parser.add_argument("input_dir", type=Path, metavar="INPUT_DIR")
    parser.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default 16)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="folder of the models and cards")
    args = parser.parse_args(argv)
    if not args.input_dir.is_dir():
        parser.error(f"INPUT_DIR {args.input_dir} is not a directory")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        predictor = Predictor.from_directory(args.models)
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    paths = list_images(args.input_dir)
    masks_dir = args.output_dir / "masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    side = max(predictor.classifier.card.input_size, predictor.segmenter.card.input_size)
    failures: list[tuple[str, str]] = []
    seen_stems: set[str] = set()
    with (args.output_dir / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "malignant"])
        with tqdm(total=len(paths), desc="scoring", unit="image", file=sys.stderr) as progress:
            for start in range(0, len(paths), args.batch_size):
                batch: list[tuple[str, DecodedImage]] = []
                for path in paths[start : start + args.batch_size]:
                    if path.stem in seen_stems:
                        failures.append((path.name, f"another file already has the stem {path.stem!r}"))
                        continue
                    seen_stems.add(path.stem)
                    try:
                        batch.append((path.stem, decode_image(path, draft_side=2 * side)))
                    except (InvalidImageError, OSError) as error:
                        failures.append((path.name, str(error)))
                for (stem, _), analysis in zip(batch, predictor.analyze_batch([d for _, d in batch]), strict=True):
                    writer.writerow([stem, f"{analysis.probability:.6f}"])
                    cv2.imwrite(str(masks_dir / f"{stem}_segmentation.png"), analysis.mask)
                progress.update(min(args.batch_size, len(paths) - start))
    print(f"scored {len(paths) - len(failures)} of {len(paths)} images into {args.output_dir}", file=sys.stderr)
    if failures:
        print(f"skipped {len(failures)} files:", file=sys.stderr)
        for name, reason in failures:
            print(f"  {name}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
