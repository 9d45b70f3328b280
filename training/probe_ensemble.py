"""Ensemble the fine-tuned classifier with a linear probe on frozen ImageNet features.

A logistic regression on pooled multi-layer features of the ImageNet MobileNetV2 (not
fine-tuned, so it cannot forget what ImageNet taught it) is a different view of the lesion
from the fine-tuned network; averaging their logits is the served classifier.

Example:
    python -m training.probe_ensemble --data ../shared/data/isic2017 \
        --backbone-weights ../shared/weights/mobilenet_v2_1.0_imagenet_no_top.weights.h5

Reads and rewrites ``models/classifier.keras`` (keeping the fine-tuned model as
``models/.checkpoints/classifier-finetuned.keras``) and updates the card.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
from pathlib import Path

import keras
import numpy as np
from keras import layers
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from app.model_card import read_card, write_card
from app.postprocessing import flip_views, merge_views
from training.architectures import _backbone_weights
from training.cli import backbone_weights, existing_dir
from training.cost import gflops
from training.data import model_inputs, read_split
from training.explainer import OUTPUTS
from training.metrics import classification_scores
from training.train_classifier import predict_probabilities

#: Frozen-backbone layers whose pooled activations feed the probe, with their grid stride.
PROBE_LAYERS = (("block_10_project", 16), ("block_13_expand_relu", 16), ("block_15_add", 32), ("out_relu", 32))


def imagenet_features(image_size: int, weights: str | None) -> keras.Model:
    """The frozen ImageNet MobileNetV2, returning the probe layers' feature maps."""
    inputs = keras.Input((image_size, image_size, 3), name="probe_image")
    base = keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3),
        include_top=False,
        weights=_backbone_weights(weights),
        name="imagenet_backbone",
    )
    base.trainable = False
    maps = keras.Model(base.input, [base.get_layer(name).output for name, _ in PROBE_LAYERS], name="imagenet_maps")
    return keras.Model(inputs, maps(layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)), name="imagenet_features")


def pooled_features(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Concatenated pooled probe features for uint8 images, averaged over a horizontal flip."""
    rows = []
    for start in tqdm(range(0, len(images), batch_size), desc="frozen features", unit="batch"):
        batch = flip_views(images[start : start + batch_size].astype(np.float32), 2)
        maps = model.predict_on_batch(batch)
        pooled = np.concatenate([np.asarray(m).mean(axis=(1, 2)) for m in maps], axis=1)
        rows.append(merge_views(pooled, 2))
    return np.concatenate(rows)


def choose_c(features: np.ndarray, labels: np.ndarray, seed: int) -> tuple[float, dict[float, float]]:
    """Regularisation chosen by 5-fold cross-validated AUC on the training images only."""
    scores = {}
    for c in (0.0003, 0.001, 0.003, 0.01):
        aucs = []
        for fit, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(features, labels):
            scaler = StandardScaler().fit(features[fit])
            probe = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
            probe.fit(scaler.transform(features[fit]), labels[fit])
            aucs.append(roc_auc_score(labels[held], probe.decision_function(scaler.transform(features[held]))))
        scores[c] = float(np.mean(aucs))
    return max(scores, key=scores.get), scores


def build_ensemble(
    finetuned: keras.Model, features: keras.Model, scaler: StandardScaler, probe: LogisticRegression
) -> keras.Model:
    """One model: mean of the two logits -> probability, frozen ImageNet pooled features, joint CAM.

    The frozen features (not the fine-tuned ones, which are blind to what is not skin) feed the
    quality gate (``training.quality_gate``).
    """
    backbone = next(layer for layer in finetuned.layers if isinstance(layer, keras.Model))
    dense = finetuned.get_layer("melanoma_probability")
    size = finetuned.input_shape[0][1] if isinstance(finetuned.input_shape, list) else finetuned.input_shape[1]
    inputs = keras.Input((size, size, 3), name="image")
    tuned_maps = backbone(finetuned.get_layer("scale_to_unit_range")(inputs))
    tuned_pooled = finetuned.get_layer("pool")(tuned_maps)
    tuned_logit_layer = layers.Dense(1, name="finetuned_logit")
    tuned_logit = tuned_logit_layer(tuned_pooled)
    tuned_logit_layer.set_weights(dense.get_weights())

    maps = features(inputs)
    pooled = layers.Concatenate(name="probe_pooled")(
        [layers.GlobalAveragePooling2D(name=f"probe_pool_{i}")(m) for i, m in enumerate(maps)]
    )
    scale = np.sqrt(scaler.var_)
    weights = probe.coef_[0] / scale  # fold the standardisation into the probe's weights
    bias = probe.intercept_[0] - float((scaler.mean_ / scale) @ probe.coef_[0])
    probe_layer = layers.Dense(1, name="probe_logit")
    probe_logit = probe_layer(pooled)
    probe_layer.set_weights([weights[:, None].astype(np.float32), np.array([bias], np.float32)])

    logit = layers.Average(name="ensemble_logit")([tuned_logit, probe_logit])
    probability = layers.Activation("sigmoid", name="melanoma_probability")(logit)

    # Class activation: each linear-on-GAP head's logit is the mean of a map of per-position
    # contributions; pooling the 1/16 maps to the 1/32 grid keeps that mean, so the sum below
    # is exactly the ensemble logit's decomposition (Grad-CAM for these heads).
    parts = [_cam(tuned_maps, dense.get_weights()[0][:, 0] / 2, "cam_finetuned")]
    offset = 0
    for (name, stride), feature_map in zip(PROBE_LAYERS, maps, strict=True):
        channels = feature_map.shape[-1]
        part = _cam(feature_map, weights[offset : offset + channels] / 2, f"cam_{name}")
        if stride == 16:
            part = layers.AveragePooling2D(2, name=f"cam_{name}_to_32")(part)
        parts.append(part)
        offset += channels
    activation = layers.Add(name="class_activation")(parts)
    return keras.Model(inputs, [probability, pooled, activation], name="melanoma_ensemble")


def _cam(feature_map: keras.KerasTensor, weights: np.ndarray, name: str) -> keras.KerasTensor:
    conv = layers.Conv2D(1, 1, use_bias=False, name=name)
    output = conv(feature_map)
    conv.set_weights([weights.reshape(1, 1, -1, 1).astype(np.float32)])
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True, help="ISIC folder with train/ and val/")
    parser.add_argument("--backbone-weights", type=backbone_weights, default="imagenet")
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument("--seed", type=int, default=2017)
    args = parser.parse_args(argv)
    card_path = args.models / "classifier.json"
    card = read_card(card_path)
    size = card.input_size
    keep = args.models / ".checkpoints" / "classifier-finetuned.keras"
    keep.parent.mkdir(parents=True, exist_ok=True)
    if not keep.exists():
        shutil.copy(args.models / card.path, keep)
    finetuned = keras.models.load_model(keep, compile=False)
    train, val = read_split(args.data / "train"), read_split(args.data / "val")
    extractor = imagenet_features(size, args.backbone_weights)
    train_features = pooled_features(extractor, model_inputs(train, size))
    c, cv_scores = choose_c(train_features, train.melanoma, args.seed)
    scaler = StandardScaler().fit(train_features)
    probe = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    probe.fit(scaler.transform(train_features), train.melanoma)
    ensemble = build_ensemble(finetuned, extractor, scaler, probe)
    views = 1  # two backbones already cost ~1.6 GFLOPs: flip views would exceed the 2-GFLOP budget
    probability = predict_probabilities(ensemble, model_inputs(val, size), views)
    scores = classification_scores(val.melanoma, probability, card.threshold)
    print(f"probe C={c} (cross-validated AUC on train {cv_scores}); ensemble on val: {scores}")
    ensemble.save(args.models / card.path)
    raw = card.raw
    raw["architecture"] = (
        "ensemble (mean of logits) of MobileNetV2 fine-tuned from block 6 with a dense head, and a logistic "
        f"regression (C={c}, chosen by 5-fold CV on train) on pooled frozen ImageNet MobileNetV2 features of "
        + ", ".join(name for name, _ in PROBE_LAYERS)
        + "; both at the card's input size"
    )
    raw["outputs"] = list(OUTPUTS)
    raw["features_output"] = (
        "pooled frozen ImageNet MobileNetV2 features of the probe layers ("
        + ", ".join(name for name, _ in PROBE_LAYERS)
        + f"; {int(ensemble.outputs[1].shape[-1])} values), the quality gate's input"
    )
    raw["test_time_views"] = views
    raw["gflops_per_image"] = gflops(ensemble)
    raw["gflops_per_image_with_views"] = round(gflops(ensemble) * views, 3)
    raw["parameters"] = int(ensemble.count_params())
    raw["validation"] = dict(scores, selection="fine-tuned model's best epoch, then the probe ensemble")
    raw["training"]["ensemble_command"] = "python -m " + " ".join(
        shlex.quote(a) for a in ["training.probe_ensemble", *sys.argv[1:]]
    )
    raw["training"]["probe_cv_auc"] = cv_scores
    write_card(card_path, raw)


if __name__ == "__main__":
    main()
