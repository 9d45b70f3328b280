"""The seed project's reference models, rebuilt for timing comparisons only (random weights)."""

from __future__ import annotations

import keras
from keras import layers


def reference_cnn(size: int = 224) -> keras.Model:
    """Three conv layers and a Dense(512) head: the seed's classifier."""
    inputs = keras.Input((size, size, 3))
    x = inputs
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, activation="relu", padding="same")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x), name="seed_cnn")


def reference_unet(size: int = 224, base: int = 64) -> keras.Model:
    """The classic U-Net with 64 base filters: the seed's segmenter."""
    inputs = keras.Input((size, size, 3))
    skips, x = [], inputs
    for depth in range(4):
        x = _double_conv(x, base * 2**depth)
        skips.append(x)
        x = layers.MaxPooling2D()(x)
    x = _double_conv(x, base * 16)
    for depth in reversed(range(4)):
        x = layers.Conv2DTranspose(base * 2**depth, 2, strides=2)(x)
        x = _double_conv(layers.Concatenate()([x, skips[depth]]), base * 2**depth)
    return keras.Model(inputs, layers.Conv2D(1, 1, activation="sigmoid")(x), name="seed_unet")


def _double_conv(x: keras.KerasTensor, filters: int) -> keras.KerasTensor:
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return x
