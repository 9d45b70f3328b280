"""Score the shipped models on a labelled ISIC folder with the official ISIC 2017 metrics.

Example:
    python -m training.evaluate --data ../shared/data/isic2017/val --out models/val_metrics.json
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
from tqdm import tqdm

from app.inference import Predictor
from app.model_card import read_card, write_card
from app.preprocessing import decode_image
from training.cli import existing_dir
from training.data import load_mask, read_split
from training.metrics import classification_scores, segmentation_scores
from training.operating_point import risk_bands

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=existing_dir, required=True, help="labelled ISIC folder: images/, masks/, labels.csv"
    )
    parser.add_argument("--models", type=existing_dir, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--out", type=Path, default=None, help="write the metrics here as JSON")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--classifier-views",
        type=int,
        choices=(1, 2, 3),
        default=None,
        help="override the card's test-time flip views (to measure their gain)",
    )
    parser.add_argument("--segmenter-views", type=int, choices=(1, 2, 3), default=None)
    parser.add_argument(
        "--update-cards", action="store_true", help="write these metrics into the cards' 'validation' block"
    )
    return parser.parse_args(argv)


def evaluate(predictor: Predictor, data: Path, batch_size: int) -> dict:
    """Run the predictor over a labelled folder and return the ISIC metrics."""
    split = read_split(data)
    probabilities, predicted_masks, truth_masks = [], [], []
    with tqdm(total=len(split), desc="evaluating", unit="image", file=sys.stderr) as progress:
        for start in range(0, len(split), batch_size):
            paths = split.image_paths[start : start + batch_size]
            for analysis in predictor.analyze_batch([decode_image(path) for path in paths]):
                probabilities.append(analysis.probability)
                predicted_masks.append(analysis.mask)
            truth_masks.extend(load_mask(path) for path in split.mask_paths[start : start + batch_size])
            progress.update(len(paths))
    threshold = predictor.classifier.card.threshold
    classification = classification_scores(split.melanoma, probabilities, threshold)
    return {
        "risk_bands": risk_bands(split.melanoma, np.asarray(probabilities), threshold),
        "data": str(data),
        "images": len(split),
        "melanoma": int(split.melanoma.sum()),
        "classification": dict(classification, test_time_views=predictor.classifier.card.test_time_views),
        "segmentation": dict(
            segmentation_scores(truth_masks, predicted_masks), test_time_views=predictor.segmenter.card.test_time_views
        ),
        "date": date.today().isoformat(),
        "models": predictor.model_versions,
    }


def _with_views(loaded, views: int | None):
    return loaded if views is None else replace(loaded, card=replace(loaded.card, test_time_views=views))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    predictor = Predictor.from_directory(args.models)
    predictor = Predictor(
        _with_views(predictor.classifier, args.classifier_views), _with_views(predictor.segmenter, args.segmenter_views)
    )
    results = evaluate(predictor, args.data, args.batch_size)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.update_cards:
        for name in ("classifier", "segmenter"):
            path = args.models / f"{name}.json"
            card = read_card(path).raw
            card["validation"] = {
                "selection": card.get("validation", {}).get("selection"),
                **results["classification" if name == "classifier" else "segmentation"],
                "data": results["data"],
                "images": results["images"],
                "measured_with": "python -m training.evaluate (isic-challenge-scoring 5.6.0)",
                "date": results["date"],
            }
            if name == "classifier":
                card["risk_bands"] = results["risk_bands"]
            write_card(path, card)


if __name__ == "__main__":
    main()
