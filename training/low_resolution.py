"""The low-resolution member of classifier version 4: every photo seen as ISIC 2019's 84 px copy sees it.

The served graph takes the classifier's model-sized RGB (``lesion.preprocessing.prepare_image`` at the
card's input size), reduces it inside the graph (2x2 average, then bilinear to ``LOW_SIDE``) and runs a
MobileNetV2 at that size. Training reads its cache through the very same reduction layers
(:func:`build_reduction`), so a photo is downsampled the same way at training and serving time.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from lesion.postprocessing import flip_views, merge_views
from training.architectures import freeze_batch_norm, keras_weights, scale_to_unit_range, unfreeze_from

#: The side every photo is reduced to (the ISIC 2019 copy's resolution).
LOW_SIDE = 84
#: The first MobileNetV2 layer that is fine-tuned (earlier ones keep their ImageNet weights).
FIRST_TUNED_LAYER = "block_6_expand"


def build_reduction(input_size: int, low_side: int = LOW_SIDE) -> keras.Model:
    """The fixed reduction from the classifier's input to ``low_side`` px (no weights).

    Args:
        input_size: side of the model-sized RGB input (the classifier card's ``input_size``).
        low_side: side after the reduction; the 2x2 average must not shrink below it.
    """
    if input_size < 2 * low_side:
        raise ValueError(f"input_size must be at least 2 x low_side. Received input_size={input_size}, {low_side=}")
    inputs = keras.Input((input_size, input_size, 3), name="image")
    halved = layers.AveragePooling2D(2, name="average_2x2")(inputs)
    reduced = layers.Resizing(low_side, low_side, interpolation="bilinear", name="bilinear_to_low_side")(halved)
    return keras.Model(inputs, reduced, name="reduction")


def build_low_resolution_trunk(
    low_side: int = LOW_SIDE, backbone_weights: str | None = "imagenet", dropout: float = 0.3
) -> keras.Model:
    """MobileNetV2 at ``low_side`` px with a dense head: reduced RGB in [0, 255] -> P(melanoma).

    Args:
        low_side: side of the reduced input.
        backbone_weights: ``"imagenet"``, a weights file, or ``None``/``"none"``.
        dropout: dropout before the dense layer.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1). Received dropout={dropout}")
    inputs = keras.Input((low_side, low_side, 3), name="reduced_image")
    backbone = keras.applications.MobileNetV2(
        input_shape=(low_side, low_side, 3), include_top=False, weights=keras_weights(backbone_weights)
    )
    freeze_batch_norm(backbone)
    features = backbone(scale_to_unit_range(inputs))
    pooled = layers.GlobalAveragePooling2D(name="pool")(features)
    pooled = layers.Dropout(dropout, name="dropout")(pooled)
    outputs = layers.Dense(1, activation="sigmoid", name="melanoma_probability")(pooled)
    return keras.Model(inputs, outputs, name="low_resolution_trunk")


def set_tuned_layers(trunk: keras.Model, fine_tune: bool) -> None:
    """Train the head only, or also the backbone from ``FIRST_TUNED_LAYER`` on (batch norm stays frozen)."""
    backbone = next(layer for layer in trunk.layers if isinstance(layer, keras.Model))
    if fine_tune:
        unfreeze_from(backbone, FIRST_TUNED_LAYER)
    else:
        backbone.trainable = False


def build_served_member(trunk: keras.Model, input_size: int) -> keras.Model:
    """The served member: the reduction, then a copy of the trained trunk (one graph, one ``.keras`` file).

    The copy has no dropout (a rate of 0: nothing random for the TFLite converter to trace) and no
    optimizer state; its weights are the trunk's.
    """
    low_side = int(trunk.input_shape[1])
    served = build_low_resolution_trunk(low_side, backbone_weights=None, dropout=0.0)
    served.set_weights(trunk.get_weights())
    inputs = keras.Input((input_size, input_size, 3), name="image")
    reduced = build_reduction(input_size, low_side)(inputs)
    return keras.Model(inputs, served(reduced), name="low_resolution_member")


def trunk_scores(trunk: keras.Model, reduced: dict[str, np.ndarray], views: int = 1) -> dict[str, np.ndarray]:
    """A trunk's probability on each set of reduced images, averaged over flip views as the service does."""
    return {
        name: merge_views(trunk.predict(flip_views(images, views), batch_size=256, verbose=0), views)[:, 0]
        for name, images in reduced.items()
    }
