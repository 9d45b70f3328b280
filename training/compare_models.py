"""Compare two model folders on data that chose nothing, with paired bootstraps of the gains.

Example:
    git archive 5d53557 models | tar -x -C /tmp/v1
    python -m training.compare_models --old /tmp/v1/models --new models \
        --data ../shared/data/isic2017/val --ham ../shared/data/ham10000

Both classifiers score the same images (ISIC ``val/`` and the held-out HAM10000 lesions), and
both segmenters the same ``val/`` masks (mean and thresholded Jaccard); the images are resampled
together, so each interval is for the difference itself. ``--only`` limits it to one model.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.metrics import roc_auc_score

from lesion.inference import Predictor
from training.cli import existing_dir
from training.data import IsicSplit, load_mask, read_split
from training.evaluate import served_analyses, served_probabilities
from training.metrics import bootstrap_auc, bootstrap_interval, per_image_segmentation_scores
from training.splits import read_ham

#: The segmentation metrics compared (per-image means, as ISIC ranks them).
SEGMENTATION_METRICS = ("jaccard", "threshold_jaccard")


def paired_auc_gain(
    truth: np.ndarray, old: np.ndarray, new: np.ndarray, rounds: int = 2000, seed: int = 0
) -> dict[str, float | list[float]]:
    """AUC(new) - AUC(old) with a 95% percentile interval from resampling images jointly."""

    def gain(pick: np.ndarray) -> float:
        return roc_auc_score(truth[pick], new[pick]) - roc_auc_score(truth[pick], old[pick])

    everything = np.arange(len(truth))
    return {
        "gain": round(float(gain(everything)), 4),
        "ci95": bootstrap_interval(gain, len(truth), rounds, seed, truth),
    }


def paired_mean_gain(old: np.ndarray, new: np.ndarray, rounds: int = 2000, seed: int = 0) -> dict:
    """mean(new) - mean(old) of per-image scores, with a 95% interval from resampling images jointly."""

    def gain(pick: np.ndarray) -> float:
        return float(np.mean(new[pick]) - np.mean(old[pick]))

    return {"gain": round(gain(np.arange(len(old))), 4), "ci95": bootstrap_interval(gain, len(old), rounds, seed)}


def compare_segmenters(predictors: dict[str, Predictor], isic: IsicSplit) -> dict:
    """Mean and thresholded Jaccard of the ``old`` and ``new`` served masks, with the paired gain."""
    truth = [load_mask(path) for path in isic.mask_paths]
    scores = {}
    for version, predictor in predictors.items():
        masks = [analysis.mask for analysis in served_analyses(predictor, isic.image_paths)]
        scores[version] = per_image_segmentation_scores(truth, masks)
    report: dict = {"images": len(truth)}
    for metric in SEGMENTATION_METRICS:
        old, new = (scores[version][metric].to_numpy() for version in ("old", "new"))
        report[metric] = {
            "old": round(float(old.mean()), 4),
            "new": round(float(new.mean()), 4),
            "new_minus_old": paired_mean_gain(old, new),
        }
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=existing_dir, required=True, help="models folder of the current version")
    parser.add_argument("--new", type=existing_dir, required=True, help="models folder of the candidate")
    parser.add_argument("--data", type=existing_dir, required=True, help="labelled ISIC folder (val/)")
    parser.add_argument("--ham", type=existing_dir, help="HAM10000 folder (needed to compare classifiers)")
    parser.add_argument("--only", choices=("classifier", "segmenter"), help="compare just this model")
    args = parser.parse_args(argv)
    if args.only != "segmenter" and args.ham is None:
        parser.error("comparing classifiers needs --ham")
    isic = read_split(args.data)
    predictors = {name: Predictor.from_directory(folder) for name, folder in (("old", args.old), ("new", args.new))}
    report: dict = {"old": predictors["old"].model_versions, "new": predictors["new"].model_versions}
    if args.only != "segmenter":
        ham = read_ham(args.ham, "held_out")
        sets = {
            "isic_val": (isic.image_paths, np.asarray(isic.melanoma)),
            "ham_held_out": (ham.paths, np.asarray(ham.melanoma)),
        }
        for name, (paths, truth) in sets.items():
            scores = {version: served_probabilities(predictor, paths) for version, predictor in predictors.items()}
            report[name] = {
                "images": len(truth),
                "melanoma": int(truth.sum()),
                "old_auc": bootstrap_auc(truth, scores["old"]),
                "new_auc": bootstrap_auc(truth, scores["new"]),
                "new_minus_old": paired_auc_gain(truth, scores["old"], scores["new"]),
            }
    if args.only != "classifier":
        report["isic_val_segmentation"] = compare_segmenters(predictors, isic)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
