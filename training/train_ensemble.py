"""Ensemble the fine-tuned classifier with a linear probe on frozen ImageNet features (``make ensemble``).

Example:
    python -m training.train_ensemble --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \
        --backbone-weights ../shared/weights/mobilenet_v2_1.0_imagenet_no_top.weights.h5

The probe is fitted on the fit parts of ``training.splits``; its HAM10000 weight and C, and
the two members' weights, are chosen on the selection parts (mean of the ISIC and HAM10000
AUCs). ISIC ``val/`` and the held-out HAM10000 lesions are never read here. The model itself is
built by ``training.ensemble``.

Reads and rewrites ``models/classifier.keras`` (keeping the fine-tuned model as
``models/.checkpoints/classifier-finetuned.keras``) and updates the card. With
``--probe-only [--image-size N]`` the probe alone becomes the classifier (at N px; no
fine-tuned model needed): a candidate that the shipped ensemble beat on the report sets at
288 px (docs/MODELS.md).
"""

from __future__ import annotations

import argparse
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lesion.model_card import read_card, write_card
from training.cli import backbone_weights, command_line, existing_dir
from training.cost import gflops
from training.data import model_inputs, read_split
from training.ensemble import (
    PROBE_LAYERS,
    SHARED_UNTIL,
    build_ensemble,
    build_probe_classifier,
    fit_probe,
    imagenet_features,
    pooled_features,
)
from training.explainer import OUTPUTS
from training.splits import classifier_parts
from training.train_classifier import predict_probabilities, selection_score

#: HAM10000 fit-part image weights (relative to an ISIC image) and C values tried for the probe.
HAM_WEIGHTS = (0.25, 0.5, 1.0)
C_GRID = (0.0003, 0.001, 0.003)
#: Weights of the fine-tuned member's logit tried for the ensemble (the probe gets the rest).
FINETUNED_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
SELECTION = ("isic_select", "ham_select")
PART_NAMES = ("isic_fit", "ham_fit", "isic_select", "ham_select")
LAYER_NAMES = ", ".join(name for name, _ in PROBE_LAYERS)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True, help="ISIC folder with train/ and val/")
    parser.add_argument("--ham", type=existing_dir, required=True, help="HAM10000 folder (metadata.csv, images/)")
    parser.add_argument("--backbone-weights", type=backbone_weights, default="imagenet")
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument(
        "--probe-only",
        action="store_true",
        help="serve the probe alone (no fine-tuned member, so models/classifier.keras need not exist)",
    )
    parser.add_argument("--image-size", type=int, help="input side with --probe-only (default: the card's)")
    args = parser.parse_args(argv)
    if args.image_size is not None and not args.probe_only:
        parser.error("--image-size needs --probe-only: the fine-tuned member fixes the ensemble's input size")
    return args


def choose_probe(features: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> tuple[tuple, dict, dict]:
    """Fit the probe on the fit parts for every (HAM weight, C); return the best key, the probes and their scores."""
    fit_features = np.concatenate([features["isic_fit"], features["ham_fit"]])
    fit_labels = np.concatenate([labels["isic_fit"], labels["ham_fit"]])
    probes, probe_scores = {}, {}
    for ham_weight in HAM_WEIGHTS:
        weights = np.concatenate([np.ones(len(labels["isic_fit"])), np.full(len(labels["ham_fit"]), ham_weight)])
        for c in C_GRID:
            scaler, probe = probes[(ham_weight, c)] = fit_probe(fit_features, fit_labels, weights, c)
            scored = {n: (labels[n], probe.decision_function(scaler.transform(features[n]))) for n in SELECTION}
            probe_scores[(ham_weight, c)] = selection_score(scored)["selection_auc"]
            print(f"probe HAM weight {ham_weight}, C={c}: selection AUC {probe_scores[(ham_weight, c)]:.4f}")
    return max(probe_scores, key=probe_scores.get), probes, probe_scores


def choose_share(
    finetuned: keras.Model, images: dict[str, np.ndarray], labels: dict[str, np.ndarray], probe_logits: dict
) -> tuple[float, dict[float, dict]]:
    """The fine-tuned member's share of the logit with the best mean selection AUC, and every share's AUCs."""
    tuned = {n: predict_probabilities(finetuned, images[n], 1) for n in SELECTION}
    tuned_logits = {n: np.log(np.clip(t, 1e-7, 1)) - np.log(np.clip(1 - t, 1e-7, 1)) for n, t in tuned.items()}
    mix_scores = {}
    for share in FINETUNED_SHARES:
        scores = selection_score(
            {n: (labels[n], share * tuned_logits[n] + (1 - share) * probe_logits[n]) for n in SELECTION}
        )
        mix_scores[share] = _rounded(scores)
        print(f"fine-tuned share {share}: selection AUCs {mix_scores[share]}")
    return max(mix_scores, key=lambda key: mix_scores[key]["mean"]), mix_scores


def _architecture(share: float | None, c: float) -> str:
    if share is None:
        return (
            f"logistic regression (C={c}) on pooled frozen ImageNet MobileNetV2 features of "
            + LAYER_NAMES
            + "; input at the card's size"
        )
    return (
        f"ensemble ({share:g} x fine-tuned logit + {1 - share:g} x probe logit) of MobileNetV2 fine-tuned from "
        f"block 6 with a dense head, and a logistic regression (C={c}) on pooled frozen ImageNet MobileNetV2 "
        "features of "
        + LAYER_NAMES
        + f"; the frozen layers up to {SHARED_UNTIL} run once for both members; input at the card's size"
    )


def _update_card(raw: dict[str, Any], classifier: keras.Model, size: int, architecture: str) -> None:
    """The card fields every classifier this tool writes has: input, outputs, cost."""
    raw["input_size"] = size
    raw["architecture"] = architecture
    raw["outputs"] = list(OUTPUTS)
    raw["features_output"] = (
        "pooled frozen ImageNet MobileNetV2 features of the probe layers ("
        + LAYER_NAMES
        + f"; {int(classifier.outputs[1].shape[-1])} values), the quality gate's input"
    )
    raw["test_time_views"] = 1
    raw["gflops_per_image"] = gflops(classifier)
    raw["gflops_per_image_with_views"] = gflops(classifier)
    raw["parameters"] = int(classifier.count_params())


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    card_path = args.models / "classifier.json"
    card = read_card(card_path)
    size = args.image_size or card.input_size
    finetuned = None if args.probe_only else _finetuned_member(args.models, card.path)
    parts = classifier_parts(read_split(args.data / "train"), read_split(args.data / "val"), args.ham)
    extractor = imagenet_features(size, args.backbone_weights)
    images = {name: model_inputs(getattr(parts, name).paths, size) for name in PART_NAMES}
    features = {name: pooled_features(extractor, images[name]) for name in PART_NAMES}
    labels = {name: getattr(parts, name).melanoma for name in PART_NAMES}

    (ham_weight, c), probes, probe_scores = choose_probe(features, labels)
    scaler, probe = probes[(ham_weight, c)]
    probe_logits = {n: probe.decision_function(scaler.transform(features[n])) for n in SELECTION}
    if finetuned is None:
        share, chosen = 0.0, _rounded(selection_score({n: (labels[n], probe_logits[n]) for n in SELECTION}))
        classifier = build_probe_classifier(extractor, scaler, probe)
        architecture = _architecture(None, c)
    else:
        share, mix_scores = choose_share(finetuned, images, labels, probe_logits)
        chosen = mix_scores[share]
        classifier = build_ensemble(finetuned, extractor, scaler, probe, finetuned_weight=share)
        architecture = _architecture(share, c)

    classifier.save(args.models / card.path)
    command = command_line()
    raw = card.raw
    _update_card(raw, classifier, size, architecture)
    selection = {
        "data": "selection parts (ISIC train/ images and HAM10000 fit-part lesions set aside by training.splits)",
        "probe": {"ham_weight": ham_weight, "c": c, "selection_auc": round(probe_scores[(ham_weight, c)], 4)},
        "probe_grid": {f"ham_weight={w}, C={k}": round(v, 4) for (w, k), v in probe_scores.items()},
    }
    if finetuned is None:
        selection["scores"] = chosen
        raw.pop("selection_history", None)
        raw["version"] = f"{date.today().isoformat()}-mobilenetv2-{size}-probe"
        raw["date"] = date.today().isoformat()
        raw["training"] = {
            "command": command,
            "backbone_weights": Path(str(args.backbone_weights)).name,
            "fitted_on": "the fit parts (ISIC train/ images and HAM10000 lesions of training.splits)",
        }
    else:
        selection["finetuned_epoch"] = raw.get("selection", {}).get("selection")
        selection["finetuned_share"] = share
        selection["finetuned_share_grid"] = {str(k): v for k, v in mix_scores.items()}
        raw["training"]["ensemble_command"] = command
    raw["selection"] = selection
    write_card(card_path, raw)
    print(f"classifier: fine-tuned share {share}, probe HAM weight {ham_weight}, C={c}; {chosen}")


def _finetuned_member(models: Path, served: str) -> keras.Model:
    """The fine-tuned classifier, kept in ``models/.checkpoints`` the first time the ensemble replaces it."""
    keep = models / ".checkpoints" / "classifier-finetuned.keras"
    keep.parent.mkdir(parents=True, exist_ok=True)
    if not keep.exists():
        shutil.copy(models / served, keep)
    return keras.models.load_model(keep, compile=False)


def _rounded(scores: dict) -> dict:
    rounded = {n: round(scores[f"{n}_auc"], 4) for n in SELECTION}
    rounded["mean"] = round(scores["selection_auc"], 4)
    return rounded


if __name__ == "__main__":
    main()
