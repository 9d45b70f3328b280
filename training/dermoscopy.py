"""The dermoscopy member of classifier version 3: a linear probe on sklesion's Xception features.

sklesion 0.2.2 (PyPI, MIT) is an Xception fine-tuned on HAM10000 (7 classes) behind its own
``Normalization`` layer; it takes 254 px RGB in [0, 255]. Its convolutional trunk is rebuilt here
at the classifier's input size (the weights do not depend on it), so the member sees exactly the
pixels the MobileNetV2 ensemble sees (``lesion.preprocessing.prepare_image``). A logistic
regression on the pooled features of its last layer (``MEMBER_LAYERS``; more can be stacked) is
the member; its logit and the base ensemble's logit are mixed with fixed shares in one served
graph, whose second output stays the base's frozen ImageNet features (the quality gate reads
them) and whose third is the joint class-activation map.

Because sklesion was trained on HAM10000, its features of HAM10000 images are memorised: the probe
is never fitted on HAM10000, and every HAM10000 figure of a model that contains it is contaminated.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import layers
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

#: The layer of the base classifier whose input is its logit.
PROBABILITY_LAYER = "melanoma_probability"
#: Layer names of sklesion's model that hold its preprocessing and trunk.
SKLESION_NORMALIZATION, SKLESION_TRUNK = "normalization", "xception"
#: The name of the dermoscopy member's trunk inside the served graph (its presence marks version 3).
MEMBER_TRUNK = "dermoscopy_xception"
#: The Xception layer(s) the shipped probe reads: the last one, pooled.
MEMBER_LAYERS = ("block14_sepconv2_act",)
#: The rejected six-layer candidate (docs/MODELS.md): the end of the entry flow, the middle and end
#: of the middle flow, the exit flow's residual output and its last two activations. Better on the
#: selection parts (``experiments/dermoscopy_layers.py``), not on the report sets.
SIX_LAYERS = ("add_2", "add_6", "add_10", "add_11", "block14_sepconv1_act", "block14_sepconv2_act")


def sklesion_model_path() -> Path:
    """The ``model.keras`` of the installed sklesion package (``pip install --no-deps sklesion==0.2.2``)."""
    spec = importlib.util.find_spec("sklesion")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("sklesion is not installed: pip install --no-deps sklesion==0.2.2")
    return Path(spec.origin).parent / "model.keras"


def dermoscopy_trunk(sklesion_path: Path, side: int, taps: tuple[str, ...] = MEMBER_LAYERS) -> keras.Model:
    """sklesion's normalisation and Xception trunk at ``side`` px: RGB in [0, 255] -> one stack of maps.

    The maps of the ``taps`` layers, stacked along channels on the last layer's grid: maps of
    twice that grid (the middle flow's) are averaged over 2x2 cells first, which leaves their
    global average unchanged, so the pooled stack is each layer's pooled features side by side
    and the probe's weights still decompose into a class-activation map on that grid.

    Args:
        sklesion_path: sklesion's ``model.keras``.
        side: the input size (the classifier card's ``input_size``); at least 71.
        taps: Xception layer names (the shipped member reads only the last one).
    """
    if side < 71:
        raise ValueError(f"Xception needs an input of at least 71 px. Received side={side}")
    source = keras.models.load_model(sklesion_path, compile=False)
    normalization = source.get_layer(SKLESION_NORMALIZATION)
    trunk = keras.applications.Xception(include_top=False, weights=None, input_shape=(side, side, 3))
    pretrained = source.get_layer(SKLESION_TRUNK)
    trunk.set_weights(pretrained.get_weights())
    mean, variance = (np.asarray(w) for w in normalization.get_weights()[:2])
    inputs = keras.Input((side, side, 3), name="dermoscopy_image")
    scaled = layers.Normalization(mean=mean, variance=variance, name="dermoscopy_normalization")(inputs)
    tapped = keras.Model(trunk.input, [trunk.get_layer(name).output for name in taps], name="xception")
    maps = tapped(scaled)
    maps = maps if isinstance(maps, list | tuple) else [maps]
    grid = int(trunk.output.shape[1])
    on_grid = []
    for name, tap in zip(taps, maps, strict=True):
        if int(tap.shape[1]) == 2 * grid:
            tap = layers.AveragePooling2D(2, name=f"{name}_to_grid")(tap)
        elif int(tap.shape[1]) != grid:
            raise ValueError(f"Layer {name} has a {tap.shape[1]}-cell grid; only {grid} or {2 * grid} stack")
        on_grid.append(tap)
    stacked = on_grid[0] if len(on_grid) == 1 else layers.Concatenate(name="dermoscopy_taps")(on_grid)
    return keras.Model(inputs, stacked, name=MEMBER_TRUNK)


def pooled_trunk(trunk: keras.Model) -> keras.Model:
    """The trunk followed by global average pooling: the features the probe is fitted on."""
    pooled = layers.GlobalAveragePooling2D(name="dermoscopy_pool")(trunk.output)
    return keras.Model(trunk.input, pooled, name="dermoscopy_features")


def base_logit_model(base: keras.Model) -> keras.Model:
    """The base classifier with its logit (the input of its sigmoid) in place of its probability."""
    logit = base.get_layer(PROBABILITY_LAYER).input
    return keras.Model(base.inputs, [logit, *base.outputs[1:]], name="base_ensemble")


def fit_probe(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, c: float) -> tuple:
    """(scaler, logistic regression) on standardised features, weighted per image.

    Unlike ``training.ensemble.fit_probe`` there is no global ``class_weight``: the weights
    (``train_dermoscopy.balanced_weights``) already balance the classes within each source, and
    the sources differ tenfold in melanoma share (archive 80%, ISIC 2020 1.3%).
    """
    scaler = StandardScaler().fit(features)
    probe = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(features), labels, sample_weight=weights)
    return scaler, probe


def probe_logit(scaler: StandardScaler, probe: LogisticRegression, features: np.ndarray) -> np.ndarray:
    return probe.decision_function(scaler.transform(features))


def has_dermoscopy_member(model: keras.Model) -> bool:
    return any(layer.name == MEMBER_TRUNK for layer in model.layers)


def build_with_member(
    base: keras.Model,
    trunk: keras.Model,
    scaler: StandardScaler,
    probe: LogisticRegression,
    base_share: float,
    member_share: float,
) -> keras.Model:
    """One model: ``base_share * base logit + member_share * probe logit`` -> probability; features; CAM.

    Both members' class-activation maps are linear-on-GAP decompositions on the same 1/32 grid,
    so their weighted sum is the joint map (without the biases), as in ``training.ensemble``.

    Raises:
        ValueError: if the base already holds a dermoscopy member or the grids differ.
    """
    if has_dermoscopy_member(base):
        raise ValueError("The base classifier already contains the dermoscopy member; rebuild it with `make ensemble`")
    size = int(base.input_shape[1])
    inputs = keras.Input((size, size, 3), name="image")
    base_logit, features, base_activation = base_logit_model(base)(inputs)
    maps = trunk(inputs)
    if tuple(maps.shape[1:3]) != tuple(base_activation.shape[1:3]):
        raise ValueError(f"Member grid {maps.shape[1:3]} differs from the base's {base_activation.shape[1:3]}")
    scale = np.sqrt(scaler.var_)
    weights = probe.coef_[0] / scale  # fold the standardisation into the probe
    bias = probe.intercept_[0] - float((scaler.mean_ / scale) @ probe.coef_[0])
    dense = layers.Dense(1, name="dermoscopy_logit")
    member_logit = dense(layers.GlobalAveragePooling2D(name="dermoscopy_pool")(maps))
    dense.set_weights([weights[:, None].astype(np.float32), np.array([bias], np.float32)])
    cam = layers.Conv2D(1, 1, use_bias=False, name="cam_dermoscopy")
    member_activation = cam(maps)
    cam.set_weights([(weights * member_share).reshape(1, 1, -1, 1).astype(np.float32)])
    logit = layers.Add(name="version_3_logit")(
        [
            layers.Rescaling(base_share, name="base_share")(base_logit),
            layers.Rescaling(member_share, name="dermoscopy_share")(member_logit),
        ]
    )
    probability = layers.Activation("sigmoid", name=PROBABILITY_LAYER)(logit)
    activation = layers.Add(name="class_activation")(
        [layers.Rescaling(base_share, name="base_cam_share")(base_activation), member_activation]
    )
    return keras.Model(inputs, [probability, features, activation], name="melanoma_ensemble_v3")


def save_deflated(model: keras.Model, path: Path) -> None:
    """Save a ``.keras`` file with its members deflated (Keras stores them uncompressed; ~8% smaller)."""
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / "model.keras"
        model.save(plain)
        packed = Path(folder) / "packed.keras"
        with zipfile.ZipFile(plain) as source, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as target:
            for info in source.infolist():
                target.writestr(info, source.read(info), compress_type=zipfile.ZIP_DEFLATED)
        shutil.move(packed, path)
