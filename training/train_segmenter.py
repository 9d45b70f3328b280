"""Train the MobileNetV2 U-Net lesion segmenter with BCE + Dice.

Example:
    python -m training.train_segmenter --data ../shared/data/isic2017 \
        --backbone-weights ../shared/weights/mobilenet_v2_1.0_imagenet_no_top.weights.h5

Fits on the ISIC ``train/`` fit part of ``training.splits`` and chooses the epoch on its
selection part (the same images as the classifier's); ISIC ``val/`` is never read here. With
``--refit-epochs K`` the chosen model then trains K more epochs on all of ``train/`` (fit and
selection parts) at a lower learning rate, and its last weights are kept: a count fixed in
advance, since no image is left to choose on.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from lesion.model_card import read_card, write_card
from lesion.postprocessing import flip_views, mask_from_probability, merge_views
from training.architectures import build_unet
from training.callbacks import ProgressBar, ValidationCheckpoint
from training.cli import read_history, run_record, start_run, training_parser, write_history
from training.cost import gflops
from training.data import IsicSplit, load_mask, model_inputs, segmentation_dataset
from training.losses import bce_dice_loss
from training.metrics import segmentation_scores
from training.snapshots import average_snapshots
from training.splits import split_isic

#: Pixels with probability >= this are lesion.
DEFAULT_THRESHOLD = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = training_parser(__doc__.splitlines()[0], image_size=224, epochs=14, out="models/segmenter.keras")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument(
        "--full-resolution", type=int, default=16, help="width of the full-resolution decoder stage (0 = none)"
    )
    parser.add_argument(
        "--plain-augmentation", action="store_true", help="no colour cast, resolution loss or wider scale"
    )
    parser.add_argument(
        "--select-on-val",
        action="store_true",
        help="version 1's recipe, kept to reproduce the shipped segmenter: fit on all of train/ and choose "
        "the epoch on val/ (whose figures are then optimistic)",
    )
    parser.add_argument(
        "--average-last", type=int, default=4, help="also try the average of the last N epochs' weights"
    )
    parser.add_argument(
        "--refit-epochs",
        type=int,
        default=0,
        help="then train this many epochs on all of train/ (fit + selection parts) and keep the last weights",
    )
    parser.add_argument("--refit-learning-rate", type=float, default=3e-4, help="peak learning rate of the refit")
    parser.add_argument(
        "--initial-model",
        type=Path,
        default=None,
        help="a segmenter this tool wrote (with its card): skip the first stage and refit it",
    )
    args = parser.parse_args(argv)
    if args.initial_model is not None and args.refit_epochs <= 0:
        parser.error("--initial-model needs --refit-epochs")
    if args.refit_epochs and args.select_on_val:
        parser.error("--refit-epochs refits on the selection part; version 1's recipe has none")
    return args


def predict_masks(
    model: keras.Model,
    images: np.ndarray,
    sizes: list[tuple[int, int]],
    threshold: float,
    views: int = 1,
    batch_size: int = 16,
) -> list[np.ndarray]:
    """Full-size 0/255 masks for a uint8 NHWC batch, through the serving post-processing."""
    masks = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].astype(np.float32)
        probabilities = merge_views(np.asarray(model.predict_on_batch(flip_views(batch, views))), views, spatial=True)
        for offset, probability in enumerate(probabilities):
            masks.append(mask_from_probability(probability, sizes[start + offset], threshold))
    return masks


def mask_scorer(split: IsicSplit, side: int) -> Callable[..., dict[str, float]]:
    """``score(model, views=1)``: the ISIC metrics of a model's served masks on ``split`` (read once)."""
    images = model_inputs(split.image_paths, side)
    truths = [load_mask(path) for path in split.mask_paths]
    sizes = [(truth.shape[1], truth.shape[0]) for truth in truths]

    def score(model: keras.Model, views: int = 1) -> dict[str, float]:
        return segmentation_scores(truths, predict_masks(model, images, sizes, DEFAULT_THRESHOLD, views))

    return score


def compile_for(model: keras.Model, peak_learning_rate: float, epochs: int, steps: int) -> None:
    """AdamW with one warm-up epoch, then cosine decay to 1% of the peak over ``epochs``."""
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, epochs * steps, alpha=0.01, warmup_target=peak_learning_rate, warmup_steps=steps
    )
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4), loss=bce_dice_loss)


def fit_and_select(args: argparse.Namespace, fit: IsicSplit, select: IsicSplit) -> tuple[dict, list[dict]]:
    """Stage 1: fit, choose the epoch on ``select``; writes the chosen model to ``args.out``."""
    size = args.image_size
    train_data = segmentation_dataset(
        fit, size, args.batch_size, training=True, seed=args.seed, other_clinics=not args.plain_augmentation
    )
    score = mask_scorer(select, size)
    steps = int(np.ceil(len(fit) / args.batch_size))
    checkpoint_dir = args.out.parent / ".checkpoints"
    model = build_unet(size, args.backbone_weights, full_resolution=args.full_resolution)
    compile_for(model, args.learning_rate, args.epochs, steps)
    checkpoint = ValidationCheckpoint(score, "jaccard", args.out, checkpoint_dir, "segmenter")
    model.fit(
        train_data, epochs=args.epochs, verbose=0, callbacks=[ProgressBar(args.epochs, steps, "U-Net"), checkpoint]
    )
    chosen = dict(checkpoint.best_metrics, selection=f"best epoch ({checkpoint.best_metrics['epoch']})")
    if average_snapshots(model, checkpoint_dir, "segmenter", args.average_last, args.epochs) is not None:
        metrics = score(model)
        print(f"average of the last {args.average_last} epochs: {metrics}")
        if metrics["jaccard"] > checkpoint.best_value:
            model.save(args.out)
            chosen = dict(metrics, selection=f"mean weights of the last {args.average_last} epochs")
    return chosen, checkpoint.history


def refit(model: keras.Model, train: IsicSplit, args: argparse.Namespace) -> None:
    """Stage 2: ``args.refit_epochs`` more epochs on all of ``train``, weights saved every epoch."""
    steps = int(np.ceil(len(train) / args.batch_size))
    data = segmentation_dataset(
        train,
        args.image_size,
        args.batch_size,
        training=True,
        seed=args.seed + 1,
        other_clinics=not args.plain_augmentation,
    )
    compile_for(model, args.refit_learning_rate, args.refit_epochs, steps)
    every_epoch = keras.callbacks.ModelCheckpoint(
        str(args.out.parent / ".checkpoints" / "segmenter-refit-epoch{epoch:03d}.weights.h5"), save_weights_only=True
    )
    model.fit(
        data,
        epochs=args.refit_epochs,
        verbose=0,
        callbacks=[ProgressBar(args.refit_epochs, steps, "U-Net refit"), every_epoch],
    )


def _card(args: argparse.Namespace, train, val, best: keras.Model, architecture: str, selection) -> dict:
    """The segmenter card a run writes (``training.evaluate`` adds the measured figures)."""
    size = args.image_size
    other_clinics = not args.plain_augmentation
    return {
        "name": "segmenter",
        "version": f"{run_record(args, train, val)['date']}-unet-mobilenetv2-{size}",
        "file": args.out.name,
        "task": "lesion segmentation (ISIC 2017 Part 1)",
        "input_size": size,
        "preprocessing": "lesion.preprocessing.prepare_image: first frame, EXIF orientation, RGB "
        "(alpha flattened on white, 16-bit scaled), resized to input_size x input_size without "
        "keeping aspect (area interpolation), values 0-255; the model scales to [-1, 1] itself",
        "output": "per-pixel sigmoid lesion probability at input_size",
        "postprocessing": "probability map resized bilinearly to the full image, thresholded, "
        "largest connected component kept with holes filled",
        "threshold": DEFAULT_THRESHOLD,
        "test_time_views": 1,
        "architecture": architecture,
        "augmentation": "flips, 90-degree turns, affine, colour jitter"
        + ("; other clinics: scale 0.75-1.35, colour cast, resolution loss" if other_clinics else ""),
        "loss": "binary cross-entropy + soft Dice",
        "gflops_per_image": gflops(best),
        "parameters": int(best.count_params()),
        "selection": selection,
        **run_record(args, train, val),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    train, val = start_run(args)
    fit, select = (train, val) if args.select_on_val else split_isic(train)
    architecture = "U-Net: MobileNetV2 encoder (ImageNet, batch-norm frozen), separable-conv decoder " + (
        f"(128, 64, 48, 32, then {args.full_resolution} at full resolution with the image as a skip)"
        if args.full_resolution
        else "(128, 64, 48, 32), output at 1/2 resolution upsampled bilinearly"
    )
    first_stage: dict = {}
    if args.initial_model is None:
        chosen, history = fit_and_select(args, fit, select)
        selection = dict(
            chosen,
            data=f"ISIC val/ ({len(select)} images): version 1's recipe"
            if args.select_on_val
            else f"ISIC train/ selection part ({len(select)} images, fitted nothing)",
        )
    else:
        first_stage = read_card(args.initial_model.with_suffix(".json")).raw
        selection = first_stage["selection"]
        history = first_stage.get("selection_history") or read_history(args.initial_model)
        architecture = first_stage["architecture"]
    best = keras.models.load_model(args.initial_model or args.out, compile=False)
    if args.refit_epochs:
        refit(best, train, args)
        selection = {
            "stage_1": selection,
            "refit": f"then {args.refit_epochs} epochs on all {len(train)} train/ images (fit + selection parts), "
            f"peak learning rate {args.refit_learning_rate:g}; the last weights are kept (chosen on nothing)",
        }
    best.save(args.out)  # uncompiled: no optimizer state in the shipped file
    card = _card(args, train, val, best, architecture, selection)
    write_history(args.out, history)
    if first_stage:
        card["training"]["epochs"] = first_stage["training"]["epochs"]
        card["training"]["stage_1_command"] = first_stage["training"]["command"]
    if args.refit_epochs:
        card["training"]["refit_epochs"] = args.refit_epochs
    card["data"]["parts"] = {"fit": len(fit), "select": len(select)}
    write_card(Path(args.out).with_suffix(".json"), card)
    print(f"wrote {args.out} and its card; selection: {selection}")


if __name__ == "__main__":
    main()
