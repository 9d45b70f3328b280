"""Count a Keras model's multiply-accumulates from its layer shapes (no profiler needed)."""

from __future__ import annotations

import math

import keras
from keras import layers

_COUNTED = (layers.Conv2D, layers.Conv2DTranspose, layers.DepthwiseConv2D, layers.SeparableConv2D, layers.Dense)


def _prod(values: tuple[int | None, ...]) -> int:
    return math.prod(int(v) for v in values if v is not None)


def count_macs(model: keras.Model) -> int:
    """Return the multiply-accumulates of one forward pass of one image (convs and dense)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_macs(layer)
            continue
        if not isinstance(layer, _COUNTED) or not layer.built:
            continue
        out_spatial = _prod(tuple(layer.output.shape[1:-1]))
        in_channels = int(layer.input.shape[-1])
        out_channels = int(layer.output.shape[-1])
        if isinstance(layer, layers.SeparableConv2D):
            depthwise = _prod(layer.kernel_size) * in_channels * out_spatial
            total += depthwise + in_channels * out_channels * out_spatial
        elif isinstance(layer, layers.DepthwiseConv2D):
            total += _prod(layer.kernel_size) * out_channels * out_spatial
        elif isinstance(layer, (layers.Conv2D, layers.Conv2DTranspose)):
            total += _prod(layer.kernel_size) * in_channels * out_channels * out_spatial
        elif isinstance(layer, layers.Dense):
            total += in_channels * out_channels * max(out_spatial, 1)
    return total


def gflops(model: keras.Model) -> float:
    """Return GFLOPs per image (2 FLOPs per multiply-accumulate)."""
    return round(2 * count_macs(model) / 1e9, 3)
