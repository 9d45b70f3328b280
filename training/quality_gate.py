"""Fit the out-of-distribution gate on the classifier's features of the training images.

Example:
    python -m training.quality_gate --data ../shared/data/isic2017

Writes ``models/quality_gate.npz`` and a ``quality_gate`` entry in the classifier card with
the threshold (a percentile of the training distances) and the false-alarm rate measured on
``val/``, which the gate never saw.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.inference import LoadedModel, load_model
from app.model_card import read_card, write_card
from app.preprocessing import prepare_image
from app.quality import QualityGate
from training.cli import existing_dir
from training.data import read_split


def features_of(classifier: LoadedModel, paths: list[Path], batch_size: int = 32) -> np.ndarray:
    """Pooled classifier features (flip-averaged as served) for image files."""
    rows = []
    for start in tqdm(range(0, len(paths), batch_size), desc="features", unit="batch"):
        batch = np.stack([prepare_image(p, classifier.card.input_size)[0] for p in paths[start : start + batch_size]])
        rows.append(classifier.predict_all(batch)[1])
    return np.concatenate(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True, help="ISIC folder with train/ and val/")
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument("--components", type=int, default=32)
    parser.add_argument("--percentile", type=float, default=99.5, help="of training distances, for the threshold")
    args = parser.parse_args(argv)
    classifier = load_model(args.models, "classifier", "auto")
    train = features_of(classifier, list(read_split(args.data / "train").image_paths))
    val = features_of(classifier, list(read_split(args.data / "val").image_paths))
    gate = QualityGate.fit(train, args.components)
    threshold = float(np.percentile(gate.distance(train), args.percentile))
    false_alarms = int((gate.distance(val) > threshold).sum())
    gate.save(args.models / "quality_gate.npz")
    card_path = args.models / "classifier.json"
    card = read_card(card_path).raw
    card["quality_gate"] = {
        "file": "quality_gate.npz",
        "method": f"Mahalanobis distance in the top {args.components} principal components of the pooled "
        "classifier features of the training images, plus the normalised residual",
        "threshold": threshold,
        "threshold_rule": f"{args.percentile}th percentile of the training images' distances",
        "validation_false_alarms": false_alarms,
        "validation_images": len(val),
        "validation_false_alarm_rate": round(false_alarms / len(val), 4),
    }
    write_card(card_path, card)
    print(card["quality_gate"])


if __name__ == "__main__":
    main()
