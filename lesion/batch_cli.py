"""Batch scoring: ``python -m app.batch INPUT_DIR OUTPUT_DIR [--batch-size N] [--engine local|ray]``.

Writes ``OUTPUT_DIR/predictions.csv`` (``image,malignant``) and
``OUTPUT_DIR/masks/<stem>_segmentation.png`` (0/255, full input size) for every image
directly in INPUT_DIR. Unreadable files are skipped, listed at the end, and make the
exit status 1. ``--engine ray`` spreads the work over Ray actors (local Ray, or the cluster
at ``--ray-address``) and writes the same files.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from tqdm import tqdm

from lesion.batch import list_images, score_locally
from lesion.errors import ModelLoadError
from lesion.model_files import check_model_files

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.batch", description=__doc__.splitlines()[0])
    parser.add_argument("input_dir", type=Path, metavar="INPUT_DIR")
    parser.add_argument("output_dir", type=Path, metavar="OUTPUT_DIR")
    parser.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default 16)")
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="folder of the models and cards")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="where to score (default local)")
    parser.add_argument("--ray-address", help="Ray cluster address (default: start Ray on this machine)")
    parser.add_argument("--ray-actors", type=int, help="model-holding Ray actors (default: one per CPU)")
    args = parser.parse_args(argv)
    if not args.input_dir.is_dir():
        parser.error(f"INPUT_DIR {args.input_dir} is not a directory")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.engine != "ray" and (args.ray_address or args.ray_actors):
        parser.error("--ray-address and --ray-actors go with --engine ray")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    problem = check_model_files(args.models)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    listed, paths, failures = list_images(args.input_dir), [], []
    seen_stems: set[str] = set()
    for path in listed:
        if path.stem in seen_stems:
            failures.append((path.name, f"another file already has the stem {path.stem!r}"))
        else:
            seen_stems.add(path.stem)
            paths.append(path)
    try:
        if args.engine == "ray":
            from lesion.batch_ray import score_with_ray

            outcomes = score_with_ray(args.models, paths, args.batch_size, args.ray_address, args.ray_actors)
        else:
            outcomes = score_locally(args.models, paths, args.batch_size)
        masks_dir = args.output_dir / "masks"
        masks_dir.mkdir(parents=True, exist_ok=True)
        probabilities: dict[str, float] = {}
        for outcome in tqdm(outcomes, total=len(paths), desc="scoring", unit="image", file=sys.stderr):
            if outcome.error is not None:
                failures.append((outcome.name, outcome.error))
                continue
            stem = Path(outcome.name).stem
            probabilities[stem] = outcome.probability
            (masks_dir / f"{stem}_segmentation.png").write_bytes(outcome.mask_png)
    except ModelLoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with (args.output_dir / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "malignant"])
        writer.writerows([path.stem, f"{probabilities[path.stem]:.6f}"] for path in paths if path.stem in probabilities)
    print(f"scored {len(probabilities)} of {len(listed)} images into {args.output_dir}", file=sys.stderr)
    if failures:
        print(f"skipped {len(failures)} files:", file=sys.stderr)
        for name, reason in sorted(failures):
            print(f"  {name}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
