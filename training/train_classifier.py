"""Train the melanoma classifier: frozen-backbone warm-up, then full fine-tuning.

Example:
    python -m training.train_classifier --data ../shared/data/isic2017 \
        --backbone-weights ../shared/weights/mobilenet_v2_1.0_imagenet_no_top.weights.h5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np

from app.model_card import write_card
from app.postprocessing import flip_views, merge_views
from training.architectures import build_classifier, unfreeze_from
from training.callbacks import ProgressBar, ValidationCheckpoint
from training.cli import run_record, start_run, training_parser
from training.cost import gflops
from training.data import IsicSplit, classification_dataset, model_inputs
from training.explainer import with_explanation
from training.metrics import classification_scores
from training.snapshots import average_snapshots

#: The decision threshold written to the card; class weighting makes 0.5 the balanced point.
DEFAULT_THRESHOLD = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = training_parser(__doc__.splitlines()[0], image_size=256, epochs=16, out="models/classifier.keras")
    parser.add_argument("--warmup-epochs", type=int, default=3, help="epochs with the backbone frozen")
    parser.add_argument("--learning-rate", type=float, default=1e-4, help="peak fine-tuning rate")
    parser.add_argument(
        "--unfreeze-from",
        default="block_6_expand",
        help="fine-tune the backbone from this layer on (earlier, generic layers stay frozen)",
    )
    parser.add_argument(
        "--test-time-views", type=int, choices=(1, 2, 3), default=2, help="flip views averaged at inference (1 = none)"
    )
    parser.add_argument(
        "--auxiliary-keratosis",
        type=float,
        default=0.0,
        help="loss weight of seborrheic keratosis as an auxiliary task (0 = off)",
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


def _scorer(val_images: np.ndarray, val: IsicSplit, views: int):
    def score(model: keras.Model) -> dict[str, float]:
        probabilities = predict_probabilities(model, val_images, views)
        return classification_scores(val.melanoma, probabilities, DEFAULT_THRESHOLD)

    return score


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    train, val = start_run(args)
    size = args.image_size
    auxiliary = args.auxiliary_keratosis > 0
    train_data = classification_dataset(
        train, size, args.batch_size, training=True, seed=args.seed, auxiliary=auxiliary
    )
    val_images = model_inputs(val, size)
    steps = int(np.ceil(len(train) / args.batch_size))
    checkpoint_dir = args.out.parent / ".checkpoints"
    score = _scorer(val_images, val, args.test_time_views)
    model, backbone = build_classifier(size, args.backbone_weights, auxiliary=auxiliary)
    # Outputs are (melanoma, keratosis) with the auxiliary task, else melanoma alone.
    loss_weights = [1.0, args.auxiliary_keratosis] if auxiliary else None
    loss = ["binary_crossentropy", "binary_crossentropy"] if auxiliary else "binary_crossentropy"

    backbone.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, loss_weights=loss_weights)
    if args.warmup_epochs:
        model.fit(
            train_data,
            epochs=args.warmup_epochs,
            verbose=0,
            callbacks=[ProgressBar(args.warmup_epochs, steps, "warm-up (frozen backbone)")],
        )

    unfreeze_from(backbone, args.unfreeze_from)
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, args.epochs * steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=loss,
        loss_weights=loss_weights,
    )
    checkpoint = ValidationCheckpoint(score, "auc", args.out, checkpoint_dir, "classifier")
    model.fit(
        train_data,
        epochs=args.epochs,
        verbose=0,
        callbacks=[ProgressBar(args.epochs, steps, "fine-tuning"), checkpoint],
    )

    chosen = dict(checkpoint.best_metrics, selection=f"best epoch ({checkpoint.best_metrics['epoch']})")
    averaged = average_snapshots(model, checkpoint_dir, "classifier", args.average_last, args.epochs)
    if averaged is not None:
        metrics = score(model)
        print(f"average of the last {args.average_last} epochs: {metrics}")
        if metrics["auc"] > checkpoint.best_value:
            model.save(args.out)
            chosen = dict(metrics, selection=f"mean weights of the last {args.average_last} epochs")

    best = with_explanation(keras.models.load_model(args.out, compile=False))
    best.save(args.out)  # uncompiled (no optimizer state), with the class activation output
    card = {
        "name": "classifier",
        "version": f"{run_record(args, train, val)['date']}-mobilenetv2-{size}",
        "file": args.out.name,
        "task": "binary classification: malignant (melanoma) vs benign (nevus, seborrheic keratosis)",
        "labels": ["benign", "malignant"],
        "input_size": size,
        "preprocessing": "app.preprocessing.prepare_image: first frame, EXIF orientation, RGB "
        "(alpha flattened on white, 16-bit scaled), resized to input_size x input_size without "
        "keeping aspect (area interpolation), values 0-255; the model scales to [-1, 1] itself",
        "output": "sigmoid probability of melanoma",
        "threshold": DEFAULT_THRESHOLD,
        "threshold_meaning": "probability >= threshold is labelled malignant; chosen as the "
        "balanced point of class-weighted training, not tuned on validation data",
        "test_time_views": args.test_time_views,
        "architecture": "MobileNetV2 (alpha 1.0, ImageNet) + global average pooling + dropout + dense",
        "outputs": [
            "melanoma probability (raw, before calibration)",
            "class activation map at 1/32 resolution (Grad-CAM for this head, see training/explainer.py)",
        ],
        "gflops_per_image": gflops(best),
        "gflops_per_image_with_views": round(gflops(best) * args.test_time_views, 3),
        "parameters": int(best.count_params()),
        "validation": chosen,
        "validation_history": checkpoint.history,
        **run_record(args, train, val),
    }
    write_card(Path(args.out).with_suffix(".json"), card)
    print(f"wrote {args.out} and its card; validation: {chosen}")


if __name__ == "__main__":
    main()
