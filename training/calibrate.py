"""Calibrate the classifier (Platt scaling) and choose its operating point on the selection parts.

Example:
    python -m training.calibrate --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \
        --target-sensitivity 0.90

The selection parts of ``training.splits`` (ISIC ``train/`` images and HAM10000 lesions
that fitted neither ensemble member) give out-of-fold predictions: the calibration, the
threshold and the risk-band edges are fitted on them. ISIC ``val/`` and the held-out HAM10000
lesions are not read; ``training.evaluate --update-cards`` measures the result on them.

Writes ``calibration``, ``threshold``, ``risk_band_edges`` and ``operating_point`` into the
classifier card and a reliability diagram to ``docs/reliability.png``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from lesion.inference import Predictor
from lesion.model_card import read_card, write_card
from lesion.postprocessing import calibrate
from training.cli import existing_dir
from training.data import read_split
from training.evaluate import batched_outputs
from training.operating_point import band_edges, threshold_meaning
from training.sources import isic2020_parts
from training.splits import LabelledImages, classifier_parts

BINS = 10


def expected_calibration_error(truth: np.ndarray, probability: np.ndarray, bins: int = BINS) -> float:
    """ECE with equal-width bins: the mean |accuracy - confidence| weighted by bin size."""
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        chosen = index == b
        if chosen.any():
            total += chosen.mean() * abs(truth[chosen].mean() - probability[chosen].mean())
    return float(total)


def fit_platt(truth: np.ndarray, probability: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of a logistic regression on the logit of the raw probability."""
    clipped = np.clip(probability, 1e-7, 1 - 1e-7)
    logits = np.log(clipped / (1 - clipped))[:, None]
    model = LogisticRegression(C=1e4).fit(logits, truth)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def out_of_fold(truth: np.ndarray, probability: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Calibrated probabilities where each image's calibration was fitted without it."""
    calibrated = np.empty_like(probability)
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(probability, truth):
        calibrated[held] = calibrate(probability[held], *fit_platt(truth[fit], probability[fit]))
    return calibrated


def threshold_for_sensitivity(truth: np.ndarray, probability: np.ndarray, sensitivity: float) -> float:
    """The highest threshold whose sensitivity (p >= threshold) reaches ``sensitivity``."""
    positives = np.sort(probability[truth > 0.5])[::-1]
    needed = int(np.ceil(sensitivity * len(positives)))
    return float(positives[needed - 1])


def reliability_figure(truth: np.ndarray, raw: np.ndarray, calibrated: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 5), dpi=120)
    edges = np.linspace(0, 1, BINS + 1)
    for label, values, marker in (("raw", raw, "o"), ("calibrated (out of fold)", calibrated, "s")):
        index = np.clip(np.digitize(values, edges[1:-1]), 0, BINS - 1)
        used = [b for b in range(BINS) if (index == b).any()]
        axis.plot(
            [values[index == b].mean() for b in used],
            [truth[index == b].mean() for b in used],
            marker=marker,
            label=f"{label}, ECE {expected_calibration_error(truth, values):.3f}",
        )
    axis.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    axis.set(
        xlabel="predicted melanoma probability",
        ylabel="observed melanoma fraction",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def calibration_parts(args: argparse.Namespace, contaminated: bool) -> tuple[tuple[LabelledImages, ...], str]:
    """The selection parts calibration is fitted on, and their description.

    A classifier with the dermoscopy member (sklesion, trained on HAM10000) scores HAM10000 images
    it memorised, so the HAM10000 selection part would bias its threshold: it is left out then.
    """
    parts = classifier_parts(read_split(args.data / "train"), read_split(args.data / "val"), args.ham)
    chosen, names = [parts.isic_select], ["ISIC train/ selection images"]
    if not contaminated:
        chosen.append(parts.ham_select)
        names.append("HAM10000 selection lesions")
    if args.isic2020 is not None:
        chosen.append(isic2020_parts(args.isic2020)["select"])
        names.append("ISIC 2020 selection patients")
    return tuple(chosen), ", ".join(names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True, help="ISIC folder with train/ and val/")
    parser.add_argument("--ham", type=existing_dir, required=True, help="HAM10000 folder (metadata.csv, images/)")
    parser.add_argument(
        "--isic2020", type=existing_dir, default=None, help="ISIC 2020 folder: add its selection patients"
    )
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument("--target-sensitivity", type=float, default=0.90)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--figure", type=Path, default=Path("docs/reliability.png"))
    args = parser.parse_args(argv)
    # The served runtime (the TFLite exports where current): calibration fits what the service computes.
    predictor = Predictor.from_directory(args.models)
    classifier = predictor.classifier
    selection, described_parts = calibration_parts(args, contaminated="dermoscopy_member" in classifier.card.raw)
    paths = [path for part in selection for path in part.paths]
    raw = batched_outputs(predictor.raw_probabilities, paths, classifier.card.input_size)  # blended, uncalibrated
    truth = np.concatenate([part.melanoma for part in selection])
    held_out = out_of_fold(truth, raw, args.folds, args.seed)
    slope, intercept = fit_platt(truth, raw)
    served = calibrate(raw, slope, intercept)
    threshold = threshold_for_sensitivity(truth, served, args.target_sensitivity)
    # Round down (with a margin for runtime round-off) so the melanoma at the cut stays flagged.
    threshold = math.floor((threshold - 1e-5) * 1e6) / 1e6
    flagged = served >= threshold
    sensitivity = float(flagged[truth > 0.5].mean())
    specificity = float((~flagged)[truth < 0.5].mean())
    described = f"the selection parts ({len(truth)} images, {int(truth.sum())} melanomas)"
    reliability_figure(truth, raw, held_out, args.figure, f"Reliability on {len(truth)} selection images")
    card_path = args.models / "classifier.json"
    card = read_card(card_path).raw
    card["calibration"] = {
        "method": "Platt scaling of the raw output's logit",
        "slope": slope,
        "intercept": intercept,
        "data": f"{described}: {described_parts}, which fitted no member",
        "images": len(truth),
        "ece_raw": round(expected_calibration_error(truth, raw), 4),
        "ece_calibrated_out_of_fold": round(expected_calibration_error(truth, held_out), 4),
        "ece_bins": BINS,
        "folds": args.folds,
    }
    card["threshold"] = threshold
    card["risk_band_edges"] = [round(edge, 6) for edge in band_edges(truth, served, threshold)]
    card["operating_point"] = {
        "target_sensitivity": args.target_sensitivity,
        "chosen_on": described,
        "selection_sensitivity": round(sensitivity, 4),
        "selection_specificity": round(specificity, 4),
    }
    card["threshold_meaning"] = threshold_meaning(threshold, args.target_sensitivity)
    write_card(card_path, card)
    print(card["calibration"], card["operating_point"], card["threshold_meaning"], sep="\n")


if __name__ == "__main__":
    main()
