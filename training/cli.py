"""Command-line arguments and run set-up shared by the training tools."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import date
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.data import IsicSplit, read_split


def existing_dir(value: str) -> Path:
    path = Path(value)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{value} is not a directory")
    return path


def backbone_weights(value: str) -> str:
    """Accept 'imagenet', 'none', or an existing weights file."""
    if value.lower() in ("imagenet", "none") or Path(value).is_file():
        return value
    raise argparse.ArgumentTypeError(f"{value} is neither 'imagenet', 'none' nor an existing file")


def positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return number


def training_parser(description: str, *, image_size: int, epochs: int, out: str) -> argparse.ArgumentParser:
    """The arguments every training tool takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--data",
        type=existing_dir,
        required=True,
        help="ISIC folder holding train/ and val/ (images/, masks/, labels.csv)",
    )
    parser.add_argument(
        "--backbone-weights",
        type=backbone_weights,
        default="imagenet",
        help="'imagenet' (Keras download), a .weights.h5 file, or 'none'",
    )
    parser.add_argument("--epochs", type=positive_int, default=epochs)
    parser.add_argument("--image-size", type=positive_int, default=image_size)
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--out", type=Path, default=Path(out), help="where to write the .keras model")
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow threads (0 = all cores)")
    parser.add_argument(
        "--limit", type=positive_int, default=None, help="use only the first N images of each split (smoke tests)"
    )
    return parser


def start_run(args: argparse.Namespace) -> tuple[IsicSplit, IsicSplit]:
    """Seed everything, set threads, and read the train and val splits."""
    keras.utils.set_random_seed(args.seed)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    train, val = read_split(args.data / "train"), read_split(args.data / "val")
    if args.limit:
        train, val = (split.subset(np.arange(min(args.limit, len(split)))) for split in (train, val))
    return train, val


#: The card's ``training_data`` entries (named, with their licence, in the page's footer).
ISIC_2017 = {"name": "ISIC 2017 challenge data", "licence": "CC-0"}
HAM10000 = {"name": "HAM10000", "licence": "CC BY-NC-SA 4.0"}


def run_record(args: argparse.Namespace, train: IsicSplit, val: IsicSplit) -> dict:
    """The card's provenance block: data, exact command, date."""
    return {
        "training_data": [ISIC_2017],
        "data": {
            "source": "ISIC 2017 (Codella et al., ISBI 2018, arXiv:1710.05006), CC-0",
            "train_images": len(train),
            "train_melanoma": int(train.melanoma.sum()),
            "val_images": len(val),
            "val_melanoma": int(val.melanoma.sum()),
        },
        "training": {
            "command": command_line(),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "backbone_weights": Path(args.backbone_weights).name,
        },
        "date": date.today().isoformat(),
    }


#: Options naming a local scratch folder: no part of the recipe, so left out of recorded commands.
LOCAL_OPTIONS = ("--cache",)


def command_line(argv: list[str] | None = None) -> str:
    """The running command as ``python -m module args...``, without local scratch options (``LOCAL_OPTIONS``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    kept = []
    while args:
        arg = args.pop(0)
        if arg in LOCAL_OPTIONS:
            args = args[1:]
        elif arg.split("=", 1)[0] not in LOCAL_OPTIONS:
            kept.append(arg)
    return "python -m " + " ".join(shlex.quote(a) for a in [_module_name(), *kept])


def _module_name() -> str:
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).stem


def history_path(model: Path) -> Path:
    """Where a run keeps its per-epoch selection scores: beside the checkpoints, not in the card."""
    return Path(model).parent / ".checkpoints" / f"{Path(model).stem}-history.json"


def write_history(model: Path, history: list[dict]) -> None:
    """Keep a run's per-epoch scores (docs/MODELS.md tabulates the shipped models'; the card states the choice)."""
    path = history_path(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(history, indent=1) + "\n", encoding="utf-8")


def read_history(model: Path) -> list[dict]:
    """The per-epoch scores :func:`write_history` kept for a model, or [] when there are none."""
    path = history_path(model)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
