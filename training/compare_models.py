"""Compare two classifier folders on data that chose nothing, with a paired bootstrap of the AUC gain.

Example:
    git archive 5d53557 models | tar -x -C /tmp/v1
    python -m training.compare_models --old /tmp/v1/models --new models \
        --data ../shared/data/isic2017/val --ham ../shared/data/ham10000

Both classifiers score the same images (ISIC ``val/`` and the held-out HAM10000 lesions); the
images are resampled together, so the interval is for the difference itself. Prints JSON.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.metrics import roc_auc_score

from app.inference import Predictor
from training.cli import existing_dir
from training.data import read_split
from training.evaluate import served_probabilities
from training.ham import read_ham
from training.metrics import bootstrap_auc, bootstrap_interval


def paired_auc_gain(
    truth: np.ndarray, old: np.ndarray, new: np.ndarray, rounds: int = 2000, seed: int = 0
) -> dict[str, float | list[float]]:
    """AUC(new) - AUC(old) with a 95% percentile interval from resampling images jointly."""

    def gain(pick: np.ndarray) -> float:
        return roc_auc_score(truth[pick], new[pick]) - roc_auc_score(truth[pick], old[pick])

    everything = np.arange(len(truth))
    return {"gain": round(float(gain(everything)), 4), "ci95": bootstrap_interval(truth, gain, rounds, seed)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=existing_dir, required=True, help="models folder of the current version")
    parser.add_argument("--new", type=existing_dir, required=True, help="models folder of the candidate")
    parser.add_argument("--data", type=existing_dir, required=True, help="labelled ISIC folder (val/)")
    parser.add_argument("--ham", type=existing_dir, required=True, help="HAM10000 folder")
    args = parser.parse_args(argv)
    isic, ham = read_split(args.data), read_ham(args.ham, "held_out")
    sets = {
        "isic_val": (isic.image_paths, np.asarray(isic.melanoma)),
        "ham_held_out": (ham.paths, np.asarray(ham.melanoma)),
    }
    predictors = {name: Predictor.from_directory(folder) for name, folder in (("old", args.old), ("new", args.new))}
    report = {"old": predictors["old"].model_versions, "new": predictors["new"].model_versions}
    for name, (paths, truth) in sets.items():
        scores = {version: served_probabilities(predictor, paths) for version, predictor in predictors.items()}
        report[name] = {
            "images": len(truth),
            "melanoma": int(truth.sum()),
            "old_auc": bootstrap_auc(truth, scores["old"]),
            "new_auc": bootstrap_auc(truth, scores["new"]),
            "new_minus_old": paired_auc_gain(truth, scores["old"], scores["new"]),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
