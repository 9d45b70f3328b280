"""Ensemble the fine-tuned classifier with a linear probe on frozen ImageNet features.

A logistic regression on pooled multi-layer features of the ImageNet MobileNetV2 (not
fine-tuned, so it cannot forget what ImageNet taught it) is a different view of the lesion
from the fine-tuned network; a weighted mean of their logits is the served classifier.

Example:
    python -m training.probe_ensemble --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \
        --backbone-weights ../shared/weights/mobilenet_v2_1.0_imagenet_no_top.weights.h5

The probe is fitted on the fit parts of ``training.selection``; its HAM10000 weight and C, and
the two members' weights, are chosen on the selection parts (mean of the ISIC and HAM10000
AUCs). ISIC ``val/`` and the held-out HAM10000 lesions are never read here.

Reads and rewrites ``models/classifier.keras`` (keeping the fine-tuned model as
``models/.checkpoints/classifier-finetuned.keras``) and updates the card. With
``--probe-only [--image-size N]`` the probe alone becomes the classifier (at N px; no
fine-tuned model needed): a candidate that the shipped ensemble beat on the report sets at
288 px (README, card ``probe_288_candidate``).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import keras
import numpy as np
from keras import layers
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from app.model_card import read_card, write_card
from training.architectures import _backbone_weights, _scaling
from training.cli import backbone_weights, command_line, existing_dir
from training.cost import gflops
from training.data import model_inputs, read_split
from training.explainer import OUTPUTS
from training.selection import classifier_parts
from training.train_classifier import predict_probabilities, selection_score

#: Frozen-backbone layers whose pooled activations feed the probe, with their grid stride.
#: Nine layers from block 6 on: on the selection parts they gave mean AUC 0.840 against 0.833 for
#: the four layers of version 1 (block_10_project, block_13_expand_relu, block_15_add, out_relu).
PROBE_LAYERS = (
    ("block_6_project_BN", 16),
    ("block_9_add", 16),
    ("block_10_project", 16),
    ("block_12_add", 16),
    ("block_13_expand_relu", 16),
    ("block_14_add", 32),
    ("block_15_add", 32),
    ("block_16_project", 32),
    ("out_relu", 32),
)
#: HAM10000 fit-part image weights (relative to an ISIC image) and C values tried for the probe.
HAM_WEIGHTS = (0.25, 0.5, 1.0)
C_GRID = (0.0003, 0.001, 0.003)
#: Weights of the fine-tuned member's logit tried for the ensemble (the probe gets the rest).
FINETUNED_SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
SELECTION = ("isic_select", "ham_select")
#: The last backbone layer that fine-tuning leaves frozen (``train_classifier --unfreeze-from block_6_expand``).
SHARED_UNTIL = "block_5_add"


def imagenet_features(
    image_size: int, weights: str | None, layer_names: Sequence[str] = tuple(name for name, _ in PROBE_LAYERS)
) -> keras.Model:
    """The frozen ImageNet MobileNetV2 on uint8-valued RGB, returning the named layers' feature maps."""
    inputs = keras.Input((image_size, image_size, 3), name="probe_image")
    base = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3),
        include_top=False,
        weights=_backbone_weights(weights),
        name="imagenet_backbone",
    )
    base.trainable = False
    maps = keras.Model(base.input, [base.get_layer(name).output for name in layer_names], name="imagenet_maps")
    return keras.Model(inputs, maps(_scaling(inputs)), name="imagenet_features")


def pooled_features(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Concatenated pooled probe features for uint8 images (one view, as served)."""
    rows = []
    for start in tqdm(range(0, len(images), batch_size), desc="frozen features", unit="batch"):
        maps = model.predict_on_batch(images[start : start + batch_size].astype(np.float32))
        rows.append(np.concatenate([np.asarray(m).mean(axis=(1, 2)) for m in maps], axis=1))
    return np.concatenate(rows)


def fit_probe(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, c: float):
    """Standardised, class-balanced logistic regression; returns ``(scaler, probe)``."""
    scaler = StandardScaler().fit(features)
    probe = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    probe.fit(scaler.transform(features), labels, sample_weight=weights)
    return scaler, probe


def _split_at(model: keras.Model, layer_name: str, name: str) -> tuple[keras.Model, keras.Model]:
    """(layers up to and including ``layer_name``, everything after it) of a functional model."""
    cut = model.get_layer(layer_name).output
    outputs = model.outputs if len(model.outputs) > 1 else model.outputs[0]
    return keras.Model(model.inputs, cut, name=f"{name}_trunk"), keras.Model(cut, outputs, name=f"{name}_tail")


def _same_weights(first: keras.Model, second: keras.Model) -> bool:
    for layer in first.layers:
        mine = layer.get_weights()
        if not mine:
            continue
        theirs = second.get_layer(layer.name).get_weights()
        if len(mine) != len(theirs) or any(not np.array_equal(a, b) for a, b in zip(mine, theirs, strict=True)):
            return False
    return True


def build_ensemble(
    finetuned: keras.Model,
    features: keras.Model,
    scaler: StandardScaler,
    probe: LogisticRegression,
    finetuned_weight: float = 0.5,
) -> keras.Model:
    """One model: weighted mean of the two logits -> probability, frozen ImageNet pooled features, joint CAM.

    The fine-tuned network kept its ImageNet layers before ``SHARED_UNTIL`` frozen, so they are
    computed once and feed both the fine-tuned and the frozen ImageNet layers after them (the
    high-resolution early layers are about a third of MobileNetV2's cost). The frozen features
    (not the fine-tuned ones, which are blind to what is not skin) feed the quality gate
    (``training.quality_gate``).

    Raises:
        ValueError: if the fine-tuned model's layers up to ``SHARED_UNTIL`` are not the ImageNet ones.
    """
    if not 0.0 <= finetuned_weight <= 1.0:
        raise ValueError(f"finetuned_weight must be in [0, 1]. Received finetuned_weight={finetuned_weight}")
    backbone = next(layer for layer in finetuned.layers if isinstance(layer, keras.Model))
    dense = finetuned.get_layer("melanoma_probability")
    size = finetuned.input_shape[0][1] if isinstance(finetuned.input_shape, list) else finetuned.input_shape[1]
    tuned_trunk, tuned_tail = _split_at(backbone, SHARED_UNTIL, "finetuned")
    frozen_trunk, frozen_tail = _split_at(features.get_layer("imagenet_maps"), SHARED_UNTIL, "imagenet")
    if not _same_weights(tuned_trunk, frozen_trunk):
        raise ValueError(f"The fine-tuned backbone's layers up to {SHARED_UNTIL} differ from ImageNet's; cannot share")
    inputs = keras.Input((size, size, 3), name="image")
    shared = frozen_trunk(finetuned.get_layer("scale_to_unit_range")(inputs))
    tuned_maps = tuned_tail(shared)
    tuned_pooled = finetuned.get_layer("pool")(tuned_maps)
    tuned_logit_layer = layers.Dense(1, name="finetuned_logit")
    tuned_logit = tuned_logit_layer(tuned_pooled)
    tuned_logit_layer.set_weights(dense.get_weights())

    mix = (finetuned_weight, 1.0 - finetuned_weight)
    pooled, probe_logit, probe_parts = _probe_head(frozen_tail(shared), scaler, probe, mix[1])
    logit = layers.Add(name="ensemble_logit")(
        [
            layers.Rescaling(mix[0], name="finetuned_share")(tuned_logit),
            layers.Rescaling(mix[1], name="probe_share")(probe_logit),
        ]
    )
    probability = layers.Activation("sigmoid", name="melanoma_probability")(logit)
    parts = [_cam(tuned_maps, dense.get_weights()[0][:, 0] * mix[0], "cam_finetuned"), *probe_parts]
    activation = layers.Add(name="class_activation")(parts)
    return keras.Model(inputs, [probability, pooled, activation], name="melanoma_ensemble")


def build_probe_classifier(features: keras.Model, scaler: StandardScaler, probe: LogisticRegression) -> keras.Model:
    """The probe alone as the served classifier: probability, frozen ImageNet pooled features, CAM.

    ``features`` is ``imagenet_features(size, ...)``; the model takes uint8-valued RGB at that size.
    """
    size = int(features.input_shape[1])
    inputs = keras.Input((size, size, 3), name="image")
    pooled, logit, parts = _probe_head(features.get_layer("imagenet_maps")(_scaling(inputs)), scaler, probe, 1.0)
    probability = layers.Activation("sigmoid", name="melanoma_probability")(logit)
    activation = layers.Add(name="class_activation")(parts)
    return keras.Model(inputs, [probability, pooled, activation], name="melanoma_probe")


def _probe_head(
    maps: Sequence[keras.KerasTensor], scaler: StandardScaler, probe: LogisticRegression, share: float
) -> tuple[keras.KerasTensor, keras.KerasTensor, list[keras.KerasTensor]]:
    """(pooled features, probe logit, its class-activation parts scaled by ``share``) on the probe layers' maps.

    Each linear-on-GAP head's logit is the mean of a map of per-position contributions; pooling
    the 1/16 maps to the 1/32 grid keeps that mean, so the parts sum to exactly the logit's
    decomposition without its bias (Grad-CAM for these heads).
    """
    pooled = layers.Concatenate(name="probe_pooled")(
        [layers.GlobalAveragePooling2D(name=f"probe_pool_{i}")(m) for i, m in enumerate(maps)]
    )
    scale = np.sqrt(scaler.var_)
    weights = probe.coef_[0] / scale  # fold the standardisation into the probe's weights
    bias = probe.intercept_[0] - float((scaler.mean_ / scale) @ probe.coef_[0])
    probe_layer = layers.Dense(1, name="probe_logit")
    logit = probe_layer(pooled)
    probe_layer.set_weights([weights[:, None].astype(np.float32), np.array([bias], np.float32)])
    parts, offset = [], 0
    for (name, stride), feature_map in zip(PROBE_LAYERS, maps, strict=True):
        channels = feature_map.shape[-1]
        part = _cam(feature_map, weights[offset : offset + channels] * share, f"cam_{name}")
        if stride == 16:
            part = layers.AveragePooling2D(2, name=f"cam_{name}_to_32")(part)
        parts.append(part)
        offset += channels
    return pooled, logit, parts


def _cam(feature_map: keras.KerasTensor, weights: np.ndarray, name: str) -> keras.KerasTensor:
    conv = layers.Conv2D(1, 1, use_bias=False, name=name)
    output = conv(feature_map)
    conv.set_weights([weights.reshape(1, 1, -1, 1).astype(np.float32)])
    return output


def main(argv: list[str] | None = None) -> None:
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
    card_path = args.models / "classifier.json"
    card = read_card(card_path)
    size = args.image_size or card.input_size
    finetuned = None if args.probe_only else _finetuned_member(args.models, card.path)
    parts = classifier_parts(read_split(args.data / "train"), read_split(args.data / "val"), args.ham)
    extractor = imagenet_features(size, args.backbone_weights)
    names = ("isic_fit", "ham_fit", "isic_select", "ham_select")
    images = {name: model_inputs(getattr(parts, name).paths, size) for name in names}
    features = {name: pooled_features(extractor, images[name]) for name in names}
    labels = {name: getattr(parts, name).melanoma for name in names}
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
    ham_weight, c = max(probe_scores, key=probe_scores.get)
    scaler, probe = probes[(ham_weight, c)]
    probe_logits = {n: probe.decision_function(scaler.transform(features[n])) for n in SELECTION}
    layer_names = ", ".join(name for name, _ in PROBE_LAYERS)

    if finetuned is None:
        share, chosen = 0.0, _rounded(selection_score({n: (labels[n], probe_logits[n]) for n in SELECTION}))
        classifier = build_probe_classifier(extractor, scaler, probe)
        architecture = (
            f"logistic regression (C={c}) on pooled frozen ImageNet MobileNetV2 features of "
            + layer_names
            + "; input at the card's size"
        )
    else:
        tuned = {n: predict_probabilities(finetuned, images[n], 1) for n in SELECTION}
        tuned_logits = {n: np.log(np.clip(t, 1e-7, 1)) - np.log(np.clip(1 - t, 1e-7, 1)) for n, t in tuned.items()}
        mix_scores = {}
        for share in FINETUNED_SHARES:
            scores = selection_score(
                {n: (labels[n], share * tuned_logits[n] + (1 - share) * probe_logits[n]) for n in SELECTION}
            )
            mix_scores[share] = _rounded(scores)
            print(f"fine-tuned share {share}: selection AUCs {mix_scores[share]}")
        share = max(mix_scores, key=lambda key: mix_scores[key]["mean"])
        chosen = mix_scores[share]
        classifier = build_ensemble(finetuned, extractor, scaler, probe, finetuned_weight=share)
        architecture = (
            f"ensemble ({share:g} x fine-tuned logit + {1 - share:g} x probe logit) of MobileNetV2 fine-tuned from "
            f"block 6 with a dense head, and a logistic regression (C={c}) on pooled frozen ImageNet MobileNetV2 "
            "features of "
            + layer_names
            + f"; the frozen layers up to {SHARED_UNTIL} run once for both members; input at the card's size"
        )

    classifier.save(args.models / card.path)
    command = command_line()
    raw = card.raw
    raw["input_size"] = size
    raw["architecture"] = architecture
    raw["outputs"] = list(OUTPUTS)
    raw["features_output"] = (
        "pooled frozen ImageNet MobileNetV2 features of the probe layers ("
        + layer_names
        + f"; {int(classifier.outputs[1].shape[-1])} values), the quality gate's input"
    )
    raw["test_time_views"] = 1
    raw["gflops_per_image"] = gflops(classifier)
    raw["gflops_per_image_with_views"] = gflops(classifier)
    raw["parameters"] = int(classifier.count_params())
    selection = {
        "data": "selection parts (ISIC train/ images and HAM10000 fit-part lesions set aside by training.selection)",
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
            "fitted_on": "the fit parts (ISIC train/ images and HAM10000 lesions of training.selection)",
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
