"""Losses for lesion segmentation."""

from __future__ import annotations

import keras
from keras import ops


def soft_dice_loss(y_true: keras.KerasTensor, y_pred: keras.KerasTensor, smooth: float = 1.0) -> keras.KerasTensor:
    """1 - Dice per image, averaged over the batch (each lesion counts equally)."""
    axes = (1, 2, 3)
    intersection = ops.sum(y_true * y_pred, axis=axes)
    total = ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes)
    return 1.0 - ops.mean((2.0 * intersection + smooth) / (total + smooth))


def bce_dice_loss(y_true: keras.KerasTensor, y_pred: keras.KerasTensor) -> keras.KerasTensor:
    """Binary cross-entropy (pixel accuracy) plus soft Dice (overlap)."""
    bce = ops.mean(keras.losses.binary_crossentropy(y_true, y_pred))
    return bce + soft_dice_loss(y_true, y_pred)
