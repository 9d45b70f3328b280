"""Export the saved Keras models to TFLite (float32 or float16 weights, XNNPACK at run time) and check parity.

Example:
    python -m training.export_tflite --models models --images tests/fixtures/isic/images

The ``.keras`` files stay the source of truth: each card records the export's file, the
SHA-256 of the ``.keras`` it was made from (the app ignores a stale export) and the
measured parity.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from lesion.inference import load_model
from lesion.model_card import read_card, write_card
from lesion.model_files import model_names
from lesion.preprocessing import IMAGE_SUFFIXES, prepare_image
from lesion.runtimes import file_sha256
from training.cli import existing_dir

MAX_PROBABILITY_GAP = 1e-3
#: Float16 weights round each weight by up to 1/2048 of its size; through Xception's 36 layers that
#: moves a probability by a few thousandths (4.9e-3 at most on the fixtures for version 3).
MAX_FLOAT16_PROBABILITY_GAP = 1e-2
MIN_MASK_IOU = 0.99


def convert(keras_path: Path, input_size: int, float16: bool = False) -> bytes:
    """TFLite flatbuffer of a Keras model with a batch-1 float32 input (weights stored as float16 if asked).

    XNNPACK unpacks float16 weights to float32 once, at load time: the file is half the size and
    the run time the same (measured on classifier version 3: 34 vs 36 ms for its Xception member).
    """
    import keras

    model = keras.models.load_model(keras_path, compile=False)
    signature = tf.TensorSpec((1, input_size, input_size, 3), tf.float32)
    with tempfile.TemporaryDirectory() as saved_model:
        # Through a SavedModel so the converter freezes Keras 3 variables into constants.
        model.export(saved_model, format="tf_saved_model", input_signature=[signature], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        if float16:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def parity(models_dir: Path, name: str, images: np.ndarray) -> dict[str, float]:
    """Compare the Keras and TFLite outputs of one model on the same inputs."""
    keras_out = load_model(models_dir, name, "keras").predict(images)
    lite_out = load_model(models_dir, name, "tflite").predict(images)
    if name != "segmenter":
        return {"max_probability_gap": float(np.abs(keras_out - lite_out).max()), "images": len(images)}
    keras_masks, lite_masks = keras_out >= 0.5, lite_out >= 0.5
    ious = [(a & b).sum() / max((a | b).sum(), 1) for a, b in zip(keras_masks, lite_masks, strict=True)]
    return {
        "min_mask_iou": float(min(ious)),
        "max_probability_gap": float(np.abs(keras_out - lite_out).max()),
        "images": len(images),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument(
        "--images", type=existing_dir, default=Path("tests/fixtures/isic/images"), help="images to check parity on"
    )
    parser.add_argument(
        "--names", nargs="+", default=None, help="models to export (default: every model the service loads)"
    )
    parser.add_argument(
        "--float16",
        nargs="*",
        default=["classifier"],
        help="models whose weights are stored as float16 (default: the classifier, whose Xception member is 83 MB)",
    )
    args = parser.parse_args(argv)
    paths = sorted(p for p in args.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for name in args.names or model_names(args.models):
        card_path = args.models / f"{name}.json"
        card = read_card(card_path)
        keras_path = args.models / card.path
        tflite_name = f"{name}.tflite"
        float16 = name in args.float16
        (args.models / tflite_name).write_bytes(convert(keras_path, card.input_size, float16))
        raw = dict(
            card.raw,
            tflite={
                "file": tflite_name,
                "keras_sha256": file_sha256(keras_path),
                "weights": "float16" if float16 else "float32",
            },
        )
        write_card(card_path, raw)
        images = np.stack([prepare_image(p, card.input_size)[0] for p in paths])
        measured = parity(args.models, name, images)
        allowed = MAX_FLOAT16_PROBABILITY_GAP if float16 else MAX_PROBABILITY_GAP
        if measured["max_probability_gap"] > allowed and name != "segmenter":
            raise SystemExit(f"{name}: TFLite differs from Keras by {measured['max_probability_gap']:.2e}")
        if measured.get("min_mask_iou", 1.0) < MIN_MASK_IOU:
            raise SystemExit(f"{name}: TFLite mask IoU {measured['min_mask_iou']:.4f} < {MIN_MASK_IOU}")
        raw["tflite"]["parity"] = measured
        write_card(card_path, raw)
        print(f"{name}: wrote {tflite_name}; parity {measured}")


if __name__ == "__main__":
    main()
