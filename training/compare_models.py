"""Compare two model folders on data that chose nothing, with paired bootstraps of the gains.

Example:
    git archive 5d53557 models | tar -x -C /tmp/v1
    python -m training.compare_models --old /tmp/v1/models /tmp/v2/models --new models \
        --data ../shared/data/isic2017/val --ham ../shared/data/ham10000 --isic2020 ../shared/data/isic2020

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
from training.sources import isic2019_parts, isic2020_parts
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
    parser.add_argument("--old", type=existing_dir, nargs="+", required=True, help="models folders of earlier versions")
    parser.add_argument("--new", type=existing_dir, required=True, help="models folder of the candidate")
    parser.add_argument("--data", type=existing_dir, required=True, help="labelled ISIC folder (val/)")
    parser.add_argument("--ham", type=existing_dir, help="HAM10000 folder (needed to compare classifiers)")
    parser.add_argument("--isic2020", type=existing_dir, help="ISIC 2020 folder: also compare on its report patients")
    parser.add_argument("--isic2019", type=existing_dir, help="ISIC 2019 folder: also compare on its report lesions")
    parser.add_argument("--only", choices=("classifier", "segmenter"), help="compare just this model")
    args = parser.parse_args(argv)
    if args.only != "segmenter" and args.ham is None:
        parser.error("comparing classifiers needs --ham")
    isic = read_split(args.data)
    new = Predictor.from_directory(args.new)
    olds = [Predictor.from_directory(folder) for folder in args.old]
    report: dict = {"new": new.model_versions, "old": [old.model_versions for old in olds]}
    if args.only != "segmenter":
        report.update(compare_classifiers(new, olds, report_sets(isic, args)))
    if args.only != "classifier":
        for old in olds:
            key = "isic_val_segmentation" + ("" if len(olds) == 1 else f"_vs_{old.model_versions['segmenter']}")
            report[key] = compare_segmenters({"old": old, "new": new}, isic)
    print(json.dumps(report, indent=2))


def report_sets(isic: IsicSplit, args: argparse.Namespace) -> dict[str, tuple]:
    """The labelled sets that chose nothing: (paths, truth) by name."""
    ham = read_ham(args.ham, "held_out")
    sets = {
        "isic_val": (isic.image_paths, np.asarray(isic.melanoma)),
        "ham_held_out": (ham.paths, np.asarray(ham.melanoma)),
    }
    if args.isic2020 is not None:
        part = isic2020_parts(args.isic2020)["report"]
        sets["isic2020_report"] = (part.paths, np.asarray(part.melanoma))
    if args.isic2019 is not None:
        part = isic2019_parts(args.isic2019)["report"]
        sets["isic2019_report"] = (part.paths, np.asarray(part.melanoma))
    return sets


def compare_classifiers(new: Predictor, olds: list[Predictor], sets: dict[str, tuple]) -> dict:
    """Per set, each version's AUC (95% interval) and the paired gain of the new one over each earlier one."""
    report = {}
    for name, (paths, truth) in sets.items():
        new_scores = served_probabilities(new, paths)
        entry: dict = {"images": len(truth), "melanoma": int(truth.sum()), "new_auc": bootstrap_auc(truth, new_scores)}
        for old in olds:
            version = old.model_versions["classifier"]
            old_scores = served_probabilities(old, paths)
            entry[f"auc_{version}"] = bootstrap_auc(truth, old_scores)
            entry[f"new_minus_{version}"] = paired_auc_gain(truth, old_scores, new_scores)
        report[name] = entry
    return report


if __name__ == "__main__":
    main()
