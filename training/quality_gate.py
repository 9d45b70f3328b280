"""Fit the quality gate on the classifier's frozen ImageNet features.

Example:
    python -m training.quality_gate --data ../shared/data/isic2017 --ham ../shared/data/ham10000

Dermoscopy: ISIC ``train/`` and the HAM10000 lesions of its ``fit`` part. Not dermoscopy: the
installed and generated photos of ``training.negatives``, by group. The regularisation and the
dermoscopy threshold are chosen by grouped cross-validation on those alone; ISIC ``val/``, the
held-out HAM10000 lesions and the held-out negative groups only measure the result. A
leave-one-source-out run says which kinds of photo the gate catches only because it saw them.

Writes ``models/quality_gate.npz`` and the ``quality_gate`` entry of the classifier card.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from lesion.inference import LoadedModel, load_model
from lesion.model_card import read_card, write_card
from lesion.preprocessing import prepare_image, resize_for_model
from lesion.quality import DERMOSCOPY, KINDS, QualityGate
from training.cli import command_line, existing_dir
from training.data import read_split
from training.negatives import WALLPAPER_DIRS, installed_wallpapers, negative_corpus
from training.splits import held_out, read_ham

#: Highest share of dermoscopy images the threshold may refuse in cross-validation, per source.
CV_REFUSAL = 0.005
C_GRID = (0.001, 0.003, 0.01, 0.03)


def features_of(classifier: LoadedModel, images: Sequence, load: Callable, batch_size: int = 32) -> np.ndarray:
    """The classifier's frozen-feature output for images, each made model-ready by ``load``."""
    side = classifier.card.input_size
    rows = []
    for start in tqdm(range(0, len(images), batch_size), desc="features", unit="batch", file=sys.stderr):
        batch = np.stack([load(image, side) for image in images[start : start + batch_size]])
        rows.append(classifier.predict_all(batch)[1])
    return np.concatenate(rows)


def from_path(path: Path, side: int) -> np.ndarray:
    return prepare_image(path, side)[0]


def fit_gate(features: np.ndarray, labels: np.ndarray, c: float) -> QualityGate:
    """Multinomial logistic regression (balanced classes), standardisation folded into the weights."""
    scaler = StandardScaler().fit(features)
    model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
    model.fit(scaler.transform(features), labels)
    scale = np.sqrt(scaler.var_) + 1e-12
    weights = model.coef_ / scale
    biases = model.intercept_ - weights @ scaler.mean_
    return QualityGate(weights, biases, 0.5)


def threshold_for(dermoscopy_scores: dict[str, np.ndarray]) -> float:
    """The highest threshold that refuses at most ``CV_REFUSAL`` of each source's dermoscopy."""
    return float(min(np.quantile(scores, CV_REFUSAL) for scores in dermoscopy_scores.values()))


def cross_validate(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, c: float) -> np.ndarray:
    """Out-of-fold kind probabilities, five folds by group."""
    out = np.zeros((len(labels), len(KINDS)))
    for fit, rest in GroupKFold(5).split(features, labels, groups):
        out[rest] = fit_gate(features[fit], labels[fit], c).probabilities(features[rest])
    return out


def _refused(kinds: Sequence[str]) -> float:
    """Share of verdicts that are not dermoscopy, to 4 decimals."""
    return round(float(np.mean([k != DERMOSCOPY for k in kinds])), 4) if len(kinds) else 0.0


def refusal_rate(gate: QualityGate, features: np.ndarray) -> float:
    return _refused(gate.kinds(gate.probabilities(features)))


def _select(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, isic_rows: np.ndarray) -> dict:
    """Cross-validated threshold and refused negatives for each C."""
    selection = {}
    for c in C_GRID:
        oof = cross_validate(features, labels, groups, c)
        ham_rows = (labels == 0) & ~isic_rows
        threshold = threshold_for({"isic": oof[isic_rows, 0], "ham": oof[ham_rows, 0]})
        refused = float(np.mean(oof[labels != 0, 0] < threshold))
        selection[c] = {"threshold": threshold, "cv_negatives_refused": refused}
        print(f"C={c}: {selection[c]}", file=sys.stderr)
    return selection


def _unseen_source_refusals(
    features: np.ndarray, labels: np.ndarray, sources: np.ndarray, all_negatives: tuple, c: float, threshold: float
) -> dict[str, float]:
    """Per negative source: refit without it, then the share of all its images refused."""
    negative_features, negative_sources = all_negatives
    rates = {}
    for source in sorted(set(negative_sources)):
        fitted = fit_gate(features[sources != source], labels[sources != source], c)
        gate = QualityGate(fitted.weights, fitted.biases, threshold)
        rates[str(source)] = refusal_rate(gate, negative_features[negative_sources == source])
        print(f"without {source}: refuses {rates[str(source)]} of it", file=sys.stderr)
    return rates


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True, help="ISIC folder with train/ and val/")
    parser.add_argument("--ham", type=existing_dir, required=True, help="HAM10000 folder with metadata.csv")
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument("--cache", type=Path, help="npz to keep the features in between runs")
    parser.add_argument(
        "--without-wallpapers",
        action="store_true",
        help="fit even though no wallpapers are installed (a weaker gate than the shipped one)",
    )
    args = parser.parse_args(argv)
    if not args.without_wallpapers and not installed_wallpapers():
        parser.error(
            f"no wallpapers under {', '.join(map(str, WALLPAPER_DIRS))}: the shipped gate was fitted with them as "
            "negatives. Install them (apt-get install gnome-backgrounds mate-backgrounds) or pass --without-wallpapers"
        )
    return args


def _all_features(args: argparse.Namespace, classifier: LoadedModel, sources: dict) -> dict[str, np.ndarray]:
    """Frozen features of every part (from ``--cache`` when it exists, and kept there when asked)."""
    if args.cache and args.cache.is_file():
        with np.load(args.cache) as cached:
            return {name: cached[name] for name in cached.files}
    parts = {
        "isic_train": features_of(classifier, sources["isic_train"].image_paths, from_path),
        "isic_val": features_of(classifier, sources["isic_val"].image_paths, from_path),
        "ham_fit": features_of(classifier, sources["ham_fit"].paths, from_path),
        "ham_held": features_of(classifier, sources["ham_held"].paths, from_path),
        "negatives": features_of(classifier, [n.rgb for n in sources["negatives"]], resize_for_model),
    }
    if args.cache:
        np.savez(args.cache, **parts)
    return parts


def _held_out_report(gate: QualityGate, parts: dict[str, np.ndarray], negatives: list, held: np.ndarray) -> dict:
    """Refusal rates on what the gate was not fitted on: ISIC val/, held-out HAM lesions, held-out negatives."""
    negative_labels = np.array([KINDS.index(n.kind) for n in negatives])
    negative_sources = np.array([n.source for n in negatives], dtype=object)
    held_kinds = np.array(gate.kinds(gate.probabilities(parts["negatives"][held])))
    held_sources, held_labels = negative_sources[held], negative_labels[held]
    refused = held_kinds != DERMOSCOPY
    right_kind = [KINDS.index(k) == label for k, label in zip(held_kinds[refused], held_labels[refused], strict=True)]
    return {
        "isic_val_refused": refusal_rate(gate, parts["isic_val"]),
        "isic_val_images": len(parts["isic_val"]),
        "ham_held_out_refused": refusal_rate(gate, parts["ham_held"]),
        "ham_held_out_images": len(parts["ham_held"]),
        "negatives_refused": _refused(held_kinds),
        "negatives_images": int(held.sum()),
        "negatives_refused_by_source": {
            str(source): _refused(held_kinds[held_sources == source]) for source in sorted(set(held_sources))
        },
        "refused_negatives_given_their_kind": round(float(np.mean(right_kind)), 4),
    }


def _gate_card(
    gate: QualityGate, selection: dict, c: float, parts: dict, held: np.ndarray, report: dict, unseen: dict
) -> dict:
    """The classifier card's ``quality_gate`` entry."""
    return {
        "file": "quality_gate.npz",
        "kinds": list(KINDS),
        "method": "multinomial logistic regression (balanced classes) on the classifier's pooled frozen ImageNet "
        "MobileNetV2 features (its 'features' output); dermoscopy when P(dermoscopy) >= threshold, else the likelier "
        "of skin_photo and not_skin",
        "threshold": gate.threshold,
        "selection": f"C and threshold by 5-fold grouped cross-validation on the fitting data: threshold refuses at "
        f"most {CV_REFUSAL:.1%} of ISIC train and of HAM10000 fit-part dermoscopy; C maximises refused negatives",
        "cross_validation": {str(k): v for k, v in selection.items()},
        "c": c,
        "fitted_on": {
            "dermoscopy": f"ISIC 2017 train/ ({len(parts['isic_train'])}) + HAM10000 fit part ({len(parts['ham_fit'])} "
            "images, lesion-grouped; CC BY-NC-SA 4.0)",
            "negatives": f"{int((~held).sum())} images of training.negatives (groups not held out)",
        },
        "held_out": report,
        "refused_when_source_unseen": unseen,
        "command": command_line(),
        "date": date.today().isoformat(),
    }


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    classifier = load_model(args.models, "classifier", "auto")
    negatives = negative_corpus()
    isic_train = read_split(args.data / "train")
    ham_fit = read_ham(args.ham, "fit")
    sources = {
        "isic_train": isic_train,
        "isic_val": read_split(args.data / "val"),
        "ham_fit": ham_fit,
        "ham_held": read_ham(args.ham, "held_out"),
        "negatives": negatives,
    }
    parts = _all_features(args, classifier, sources)
    held = np.array([held_out(n.group) for n in negatives])
    negative_labels = np.array([KINDS.index(n.kind) for n in negatives])
    negative_sources = np.array([n.source for n in negatives], dtype=object)
    dermoscopy_count = len(parts["isic_train"]) + len(parts["ham_fit"])
    features = np.concatenate([parts["isic_train"], parts["ham_fit"], parts["negatives"][~held]])
    labels = np.concatenate([np.zeros(dermoscopy_count, int), negative_labels[~held]])
    kinds_of = np.concatenate([np.full(dermoscopy_count, DERMOSCOPY, object), negative_sources[~held]])
    groups = np.array(
        [f"isic/{p.stem}" for p in isic_train.image_paths]
        + [f"ham/{lesion}" for lesion in ham_fit.lesion_ids]
        + [n.group for n, h in zip(negatives, held, strict=True) if not h]
    )
    selection = _select(features, labels, groups, np.arange(len(features)) < len(parts["isic_train"]))
    c = max(C_GRID, key=lambda value: selection[value]["cv_negatives_refused"])
    fitted = fit_gate(features, labels, c)
    gate = QualityGate(fitted.weights, fitted.biases, selection[c]["threshold"])
    report = _held_out_report(gate, parts, negatives, held)
    unseen = _unseen_source_refusals(
        features, labels, kinds_of, (parts["negatives"], negative_sources), c, gate.threshold
    )

    gate.save(args.models / "quality_gate.npz")
    card_path = args.models / "classifier.json"
    card = read_card(card_path).raw
    card["quality_gate"] = _gate_card(gate, selection, c, parts, held, report, unseen)
    write_card(card_path, card)
    print(card["quality_gate"])


if __name__ == "__main__":
    main()
