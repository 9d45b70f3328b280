"""Score the shipped models on data that chose nothing: ISIC ``val/`` and held-out HAM10000 lesions.

Example:
    python -m training.evaluate --data ../shared/data/isic2017/val --ham ../shared/data/ham10000 \
        --out models/val_metrics.json --update-cards

ISIC ``val/``: the official ISIC 2017 metrics of both models. HAM10000 (``--ham``): the
classifier on the lesions ``training.splits`` holds out (no masks there). Every AUC comes with a
95% bootstrap interval; the sensitivity and specificity are those of the card's threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lesion.inference import Analysis, Predictor
from lesion.model_card import read_card, write_card
from lesion.preprocessing import decode_image, prepare_image
from training.cli import existing_dir
from training.data import load_mask, read_split
from training.metrics import bootstrap_auc, classification_scores, segmentation_scores
from training.operating_point import risk_bands, threshold_meaning
from training.sources import isic2019_parts, isic2020_parts
from training.splits import LabelledImages, read_ham

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
#: The classifier's report parts beyond ISIC ``val/``, each a card block of its own.
REPORT_PARTS = ("ham_held_out", "isic2020_report", "isic2019_report")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=existing_dir, required=True, help="labelled ISIC folder: images/, masks/, labels.csv"
    )
    parser.add_argument(
        "--ham", type=existing_dir, default=None, help="HAM10000 folder: also score its held-out lesions"
    )
    parser.add_argument(
        "--isic2020", type=existing_dir, default=None, help="ISIC 2020 folder: also score its report patients"
    )
    parser.add_argument(
        "--isic2019", type=existing_dir, default=None, help="ISIC 2019 folder: also score its report lesions"
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
    analyses = served_analyses(predictor, split.image_paths, batch_size)
    probabilities = [analysis.probability for analysis in analyses]
    predicted_masks = [analysis.mask for analysis in analyses]
    truth_masks = [load_mask(path) for path in split.mask_paths]
    card = predictor.classifier.card
    classification = classification_scores(split.melanoma, probabilities, card.threshold)
    interval = bootstrap_auc(split.melanoma, np.asarray(probabilities))["ci95"]
    edges = card.raw.get("risk_band_edges")
    return {
        "risk_bands": risk_bands(split.melanoma, np.asarray(probabilities), card.threshold, edges and tuple(edges)),
        "data": str(data),
        "images": len(split),
        "melanoma": int(split.melanoma.sum()),
        "classification": dict(classification, auc_ci95=interval, test_time_views=card.test_time_views),
        "segmentation": dict(
            segmentation_scores(truth_masks, predicted_masks), test_time_views=predictor.segmenter.card.test_time_views
        ),
        "date": date.today().isoformat(),
        "models": predictor.model_versions,
    }


def served_analyses(predictor: Predictor, paths: Sequence[Path], batch_size: int = 16) -> list[Analysis]:
    """The served analyses (probability, full-size mask, ...) of image files, a batch at a time."""
    analyses: list[Analysis] = []
    with tqdm(total=len(paths), desc="evaluating", unit="image", file=sys.stderr) as progress:
        for start in range(0, len(paths), batch_size):
            batch = paths[start : start + batch_size]
            analyses.extend(predictor.analyze_batch([decode_image(path) for path in batch]))
            progress.update(len(batch))
    return analyses


def batched_outputs(
    predict: Callable[[np.ndarray], np.ndarray], paths: Sequence[Path], side: int, batch_size: int = 32, desc: str = ""
) -> np.ndarray:
    """``predict`` on image files prepared by the shared preprocessing at ``side`` px, a batch at a time."""
    rows = []
    for start in tqdm(range(0, len(paths), batch_size), desc=desc or "scoring", file=sys.stderr):
        rows.append(predict(np.stack([prepare_image(path, side)[0] for path in paths[start : start + batch_size]])))
    return np.concatenate(rows)


def served_probabilities(predictor: Predictor, paths: Sequence[Path], batch_size: int = 32) -> np.ndarray:
    """The served (calibrated) melanoma probability of image files, through the shared preprocessing."""
    card = predictor.classifier.card
    return batched_outputs(
        lambda batch: predictor.probabilities(batch)[0], paths, card.input_size, batch_size, card.version
    )


def evaluate_part(predictor: Predictor, paths: Sequence[Path], truth: np.ndarray, batch_size: int) -> dict:
    """The served melanoma probability on labelled images, scored like ISIC's, with a 95% AUC interval."""
    truth = np.asarray(truth, dtype=float)
    probability = served_probabilities(predictor, paths, batch_size)
    scores = classification_scores(truth, probability, predictor.classifier.card.threshold)
    return {
        **scores,
        "auc_ci95": bootstrap_auc(truth, probability)["ci95"],
        "images": len(truth),
        "melanoma": int(truth.sum()),
        "date": date.today().isoformat(),
    }


def evaluate_ham(predictor: Predictor, folder: Path, batch_size: int) -> dict:
    """The classifier on the held-out HAM10000 lesions (contaminated when it holds the dermoscopy member)."""
    ham = read_ham(folder, "held_out")
    result = evaluate_part(predictor, ham.paths, np.asarray(ham.melanoma), batch_size)
    result["data"] = f"{folder}: the lesions training.splits holds out (lesion-grouped)"
    result["lesions"] = len(set(ham.lesion_ids))
    if "dermoscopy_member" in predictor.classifier.card.raw:
        result["contaminated"] = (
            "the dermoscopy member (sklesion) was trained on all of HAM10000: this figure is optimistic"
        )
    return result


def _evaluate_report(predictor: Predictor, part: LabelledImages, batch_size: int, described: str, groups: str) -> dict:
    result = evaluate_part(predictor, part.paths, part.melanoma, batch_size)
    return {**result, "data": described, groups: len(set(part.groups))}


def evaluate_isic2020(predictor: Predictor, folder: Path, batch_size: int) -> dict:
    """The classifier on the ISIC 2020 report patients (``training.sources``), which chose nothing."""
    described = f"{folder}: the report patients of training.sources (patient-grouped)"
    return _evaluate_report(predictor, isic2020_parts(folder)["report"], batch_size, described, "patients")


def evaluate_isic2019(predictor: Predictor, folder: Path, batch_size: int) -> dict:
    """The classifier on the ISIC 2019 report lesions (``training.sources``, 84 px photos), which chose nothing."""
    described = f"{folder}: the report lesions of training.sources (lesion-grouped, 84 px copies)"
    return _evaluate_report(predictor, isic2019_parts(folder)["report"], batch_size, described, "lesions")


def _with_views(loaded, views: int | None):
    return loaded if views is None else replace(loaded, card=replace(loaded.card, test_time_views=views))


def _selection_note(card: dict) -> str | None:
    """How the card's model was chosen, in one line (always on data other than these)."""
    members = card.get("member_selection")
    if members:
        base = _selection_note({key: value for key, value in card.items() if key != "member_selection"})
        chosen = members["chosen"]
        return (
            f"{base}; low-resolution member: epoch {chosen['epoch']}, {chosen['views']} views and share "
            f"{chosen['share']} by the worst selection-part AUC (ISIC train/, ISIC 2019)"
        )
    member = card.get("dermoscopy_member", {}).get("selection")
    if member:
        base = _selection_note({key: value for key, value in card.items() if key != "dermoscopy_member"})
        return (
            f"{base}; dermoscopy member: C {member['c']} and base share {member['base_share']} by the worst "
            "selection-part AUC (ISIC train/, ISIC 2020, archive)"
        )
    chosen = card.get("selection", {})
    if "finetuned_share" in chosen:
        probe = chosen["probe"]
        return (
            f"all on the selection parts: fine-tuned member {chosen['finetuned_epoch']}, probe HAM weight "
            f"{probe['ham_weight']} and C {probe['c']}, fine-tuned share {chosen['finetuned_share']}"
        )
    if "probe" in chosen:
        probe = chosen["probe"]
        return f"all on the selection parts: probe HAM weight {probe['ham_weight']} and C {probe['c']}"
    if "refit" in chosen:
        return f"{_selection_note({'selection': chosen['stage_1']})}; {chosen['refit']}"
    if "selection" in chosen:
        return f"{chosen['selection']} on {chosen.get('data', 'the ISIC train/ selection part')}"
    return card.get("validation", {}).get("selection")


def _state_operating_point(card: dict, results: dict) -> None:
    """Add the threshold's sensitivity and specificity on data that chose nothing to the card."""
    measured = {"isic_val": results["classification"]}
    for part in REPORT_PARTS:
        if part in results and "contaminated" not in results[part]:
            measured[part] = results[part]
    point = card.setdefault("operating_point", {})
    for name, scores in measured.items():
        point[f"{name}_sensitivity"] = round(scores["sensitivity"], 4)
        point[f"{name}_specificity"] = round(scores["specificity"], 4)
    target = float(point.get("target_sensitivity", 0.9))
    card["threshold_meaning"] = threshold_meaning(float(card["threshold"]), target, measured)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    predictor = Predictor.from_directory(args.models)
    predictor = Predictor(
        _with_views(predictor.classifier, args.classifier_views),
        _with_views(predictor.segmenter, args.segmenter_views),
        members=predictor.members,
    )
    results = evaluate(predictor, args.data, args.batch_size)
    if args.ham is not None:
        results["ham_held_out"] = evaluate_ham(predictor, args.ham, args.batch_size)
    if args.isic2020 is not None:
        results["isic2020_report"] = evaluate_isic2020(predictor, args.isic2020, args.batch_size)
    if args.isic2019 is not None:
        results["isic2019_report"] = evaluate_isic2019(predictor, args.isic2019, args.batch_size)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.update_cards:
        for name in ("classifier", "segmenter"):
            path = args.models / f"{name}.json"
            card = read_card(path).raw
            card["validation"] = {
                "selection": _selection_note(card),
                **results["classification" if name == "classifier" else "segmentation"],
                "data": results["data"],
                "images": results["images"],
                "measured_with": "python -m training.evaluate (isic-challenge-scoring 5.6.0)",
                "date": results["date"],
            }
            if name == "classifier":
                card["risk_bands"] = results["risk_bands"]
                for part in REPORT_PARTS:
                    if part in results:
                        card[part] = dict(results[part], measured_with="python -m training.evaluate")
                _state_operating_point(card, results)
            write_card(path, card)


if __name__ == "__main__":
    main()
