"""Compare frozen ImageNet backbones and ways of adding HAM10000 with linear melanoma probes.

Example:
    python -m experiments.probe_comparison --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \
        --mobilenet-weights ../shared/weights/mobilenet_v2_1.0_imagenet_no_top.weights.h5 \
        --lite ../shared/weights/efficientnet_lite0_imagenet.npz ../shared/weights/efficientnet_lite2_imagenet.npz

For each backbone and each data regime, a logistic regression on pooled frozen features, its C
chosen by 5-fold grouped cross-validation on the fitting data only (ISIC ``train/`` and, where
the regime uses it, the HAM10000 fit part). Reported, never used to choose: melanoma AUC with a
95% bootstrap interval on ISIC ``val/`` and on the held-out HAM10000 lesions. Writes a JSON report.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import keras
import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from tqdm import tqdm

from experiments.efficientnet_lite import build_efficientnet_lite
from lesion.preprocessing import prepare_image
from training.cli import existing_dir
from training.data import read_split
from training.ensemble import fit_probe, imagenet_features
from training.metrics import bootstrap_auc
from training.splits import read_ham

IMAGE_SIZE = 256
C_GRID = (0.0003, 0.001, 0.003, 0.01)
#: name -> weight of each HAM10000 fit-part image relative to an ISIC training image (0 = not used).
REGIMES = {"isic_only": 0.0, "isic+ham_weight_0.25": 0.25, "isic+ham_pooled": 1.0}


def pooled(model: keras.Model, paths: tuple[Path, ...], batch_size: int = 32) -> np.ndarray:
    """Concatenated global-average-pooled outputs of a frozen model for image files."""
    rows = []
    for start in tqdm(range(0, len(paths), batch_size), desc=model.name, unit="batch", file=sys.stderr):
        batch = np.stack([prepare_image(p, IMAGE_SIZE)[0] for p in paths[start : start + batch_size]]).astype("float32")
        outputs = model.predict_on_batch(batch)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        rows.append(np.concatenate([np.asarray(o).mean(axis=(1, 2)) for o in outputs], axis=1))
    return np.concatenate(rows)


def probe_scorer(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, c: float):
    """The decision function of ``fit_probe`` on raw feature rows."""
    scaler, probe = fit_probe(features, labels, weights, c)
    return lambda rows: probe.decision_function(scaler.transform(rows))


def choose_c(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, groups: np.ndarray, isic: np.ndarray
) -> float:
    """C by grouped 5-fold cross-validated AUC on the ISIC training rows (the target domain)."""
    scores = {}
    for c in C_GRID:
        aucs = []
        for fit, held in GroupKFold(5).split(features, labels, groups):
            held = held[isic[held]]
            score = probe_scorer(features[fit], labels[fit], weights[fit], c)
            aucs.append(roc_auc_score(labels[held], score(features[held])))
        scores[c] = float(np.mean(aucs))
    return max(scores, key=scores.get)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True)
    parser.add_argument("--ham", type=existing_dir, required=True)
    parser.add_argument("--mobilenet-weights", default="imagenet", help="MobileNetV2 no-top weights file")
    parser.add_argument("--lite", type=Path, nargs="*", default=[], help="EfficientNet-Lite .npz files")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/probe_comparison.json"))
    args = parser.parse_args(argv)
    train, val = read_split(args.data / "train"), read_split(args.data / "val")
    ham_fit, ham_held = read_ham(args.ham, "fit"), read_ham(args.ham, "held_out")
    backbones = {"mobilenetv2_probe_layers": lambda: imagenet_features(IMAGE_SIZE, args.mobilenet_weights)}
    for path in args.lite:
        backbones[path.stem] = lambda path=path: build_efficientnet_lite(path, (IMAGE_SIZE, IMAGE_SIZE, 3), False)
    report = {"date": date.today().isoformat(), "image_size": IMAGE_SIZE, "results": {}}
    splits = {"train": train.image_paths, "val": val.image_paths, "ham_fit": ham_fit.paths, "ham_held": ham_held.paths}
    for name, build in backbones.items():
        model = build()
        parts = {key: pooled(model, paths) for key, paths in splits.items()}
        for regime, ham_weight in REGIMES.items():
            use_ham = ham_weight > 0
            features = np.concatenate([parts["train"], parts["ham_fit"]]) if use_ham else parts["train"]
            labels = np.concatenate([train.melanoma, ham_fit.melanoma]) if use_ham else np.asarray(train.melanoma)
            weights = np.concatenate([np.ones(len(parts["train"])), np.full(len(parts["ham_fit"]), ham_weight)])
            weights = weights[: len(features)]
            groups = np.array([p.stem for p in train.image_paths] + (list(ham_fit.lesion_ids) if use_ham else []))
            c = choose_c(features, labels, weights, groups, np.arange(len(features)) < len(parts["train"]))
            score = probe_scorer(features, labels, weights, c)
            result = {
                "c": c,
                "isic_val": bootstrap_auc(np.asarray(val.melanoma), score(parts["val"])),
                "ham_held_out": bootstrap_auc(np.asarray(ham_held.melanoma), score(parts["ham_held"])),
            }
            report["results"][f"{name} / {regime}"] = result
            print(name, regime, result, file=sys.stderr)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
