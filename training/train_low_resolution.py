"""Train the low-resolution member of classifier version 4 on every dermoscopy source.

Example:
    python -m training.train_low_resolution --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \
        --archive ../shared/data/isic_archive --isic2020 ../shared/data/isic2020 \
        --isic2019 ../shared/data/isic2019 --backbone-weights imagenet

Each source's fit part feeds training; draws are balanced by source (each source's share grows with
the square root of its size, so ISIC 2019's 8,000 images cannot swamp ISIC 2017's 1,600), with flips,
quarter turns and colour gains. After every epoch the trunk is saved and scored on each source's
selection part; ``training.blend_low_resolution`` then chooses the epoch and the member's share.
Report parts are never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from lesion.model_card import read_card
from training.cli import backbone_weights, command_line, existing_dir, positive_int
from training.low_resolution import LOW_SIDE, build_low_resolution_trunk, set_tuned_layers, trunk_scores
from training.low_resolution_data import SOURCES, load_parts, reduced_cache

DEFAULT_MODELS = Path(__file__).resolve().parent.parent / "models"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data", "ham", "archive", "isic2020", "isic2019"):
        parser.add_argument(f"--{name}", type=existing_dir, required=True)
    parser.add_argument("--backbone-weights", type=backbone_weights, default="imagenet")
    parser.add_argument("--models", type=existing_dir, default=DEFAULT_MODELS, help="the classifier card's input size")
    parser.add_argument("--cache", type=Path, default=Path("build/low_resolution_cache"))
    parser.add_argument("--runs", type=Path, default=Path("build/low_resolution_runs"), help="epoch checkpoints")
    parser.add_argument("--epochs", type=positive_int, default=8)
    parser.add_argument("--epoch-size", type=positive_int, default=16000, help="draws per epoch")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--head-epochs", type=int, default=1, help="epochs that train the head alone first")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="fine-tuning rate (cosine decay)")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def source_shares(sizes: dict[str, int]) -> dict[str, float]:
    """Each source's share of the draws: proportional to the square root of its fit size."""
    roots = {name: float(np.sqrt(size)) for name, size in sizes.items() if size > 0}
    total = sum(roots.values())
    return {name: root / total for name, root in roots.items()}


def epoch_draws(fit_sources: list[str], shares: dict[str, float], size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices into the stacked fit images for one epoch, drawn by source share, uniform within a source."""
    names = np.asarray(fit_sources)
    probability = np.zeros(len(names))
    for name, share in shares.items():
        members = names == name
        probability[members] = share / members.sum()
    return rng.choice(len(names), size=size, replace=True, p=probability / probability.sum())


def augment(image: tf.Tensor) -> tf.Tensor:
    """Flips, a quarter turn and a colour gain of one reduced image (values 0-255)."""
    image = tf.image.random_flip_left_right(tf.image.random_flip_up_down(image))
    image = tf.image.rot90(image, tf.random.uniform((), 0, 4, dtype=tf.int32))
    gain = tf.random.uniform((1, 1, 3), 0.9, 1.1) * tf.random.uniform((), 0.85, 1.15)
    return tf.clip_by_value(image * gain, 0.0, 255.0)


def _batches(images: np.ndarray, labels: np.ndarray, weights: np.ndarray, batch_size: int) -> tf.data.Dataset:
    pairs = tf.data.Dataset.from_tensor_slices((images, labels, weights))
    pairs = pairs.map(lambda x, y, w: (augment(x), y, w), num_parallel_calls=tf.data.AUTOTUNE)
    return pairs.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def selection_aucs(probabilities: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, float]:
    """The AUC on each selection part (NaN where a part lacks one of the classes)."""
    return {
        name: float(roc_auc_score(labels[name], p)) if 0 < labels[name].sum() < len(p) else float("nan")
        for name, p in probabilities.items()
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    input_size = read_card(args.models / "classifier.json").input_size
    parts = load_parts(args)
    fit, selection = (
        {name: reduced_cache(parts[name][part], input_size, args.cache / f"{name}-{part}") for name in SOURCES}
        for part in ("fit", "select")
    )
    images = np.concatenate([fit[name][0] for name in SOURCES])
    labels = np.concatenate([fit[name][1] for name in SOURCES]).astype(np.float32)
    origin = [name for name in SOURCES for _ in range(len(fit[name][1]))]
    shares = source_shares({name: len(fit[name][1]) for name in SOURCES})
    positive = float(sum(shares[name] * fit[name][1].mean() for name in SOURCES))
    weights = np.where(labels > 0.5, 0.5 / positive, 0.5 / (1 - positive)).astype(np.float32)
    selection_labels = {name: part[1] for name, part in selection.items()}
    fitted_on = {name: {"images": len(fit[name][1]), "melanoma": int(fit[name][1].sum())} for name in SOURCES}
    print(f"fit images {len(labels)}, shares {shares}, mixture melanoma share {positive:.3f}", file=sys.stderr)

    trunk = build_low_resolution_trunk(LOW_SIDE, args.backbone_weights)
    rng = np.random.default_rng(args.seed)
    args.runs.mkdir(parents=True, exist_ok=True)
    history = []
    for epoch in range(1, args.epochs + 1):
        if epoch in (1, min(args.head_epochs + 1, args.epochs)):
            # A new head first (the backbone frozen), then fine-tuning at a lower, decaying rate with
            # clipped steps: a full-rate start wrecked the ImageNet features (every output the same).
            tuning = epoch > args.head_epochs
            set_tuned_layers(trunk, tuning)
            steps = (args.epochs - args.head_epochs) * (args.epoch_size // args.batch_size)
            rate = keras.optimizers.schedules.CosineDecay(args.learning_rate, max(steps, 1)) if tuning else 1e-3
            trunk.compile(keras.optimizers.Adam(rate, clipnorm=1.0), keras.losses.BinaryCrossentropy())
        draws = epoch_draws(origin, shares, args.epoch_size, rng)
        fitted = trunk.fit(_batches(images[draws], labels[draws], weights[draws], args.batch_size), verbose=2)
        aucs = selection_aucs(
            trunk_scores(trunk, {name: part[0] for name, part in selection.items()}), selection_labels
        )
        trunk.save(args.runs / f"epoch_{epoch:02d}.keras")
        record = {"epoch": epoch, "loss": float(fitted.history["loss"][-1])}
        record.update({f"{name}_select_auc": round(auc, 4) for name, auc in aucs.items()})
        history.append(record)
        print(json.dumps(record), file=sys.stderr, flush=True)
        summary = {"command": command_line(), "shares": shares, "fit": fitted_on, "history": history}
        (args.runs / "history.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
