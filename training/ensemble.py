"""The served classifier's ensemble: the fine-tuned network plus a linear probe on frozen ImageNet features.

A logistic regression on pooled multi-layer features of the ImageNet MobileNetV2 (not
fine-tuned, so it cannot forget what ImageNet taught it) is a different view of the lesion
from the fine-tuned network; a weighted mean of their logits is the served classifier. The
builders here are pure; ``training.train_ensemble`` fits the probe and chooses the weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from tqdm import tqdm

from training.architectures import keras_weights, scale_to_unit_range

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
        weights=keras_weights(weights),
        name="imagenet_backbone",
    )
    base.trainable = False
    maps = keras.Model(base.input, [base.get_layer(name).output for name in layer_names], name="imagenet_maps")
    return keras.Model(inputs, maps(scale_to_unit_range(inputs)), name="imagenet_features")


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
    maps = features.get_layer("imagenet_maps")(scale_to_unit_range(inputs))
    pooled, logit, parts = _probe_head(maps, scaler, probe, 1.0)
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
