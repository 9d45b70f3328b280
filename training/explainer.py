"""Give the classifier a second output: its class activation map (Grad-CAM for this head).

The head is global average pooling and one dense unit, so the gradient of the logit with
respect to the last feature map is the dense weight divided by the map's area, the same at
every position. Grad-CAM's channel weights are therefore the dense weights, and its map is
``ReLU(sum_k w_k A_k)`` up to a positive factor: a 1x1 convolution with those weights,
computed in the same forward pass, with no gradients at serving time.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

PROBABILITY = "melanoma_probability"
ACTIVATION = "class_activation"


def with_explanation(classifier: keras.Model) -> keras.Model:
    """Return a model with outputs ``[P(melanoma), class activation map]`` sharing all weights."""
    backbone = next(layer for layer in classifier.layers if isinstance(layer, keras.Model))
    scaling = classifier.get_layer("scale_to_unit_range")
    dense = classifier.get_layer(PROBABILITY)
    inputs = keras.Input(classifier.input_shape[1:], name="image")
    features = backbone(scaling(inputs))
    pooled = classifier.get_layer("pool")(features)
    probability = dense(pooled)
    kernel, _ = dense.get_weights()
    activation_layer = layers.Conv2D(1, 1, use_bias=False, name=ACTIVATION)
    activation = activation_layer(features)
    activation_layer.set_weights([kernel.reshape(1, 1, -1, 1).astype(np.float32)])
    return keras.Model(inputs, [probability, activation], name=classifier.name)
