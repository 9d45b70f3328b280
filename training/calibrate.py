"""Calibrate the classifier (Platt scaling) and choose its operating point on validation data.

Example:
    python -m training.calibrate --data ../shared/data/isic2017/val --target-sensitivity 0.90

Writes ``calibration``, ``threshold`` and ``threshold_meaning`` into the classifier card and a
reliability diagram to ``docs/reliability.png``. Run ``training.evaluate --update-cards``
afterwards so the card's metrics and risk bands use the new threshold.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from app.inference import load_model
from app.model_card import read_card, write_card
from app.postprocessing import calibrate
from app.preprocessing import prepare_image
from training.cli import existing_dir
from training.data import read_split

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


def reliability_figure(truth: np.ndarray, raw: np.ndarray, calibrated: np.ndarray, path: Path) -> None:
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
        title=f"Reliability on ISIC 2017 validation (n={len(truth)})",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True, help="labelled ISIC folder (val/)")
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument("--target-sensitivity", type=float, default=0.90)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2017)
    parser.add_argument("--figure", type=Path, default=Path("docs/reliability.png"))
    args = parser.parse_args(argv)
    split = read_split(args.data)
    classifier = load_model(args.models, "classifier", "keras")
    images = np.stack([prepare_image(path, classifier.card.input_size)[0] for path in split.image_paths])
    raw = classifier.predict(images)[:, 0]  # the raw, uncalibrated output
    truth = split.melanoma
    held_out = out_of_fold(truth, raw, args.folds, args.seed)
    slope, intercept = fit_platt(truth, raw)
    served = calibrate(raw, slope, intercept)
    threshold = threshold_for_sensitivity(truth, served, args.target_sensitivity)
    flagged = served >= threshold
    sensitivity = float(flagged[truth > 0.5].mean())
    specificity = float((~flagged)[truth < 0.5].mean())
    reliability_figure(truth, raw, held_out, args.figure)
    card_path = args.models / "classifier.json"
    card = read_card(card_path).raw
    card["calibration"] = {
        "method": "Platt scaling of the raw output's logit, fitted on validation data",
        "slope": slope,
        "intercept": intercept,
        "data": str(args.data),
        "images": len(truth),
        "ece_raw": round(expected_calibration_error(truth, raw), 4),
        "ece_calibrated_out_of_fold": round(expected_calibration_error(truth, held_out), 4),
        "ece_bins": BINS,
        "folds": args.folds,
    }
    # Round down (with a margin for runtime round-off) so the melanoma at the cut stays flagged.
    card["threshold"] = math.floor((threshold - 1e-5) * 1e6) / 1e6
    card["threshold_meaning"] = (
        f"Probabilities at or above {threshold:.3f} are labelled malignant. The threshold was chosen on "
        f"validation data for a melanoma sensitivity of at least {args.target_sensitivity:.0%}: there it "
        f"flagged {sensitivity:.0%} of melanomas and cleared {specificity:.0%} of benign lesions."
    )
    card["operating_point"] = {
        "target_sensitivity": args.target_sensitivity,
        "validation_sensitivity": sensitivity,
        "validation_specificity": specificity,
    }
    write_card(card_path, card)
    print(card["calibration"], card["threshold_meaning"], sep="\n")


if __name__ == "__main__":
    main()
