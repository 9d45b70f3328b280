"""Give the classifier two more outputs: pooled features and its class activation map.

Outputs, in order: ``P(melanoma)`` (raw), the pooled backbone features and the class
activation map. The served classifier is the probe ensemble (``training.ensemble``),
whose features output is the frozen ImageNet features the quality gate is fitted on; the
fine-tuned features given here are not suited to the gate.

The head is global average pooling and one dense unit, so the gradient of the logit with
respect to the last feature map is the dense weight divided by the map's area, the same at
every position. Grad-CAM's channel weights are therefore the dense weights, and its map is
``ReLU(sum_k w_k A_k)`` up to a positive factor: a 1x1 convolution with those weights,
computed in the same forward pass, with no gradients at serving time.

    python -m training.explainer --model models/classifier.keras   # adds the outputs in place
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
from keras import layers

PROBABILITY = "melanoma_probability"
FEATURES = "pool"
ACTIVATION = "class_activation"
#: The order of the served classifier's outputs (the TFLite runtime sorts by rank and width,
#: which gives the same order).
OUTPUTS = ("probability", "features", "activation")


def with_explanation(classifier: keras.Model) -> keras.Model:
    """Return a model with outputs ``[P(melanoma), pooled features, activation map]`` sharing all weights."""
    backbone = next(layer for layer in classifier.layers if isinstance(layer, keras.Model))
    scaling = classifier.get_layer("scale_to_unit_range")
    dense = classifier.get_layer(PROBABILITY)
    inputs = keras.Input(
        classifier.input_shape[1:] if not isinstance(classifier.input_shape, list) else classifier.input_shape[0][1:],
        name="image",
    )
    features = backbone(scaling(inputs))
    pooled = classifier.get_layer(FEATURES)(features)
    probability = dense(pooled)
    kernel, _ = dense.get_weights()
    activation_layer = layers.Conv2D(1, 1, use_bias=False, name=ACTIVATION)
    activation = activation_layer(features)
    activation_layer.set_weights([kernel.reshape(1, 1, -1, 1).astype(np.float32)])
    return keras.Model(inputs, [probability, pooled, activation], name=classifier.name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="classifier .keras file, rewritten in place")
    args = parser.parse_args(argv)
    model = with_explanation(keras.models.load_model(args.model, compile=False))
    model.save(args.model)
    card_path = args.model.with_suffix(".json")
    if card_path.is_file():
        from lesion.model_card import read_card, write_card
        from training.cost import gflops

        card = read_card(card_path).raw
        card["gflops_per_image"] = gflops(model)
        card["gflops_per_image_with_views"] = round(gflops(model) * int(card.get("test_time_views", 1)), 3)
        card["outputs"] = list(OUTPUTS)
        write_card(card_path, card)
    print(f"{args.model}: outputs {', '.join(OUTPUTS)}")


if __name__ == "__main__":
    main()
