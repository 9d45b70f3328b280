"""Train the melanoma classifier: frozen-backbone warm-up, then fine-tuning from block 6.

Example:
    python -m training.train_classifier --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \
        --backbone-weights ../shared/weights/mobilenet_v2_1.0_imagenet_no_top.weights.h5

Fits on the fit parts of ``training.splits`` (ISIC ``train/`` and, with ``--ham``, the
HAM10000 fit lesions, mixed per batch by ``--ham-share``); epochs are chosen on the selection
parts. ISIC ``val/`` and the held-out HAM10000 lesions are never read here.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np

from lesion.model_card import write_card
from lesion.postprocessing import flip_views, merge_views
from training.architectures import build_classifier, unfreeze_from
from training.callbacks import ProgressBar, ValidationCheckpoint
from training.cli import (
    HAM10000,
    ISIC_2017,
    existing_dir,
    run_record,
    start_run,
    training_parser,
    write_history,
)
from training.cost import gflops
from training.data import mixed_classification_dataset, model_inputs
from training.explainer import with_explanation
from training.metrics import classification_scores
from training.snapshots import average_snapshots
from training.splits import ClassifierParts, LabelledImages, classifier_parts, from_isic, selection_mask

#: The decision threshold written to the card; class weighting makes 0.5 the balanced point.
DEFAULT_THRESHOLD = 0.5
HAM_SOURCE = (
    "HAM10000 (Tschandl et al., Sci. Data 2018, doi:10.1038/sdata.2018.161), CC BY-NC-SA 4.0: "
    "models trained on it inherit the non-commercial, share-alike terms"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = training_parser(__doc__.splitlines()[0], image_size=224, epochs=8, out="models/classifier.keras")
    parser.add_argument(
        "--ham", type=existing_dir, default=None, help="HAM10000 folder (metadata.csv, images/); omit for ISIC only"
    )
    parser.add_argument(
        "--ham-share", type=float, default=0.5, help="share of each training batch drawn from HAM10000 (with --ham)"
    )
    parser.add_argument("--warmup-epochs", type=int, default=2, help="epochs with the backbone frozen")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="peak fine-tuning rate")
    parser.add_argument(
        "--unfreeze-from",
        default="block_6_expand",
        help="fine-tune the backbone from this layer on (earlier, generic layers stay frozen)",
    )
    parser.add_argument(
        "--test-time-views", type=int, choices=(1, 2, 3), default=1, help="flip views averaged at inference (1 = none)"
    )
    parser.add_argument(
        "--average-last", type=int, default=4, help="also try the average of the last N epochs' weights"
    )
    return parser.parse_args(argv)


def predict_probabilities(model: keras.Model, images: np.ndarray, views: int, batch_size: int = 16) -> np.ndarray:
    """P(melanoma) for a uint8 NHWC array, averaged over flip views."""
    outputs = []
    for start in range(0, len(images), batch_size):
        stacked = flip_views(images[start : start + batch_size].astype(np.float32), views)
        # predict_on_batch runs a compiled function: eager calls on big batches bloat memory.
        predicted = model.predict_on_batch(stacked)
        melanoma = predicted[0] if isinstance(predicted, (list, tuple)) else predicted
        outputs.append(merge_views(np.asarray(melanoma), views))
    return np.concatenate(outputs)[:, 0]


def selection_score(truth_and_probability: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """AUC per selection part and their mean (``selection_auc``), the figure epochs are chosen by.

    A part without both classes (only in tiny smoke runs) has no AUC and is left out of the mean.
    """
    scores = {}
    for name, (truth, probability) in truth_and_probability.items():
        if 0 < truth.sum() < len(truth):
            scores[f"{name}_auc"] = classification_scores(truth, probability, DEFAULT_THRESHOLD)["auc"]
    scores["selection_auc"] = float(np.mean(list(scores.values()))) if scores else 0.5
    return scores


def _scorer(selection: dict[str, tuple[np.ndarray, LabelledImages]], views: int):
    def score(model: keras.Model) -> dict[str, float]:
        predictions = {}
        for name, (images, part) in selection.items():
            predictions[name] = (part.melanoma, predict_probabilities(model, images, views))
        return selection_score(predictions)

    return score


def training_parts(args: argparse.Namespace, train, val) -> ClassifierParts | tuple[LabelledImages, LabelledImages]:
    """The fit and selection parts: ISIC and HAM10000 with ``--ham``, else ISIC ``train/`` alone."""
    if args.ham is not None:
        return classifier_parts(train, val, args.ham)
    isic = from_isic(train)
    chosen = selection_mask(isic, "isic2017")
    return isic.subset(~chosen), isic.subset(chosen)


def _mixture(args: argparse.Namespace, parts) -> tuple[list, dict, LabelledImages, dict]:
    """(weighted fit sources, selection parts, ISIC fit part, the parts' sizes for the card)."""
    if isinstance(parts, ClassifierParts):
        sources = [(parts.isic_fit.paths, parts.isic_fit.melanoma, 1 - args.ham_share)]
        sources.append((parts.ham_fit.paths, parts.ham_fit.melanoma, args.ham_share))
        selection_parts = {"isic_select": parts.isic_select, "ham_select": parts.ham_select}
        return sources, selection_parts, parts.isic_fit, parts.summary()
    isic_fit, isic_select = parts
    sources = [(isic_fit.paths, isic_fit.melanoma, 1.0)]
    return sources, {"isic_select": isic_select}, isic_fit, {"isic_fit": len(isic_fit), "isic_select": len(isic_select)}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not 0.0 <= args.ham_share < 1.0:
        raise SystemExit(f"--ham-share must be in [0, 1); got {args.ham_share}")
    train, val = start_run(args)
    size = args.image_size
    sources, selection_parts, isic_fit, data_parts = _mixture(args, training_parts(args, train, val))
    isic_share = sources[0][2] / sum(share for _, _, share in sources)
    train_data = mixed_classification_dataset(sources, size, args.batch_size, seed=args.seed)
    # An epoch is one pass over the ISIC fit images, plus the HAM10000 images mixed in with them.
    steps = int(np.ceil(len(isic_fit) / isic_share / args.batch_size))
    selection = {name: (model_inputs(part.paths, size), part) for name, part in selection_parts.items() if len(part)}
    checkpoint_dir = args.out.parent / ".checkpoints"
    score = _scorer(selection, args.test_time_views)
    model, backbone = build_classifier(size, args.backbone_weights)

    backbone.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    if args.warmup_epochs:
        model.fit(
            train_data,
            epochs=args.warmup_epochs,
            steps_per_epoch=steps,
            verbose=0,
            callbacks=[ProgressBar(args.warmup_epochs, steps, "warm-up (frozen backbone)")],
        )

    unfreeze_from(backbone, args.unfreeze_from)
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, args.epochs * steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4), loss="binary_crossentropy")
    checkpoint = ValidationCheckpoint(score, "selection_auc", args.out, checkpoint_dir, "classifier")
    model.fit(
        train_data,
        epochs=args.epochs,
        steps_per_epoch=steps,
        verbose=0,
        callbacks=[ProgressBar(args.epochs, steps, "fine-tuning"), checkpoint],
    )

    chosen = dict(checkpoint.best_metrics, selection=f"best epoch ({checkpoint.best_metrics['epoch']})")
    averaged = average_snapshots(model, checkpoint_dir, "classifier", args.average_last, args.epochs)
    if averaged is not None:
        metrics = score(model)
        print(f"average of the last {args.average_last} epochs: {metrics}")
        if metrics["selection_auc"] > checkpoint.best_value:
            model.save(args.out)
            chosen = dict(metrics, selection=f"mean weights of the last {args.average_last} epochs")

    best = with_explanation(keras.models.load_model(args.out, compile=False))
    best.save(args.out)  # uncompiled (no optimizer state), with the class activation output
    # The ensemble step starts from this copy: refresh it, or a rerun would ensemble the previous network.
    best.save(checkpoint_dir / "classifier-finetuned.keras")
    card = _card(args, train, val, best, chosen)
    write_history(args.out, checkpoint.history)
    card["data"]["parts"] = data_parts
    if args.ham is not None:
        card["data"]["second_source"] = HAM_SOURCE
        card["training_data"] = [ISIC_2017, HAM10000]
    write_card(Path(args.out).with_suffix(".json"), card)
    print(f"wrote {args.out} and its card; selection: {chosen}")


def _card(args: argparse.Namespace, train, val, best: keras.Model, chosen: dict) -> dict:
    """The classifier card a run writes (``training.train_ensemble`` and the later steps complete it)."""
    size = args.image_size
    return {
        "name": "classifier",
        "version": f"{run_record(args, train, val)['date']}-mobilenetv2-{size}",
        "file": args.out.name,
        "task": "binary classification: malignant (melanoma) vs benign (nevus, seborrheic keratosis)",
        "labels": ["benign", "malignant"],
        "input_size": size,
        "preprocessing": "lesion.preprocessing.prepare_image: first frame, EXIF orientation, RGB "
        "(alpha flattened on white, 16-bit scaled), resized to input_size x input_size without "
        "keeping aspect (area interpolation), values 0-255; the model scales to [-1, 1] itself",
        "output": "sigmoid probability of melanoma",
        "threshold": DEFAULT_THRESHOLD,
        "threshold_meaning": "probability >= threshold is labelled malignant; chosen as the "
        "balanced point of class-weighted training, not tuned on any data",
        "test_time_views": args.test_time_views,
        "architecture": "MobileNetV2 (alpha 1.0, ImageNet) + global average pooling + dropout + dense",
        "outputs": [
            "melanoma probability (raw, before calibration)",
            "class activation map at 1/32 resolution (Grad-CAM for this head, see training/explainer.py)",
        ],
        "gflops_per_image": gflops(best),
        "gflops_per_image_with_views": round(gflops(best) * args.test_time_views, 3),
        "parameters": int(best.count_params()),
        "selection": chosen,
        **run_record(args, train, val),
    }


if __name__ == "__main__":
    main()
