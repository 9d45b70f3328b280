"""Fit the quality gate on the classifier's frozen ImageNet features and a few image measurements.

Example:
    python -m training.quality_gate --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \\
        --isic2020 ../shared/data/isic2020 --archive ../shared/data/isic_archive \\
        --clinical ../shared/data/clinical_photos

Dermoscopy: ISIC ``train/``, the HAM10000 ``fit`` part, the ISIC 2020 ``fit`` and ``select``
patients and the ISIC archive extra. Regular photos of skin: the PAD-UFES-20 smartphone photos of
the patients not held out, with the face crops and rendered skin of ``training.negatives``. Not
skin: the other installed and generated photos. The regularisation and the dermoscopy threshold
are chosen by grouped cross-validation on the fitting images alone; ISIC ``val/``, the held-out
HAM10000 lesions, the ISIC 2020 report patients, the held-out clinical patients and the held-out
negative groups only measure the result (``training.gate_report``). A leave-one-source-out run
says which kinds of photo the gate catches only because it saw them.

Writes ``models/quality_gate.npz`` and the ``quality_gate`` entry of the classifier card.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.preprocessing import StandardScaler

from lesion.inference import load_model
from lesion.model_card import read_card, write_card
from lesion.quality import DERMOSCOPY, IMAGE_FEATURES, KINDS, NOT_SKIN, QualityGate
from training.cli import command_line, existing_dir
from training.gate_data import CLINICAL, DERMOSCOPY_SOURCES, GateData, gate_data
from training.gate_report import held_out_report, report_lines, verdicts
from training.negatives import WALLPAPER_DIRS, installed_wallpapers

#: Highest share of each dermoscopy source the threshold may refuse in cross-validation (the target is 2%).
CV_REFUSAL = 0.01
C_GRID = (0.003, 0.01, 0.03)
#: Weights of the not-skin class on top of the balanced ones (everyday photos are few beside the dermoscopy).
NOT_SKIN_WEIGHTS = (1.0, 3.0)
FOLDS = 5


def fit_model(
    inputs: np.ndarray, labels: np.ndarray, c: float, start: LogisticRegression | None = None, not_skin: float = 1.0
) -> tuple[StandardScaler, LogisticRegression]:
    """Multinomial logistic regression (balanced classes, not-skin weighted by ``not_skin``) on standardised inputs.

    Starts from ``start``'s weights if given.
    """
    scaler = StandardScaler().fit(inputs)
    weights = len(labels) / (len(KINDS) * np.maximum(np.bincount(labels, minlength=len(KINDS)), 1))
    weights[KINDS.index(NOT_SKIN)] *= not_skin
    classes = {kind: float(w) for kind, w in enumerate(weights)}
    model = LogisticRegression(C=c, max_iter=3000, class_weight=classes, warm_start=start is not None)
    if start is not None:  # a nearby solution (another C, or fewer images) converges in far fewer steps
        model.coef_, model.intercept_ = start.coef_.copy(), start.intercept_.copy()
    model.fit(scaler.transform(inputs), labels)
    return scaler, model


def as_gate(scaler: StandardScaler, model: LogisticRegression, threshold: float = 0.5) -> QualityGate:
    """The fitted model as a gate, standardisation folded into the weights."""
    scale = np.sqrt(scaler.var_) + 1e-12
    weights = model.coef_ / scale
    biases = model.intercept_ - weights @ scaler.mean_
    return QualityGate(weights, biases, threshold, IMAGE_FEATURES)


def fit_gate(inputs: np.ndarray, labels: np.ndarray, c: float, not_skin: float = 1.0) -> QualityGate:
    """Multinomial logistic regression (balanced classes), standardisation folded into the weights."""
    return as_gate(*fit_model(inputs, labels, c, None, not_skin))


def threshold_for(dermoscopy_scores: dict[str, np.ndarray]) -> float:
    """The highest threshold that refuses at most ``CV_REFUSAL`` of each source's dermoscopy."""
    return float(min(np.quantile(scores, CV_REFUSAL) for scores in dermoscopy_scores.values()))


def cross_validate(
    data: GateData, c: float, starts: list | None = None, not_skin: float = 1.0
) -> tuple[np.ndarray, list]:
    """Out-of-fold kind probabilities and the fold models; five folds by group, each with its share of every source."""
    out = np.zeros((len(data.labels), len(KINDS)))
    strata = np.unique(data.sources, return_inverse=True)[1]
    models = []
    for fold, (fit, rest) in enumerate(StratifiedGroupKFold(FOLDS).split(data.inputs, strata, data.groups)):
        scaler, model = fit_model(data.inputs[fit], data.labels[fit], c, starts[fold] if starts else None, not_skin)
        out[rest] = as_gate(scaler, model).probabilities(data.inputs[rest])
        models.append(model)
    return out, models


def _refusal_targets(data: GateData) -> dict[str, np.ndarray]:
    """Rows of the two kinds of photo that must be refused: clinical photos and everyday photos."""
    everyday = ~np.isin(data.sources, (*DERMOSCOPY_SOURCES, CLINICAL))
    return {"clinical_photos": data.sources == CLINICAL, "everyday_photos": everyday}


def select(data: GateData) -> dict[tuple[float, float], dict]:
    """Per (C, not-skin weight): the cross-validated threshold and the share of clinical and everyday photos refused."""
    selection = {}
    for not_skin in NOT_SKIN_WEIGHTS:
        starts = None
        for c in C_GRID:
            probabilities, starts = cross_validate(data, c, starts, not_skin)
            dermoscopy = probabilities[:, 0]
            threshold = threshold_for({s: dermoscopy[data.sources == s] for s in DERMOSCOPY_SOURCES})
            targets = _refusal_targets(data).items()
            refused = {name: float(np.mean(dermoscopy[rows] < threshold)) for name, rows in targets}
            entry = {"threshold": threshold, **{f"cv_{name}_refused": v for name, v in refused.items()}}
            selection[(c, not_skin)] = entry
            print(f"C={c}, not-skin weight {not_skin}: {entry}", file=sys.stderr)
    return selection


def refusal_score(entry: dict) -> tuple[float, float]:
    """The lower of the clinical and everyday refusal shares, then their mean (what the choice maximises)."""
    shares = (entry["cv_clinical_photos_refused"], entry["cv_everyday_photos_refused"])
    return min(shares), sum(shares) / 2


def unseen_source_refusals(
    data: GateData, report: GateData, setting: tuple[float, float], threshold: float, start: LogisticRegression
) -> dict[str, float]:
    """Per non-dermoscopy source: refit without it (from the full fit's weights), then the share of it refused."""
    rates = {}
    for source in sorted(set(data.sources) - set(DERMOSCOPY_SOURCES)):
        kept = data.sources != source
        gate = as_gate(*fit_model(data.inputs[kept], data.labels[kept], setting[0], start, setting[1]), threshold)
        rows = np.concatenate([data.inputs[~kept], report.inputs[report.sources == source]])
        rates[str(source)] = round(float(np.mean(np.array(gate.kinds(gate.probabilities(rows))) != DERMOSCOPY)), 4)
        print(f"without {source}: refuses {rates[str(source)]} of it", file=sys.stderr)
    return rates


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True, help="ISIC 2017 folder with train/ and val/")
    parser.add_argument("--ham", type=existing_dir, required=True, help="HAM10000 folder with metadata.csv")
    parser.add_argument("--isic2020", type=existing_dir, required=True, help="ISIC 2020 folder with labels.csv")
    parser.add_argument("--archive", type=existing_dir, required=True, help="ISIC archive extra with labels.csv")
    parser.add_argument("--clinical", type=existing_dir, required=True, help="PAD-UFES-20 smartphone photos")
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument("--cache", type=Path, help="npz to keep the gate's inputs in between runs")
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


def _data(args: argparse.Namespace) -> GateData:
    """Every image's gate input (from ``--cache`` when it exists, and kept there when asked)."""
    if args.cache and args.cache.is_file():
        return GateData.load(args.cache)
    classifier = load_model(args.models, "classifier", "auto")
    folders = {name: getattr(args, name) for name in ("data", "ham", "isic2020", "archive", "clinical")}
    data = gate_data(classifier, folders)
    if args.cache:
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        data.save(args.cache)
    return data


def _fitted_on(data: GateData) -> dict[str, int]:
    fitting = data.subset(data.fits)
    counts = {str(s): int(np.sum(fitting.sources == s)) for s in (*DERMOSCOPY_SOURCES, CLINICAL)}
    counts["everyday_photos"] = int(np.sum(_refusal_targets(fitting)["everyday_photos"]))
    return counts


def gate_card(
    gate: QualityGate, selection: dict, setting: tuple[float, float], data: GateData, report: dict, unseen: dict
) -> dict:
    """The classifier card's ``quality_gate`` entry."""
    return {
        "file": "quality_gate.npz",
        "kinds": list(KINDS),
        "method": "multinomial logistic regression (balanced classes) on the classifier's pooled frozen ImageNet "
        "MobileNetV2 features (its 'features' output) and lesion.quality.image_features of the same model-sized "
        "photo; dermoscopy when P(dermoscopy) >= threshold, else the likelier of skin_photo and not_skin",
        "image_features": list(IMAGE_FEATURES),
        "threshold": gate.threshold,
        "selection": f"C and threshold by {FOLDS}-fold cross-validation grouped by patient, lesion, image or photo "
        f"group on the fitting images: the threshold refuses at most {CV_REFUSAL:.1%} of each dermoscopy source "
        f"({', '.join(DERMOSCOPY_SOURCES)}); C and the not-skin class weight maximise the lower of the refused shares "
        "of clinical and everyday photos, then their mean",
        "cross_validation": {f"C={c}, not_skin_weight={w}": v for (c, w), v in selection.items()},
        "c": setting[0],
        "not_skin_weight": setting[1],
        "fitted_on": _fitted_on(data),
        "data": "dermoscopy: ISIC 2017 train/, HAM10000 fit part (CC BY-NC-SA 4.0), ISIC 2020 fit and select patients "
        "(CC BY-NC 4.0), ISIC archive extra; regular photos of skin: PAD-UFES-20 smartphone photos (CC BY 4.0, "
        "Pacheco et al. 2020), patients not held out; everyday photos: training.negatives groups not held out",
        "held_out": report,
        "refused_when_source_unseen": unseen,
        "command": command_line(),
        "date": date.today().isoformat(),
    }


#: The footer's entry for the gate's phone photos: they trained the gate, not the classifier.
PHONE_PHOTOS = {"name": "PAD-UFES-20 smartphone photos", "licence": "CC BY 4.0", "used_by": "quality gate"}


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    data = _data(args)
    fitting, reported = data.subset(data.fits), data.subset(~data.fits)
    selection = select(fitting)
    setting = max(selection, key=lambda key: refusal_score(selection[key]))
    scaler, model = fit_model(fitting.inputs, fitting.labels, setting[0], None, setting[1])
    gate = as_gate(scaler, model, selection[setting]["threshold"])
    report = held_out_report(gate, data)
    print("\n".join(report_lines(report)), file=sys.stderr)
    gate.save(args.models / "quality_gate.npz")
    unseen = unseen_source_refusals(fitting, reported, setting, gate.threshold, model)

    card_path = args.models / "classifier.json"
    card = read_card(card_path).raw
    card["quality_gate"] = gate_card(gate, selection, setting, data, report, unseen)
    listed = {entry["name"] for entry in card.get("training_data", [])}
    if PHONE_PHOTOS["name"] not in listed:
        card.setdefault("training_data", []).append(PHONE_PHOTOS)
    write_card(card_path, card)
    kinds = verdicts(gate, reported)
    print(f"report images refused: {np.mean(kinds != DERMOSCOPY):.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
