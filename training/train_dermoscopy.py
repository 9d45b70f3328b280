"""Add the dermoscopy member (a probe on sklesion's Xception features) to the served classifier: version 3.

Example:
    python -m training.train_dermoscopy --data ../shared/data/isic2017 \
        --archive ../shared/data/isic_archive --isic2020 ../shared/data/isic2020 --models models

Reads the base ensemble ``models/classifier.keras`` (``make ensemble``), computes the frozen
features of both members once (cached under ``--cache``; the member pools the ``--layers``
of sklesion's Xception, by default ``training.dermoscopy.MEMBER_LAYERS``), fits the probe on the fit parts of
ISIC 2017 ``train/``, the ISIC archive extra and the ISIC 2020 part (never on HAM10000, which
sklesion memorised), and chooses its C and the members' shares by the *worst* selection source
(ISIC ``train/`` selection part, ISIC 2020 selection patients, archive selection images). The
report parts are not read. Writes ``models/classifier.keras`` and its card; then run
``make calibrate export quality-gate evaluate``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import keras
import numpy as np
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from lesion.model_card import read_card, write_card
from lesion.preprocessing import prepare_image
from lesion.runtimes import file_sha256
from training.cli import command_line, existing_dir
from training.cost import gflops
from training.data import read_split
from training.dermoscopy import (
    MEMBER_LAYERS,
    base_logit_model,
    build_with_member,
    dermoscopy_trunk,
    fit_probe,
    has_dermoscopy_member,
    pooled_trunk,
    probe_logit,
    save_deflated,
    sklesion_model_path,
)
from training.sources import archive_parts, isic2020_parts
from training.splits import LabelledImages, from_isic, split_isic

C_GRID = (0.001, 0.003, 0.01)
#: The base ensemble's share of the mixed (standardised) logits.
BASE_SHARE_GRID = (0.3, 0.4, 0.5, 0.6, 0.7)
FIT_PARTS = ("isic_fit", "archive_fit", "isic2020_fit")
SELECTION_PARTS = ("isic_select", "isic2020_select", "archive_select")
#: What the dermoscopy member adds to the card's ``training_data`` (the page footer lists them).
EXTRA_TRAINING_DATA = (
    {"name": "ISIC 2020 challenge data (part)", "licence": "CC BY-NC 4.0"},
    {"name": "ISIC archive images", "licence": "CC-0 or CC BY, per image (ISIC archive)"},
    {"name": "sklesion 0.2.2 Xception, trained on HAM10000", "licence": "MIT"},
)


@dataclass(frozen=True)
class PartFeatures:
    """One part's labels, the base ensemble's logit and the member's pooled features."""

    melanoma: np.ndarray
    base_logit: np.ndarray
    features: np.ndarray


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True, help="ISIC 2017 folder with train/")
    parser.add_argument("--archive", type=existing_dir, required=True, help="ISIC archive folder (labels.csv)")
    parser.add_argument("--isic2020", type=existing_dir, required=True, help="ISIC 2020 folder (labels.csv)")
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument("--sklesion", type=Path, default=None, help="sklesion model.keras (default: the installed one)")
    parser.add_argument("--cache", type=Path, default=None, help="feature cache (default: MODELS/.checkpoints/)")
    parser.add_argument(
        "--layers", nargs="+", default=list(MEMBER_LAYERS), help="Xception layers the probe reads, pooled"
    )
    return parser.parse_args(argv)


def selection_parts(args: argparse.Namespace) -> dict[str, LabelledImages]:
    isic_fit, isic_select = split_isic(read_split(args.data / "train"))
    archive, isic2020 = archive_parts(args.archive), isic2020_parts(args.isic2020)
    return {
        "isic_fit": from_isic(isic_fit),
        "isic_select": from_isic(isic_select),
        "archive_fit": archive["fit"],
        "archive_select": archive["select"],
        "isic2020_fit": isic2020["fit"],
        "isic2020_select": isic2020["select"],
    }


def part_features(
    name: str, images: LabelledImages, models: tuple[keras.Model, keras.Model], side: int, cache: Path, key: str
) -> PartFeatures:
    """Both members' frozen outputs for a part, through the served preprocessing (cached by model hashes)."""
    path = cache / f"dermoscopy-{name}.npz"
    listed = np.array([str(p) for p in images.paths])
    if path.is_file():
        stored = np.load(path)
        if str(stored["key"]) == key and np.array_equal(stored["paths"], listed):
            return PartFeatures(images.melanoma, stored["base_logit"], stored["features"])
    base, member = models
    logits, features = [], []
    for start in tqdm(range(0, len(images), 32), desc=name, unit="batch", file=sys.stderr):
        batch = np.stack([prepare_image(p, side)[0] for p in images.paths[start : start + 32]]).astype(np.float32)
        logits.append(np.asarray(base.predict_on_batch(batch)[0])[:, 0])
        features.append(np.asarray(member.predict_on_batch(batch)))
    result = PartFeatures(images.melanoma, np.concatenate(logits), np.concatenate(features))
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, key=key, paths=listed, base_logit=result.base_logit, features=result.features)
    return result


def balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Each class half of the part's weight; the part weighs as many images as it has."""
    positives = max(float(labels.sum()), 1.0)
    negatives = max(float(len(labels) - labels.sum()), 1.0)
    return np.where(labels > 0.5, 0.5 / positives, 0.5 / negatives) * len(labels)


def choose(parts: dict[str, PartFeatures]) -> dict:
    """Grid over C and the base share; the winner has the highest worst-source selection AUC."""
    fit = [parts[name] for name in FIT_PARTS]
    features = np.concatenate([p.features for p in fit])
    labels = np.concatenate([p.melanoma for p in fit])
    weights = np.concatenate([balanced_weights(p.melanoma) for p in fit])
    base_scale = float(np.std(parts["isic_fit"].base_logit))
    grid, best = {}, None
    for c in C_GRID:
        scaler, probe = fit_probe(features, labels, weights, c)
        member = {name: probe_logit(scaler, probe, parts[name].features) for name in ("isic_fit", *SELECTION_PARTS)}
        member_scale = float(np.std(member["isic_fit"]))
        for share in BASE_SHARE_GRID:
            shares = (share / base_scale, (1 - share) / member_scale)
            aucs = {
                name: _auc(parts[name].melanoma, shares[0] * parts[name].base_logit + shares[1] * member[name])
                for name in SELECTION_PARTS
            }
            score = (min(aucs.values()), float(np.mean(list(aucs.values()))))
            grid[f"C={c}, base_share={share}"] = {**aucs, "worst": score[0]}
            if best is None or score > best["score"]:
                best = {"score": score, "c": c, "share": share, "shares": shares, "scaler": scaler, "probe": probe}
    base_alone = {name: _auc(parts[name].melanoma, parts[name].base_logit) for name in SELECTION_PARTS}
    return {**best, "grid": grid, "base_alone": base_alone}


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return round(float(roc_auc_score(labels, scores)), 4)


def write_model_card(args: argparse.Namespace, model: keras.Model, chosen: dict, parts: dict, sklesion: Path) -> None:
    card_path = args.models / "classifier.json"
    card = read_card(card_path).raw
    base_architecture = card.get("architecture", "")  # main() refused a base that already held the member
    card.pop("tflite", None)  # the export is stale until `make export`
    layers = ", ".join(args.layers)
    other_layers = "" if tuple(args.layers) == MEMBER_LAYERS else f"-{len(args.layers)}-layers"
    card["version"] = f"{date.today().isoformat()}-v3-mobilenetv2-xception{other_layers}-224"
    card["architecture"] = (
        f"version 3: {chosen['shares'][0]:.4f} x the base ensemble's logit + "
        f"{chosen['shares'][1]:.4f} x the logit of a logistic regression (C={chosen['c']}) on the pooled "
        f"features of layers {layers} of sklesion's HAM10000-trained Xception (its Normalization + trunk, "
        "rebuilt at the input size); base ensemble: "
        f"{base_architecture}"
    )
    card["base_architecture"] = base_architecture
    card["gflops_per_image"] = gflops(model)
    card["gflops_per_image_with_views"] = round(card["gflops_per_image"] * int(card.get("test_time_views", 1)), 3)
    card["parameters"] = int(model.count_params())
    card["dermoscopy_member"] = {
        "source": "sklesion 0.2.2 (PyPI, MIT; Xception fine-tuned on HAM10000, 7 classes)",
        "sklesion_sha256": file_sha256(sklesion),
        "layers": list(args.layers),
        "fitted_on": {name: _counts(parts[name]) for name in FIT_PARTS},
        "never_fitted_on": "HAM10000 (sklesion memorised it; HAM10000 figures of this model are contaminated)",
        "selection": {
            "rule": "highest worst-source AUC over the selection parts (ties: highest mean)",
            "parts": {name: _counts(parts[name]) for name in SELECTION_PARTS},
            "c": chosen["c"],
            "base_share": chosen["share"],
            "chosen_auc": chosen["grid"][f"C={chosen['c']}, base_share={chosen['share']}"],
            "base_alone_auc": chosen["base_alone"],
            "grid": chosen["grid"],
        },
    }
    listed = {entry["name"] for entry in card.get("training_data", [])}
    card["training_data"] = card.get("training_data", []) + [e for e in EXTRA_TRAINING_DATA if e["name"] not in listed]
    card.setdefault("training", {})["dermoscopy_command"] = command_line()
    card["date"] = date.today().isoformat()
    write_card(card_path, card)


def _counts(part: PartFeatures) -> dict[str, int]:
    return {"images": len(part.melanoma), "melanoma": int(part.melanoma.sum())}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sklesion = args.sklesion or sklesion_model_path()
    card = read_card(args.models / "classifier.json")
    base_path = args.models / card.path
    base = keras.models.load_model(base_path, compile=False)
    if has_dermoscopy_member(base):
        raise SystemExit(f"{base_path} already holds the dermoscopy member: rebuild the base with `make ensemble`")
    trunk = dermoscopy_trunk(sklesion, card.input_size, tuple(args.layers))
    key = f"{file_sha256(base_path)}:{file_sha256(sklesion)}:{card.input_size}:{','.join(args.layers)}"
    models = (base_logit_model(base), pooled_trunk(trunk))
    cache = args.cache or args.models / ".checkpoints"
    parts = {
        name: part_features(name, images, models, card.input_size, cache, key)
        for name, images in selection_parts(args).items()
    }
    chosen = choose(parts)
    print("chosen", {k: chosen[k] for k in ("c", "share", "score")}, "base alone", chosen["base_alone"])
    model = build_with_member(base, trunk, chosen["scaler"], chosen["probe"], *chosen["shares"])
    save_deflated(model, base_path)
    write_model_card(args, model, chosen, parts, sklesion)
    print(f"wrote {base_path}: {model.count_params():,} parameters")


if __name__ == "__main__":
    main()
