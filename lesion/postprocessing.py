"""Pure post-processing of model outputs: probabilities -> labels and risk bands, probability maps -> masks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

LABELS = ("benign", "malignant")


def label_for(probability: float, threshold: float) -> str:
    """Return ``"malignant"`` when the probability reaches the threshold, else ``"benign"``."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1]. Received threshold={threshold}")
    return LABELS[int(probability >= threshold)]


def calibrate(probability: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Platt scaling: ``sigmoid(slope * logit(p) + intercept)``, applied to raw model outputs."""
    clipped = np.clip(np.asarray(probability, dtype=np.float64), 1e-7, 1 - 1e-7)
    logits = np.log(clipped / (1 - clipped))
    return 1.0 / (1.0 + np.exp(-(slope * logits + intercept)))


def blend_members(probabilities: Sequence[np.ndarray], shares: Sequence[float]) -> np.ndarray:
    """Ensemble members' raw probabilities: ``sigmoid(sum(share * logit(p)))``, shares summing to 1."""
    if len(probabilities) != len(shares) or not probabilities:
        raise ValueError(f"Need one share per member. Received {len(probabilities)} members, {len(shares)} shares")
    if min(shares) < 0 or abs(sum(shares) - 1.0) > 1e-6:
        raise ValueError(f"Shares must be non-negative and sum to 1. Received shares={list(shares)}")
    logits = np.zeros(np.shape(probabilities[0]), np.float64)
    for share, probability in zip(shares, probabilities, strict=True):
        clipped = np.clip(np.asarray(probability, np.float64), 1e-7, 1 - 1e-7)
        logits += share * np.log(clipped / (1 - clipped))
    return 1.0 / (1.0 + np.exp(-logits))


def flip_views(batch: np.ndarray, views: int) -> np.ndarray:
    """Stack test-time views of an NHWC batch: identity, then horizontal, then vertical flip."""
    if views not in (1, 2, 3):
        raise ValueError(f"views must be 1, 2 or 3. Received views={views}")
    stack = [batch, batch[:, :, ::-1], batch[:, ::-1, :]][:views]
    return np.concatenate(stack, axis=0)


def unflip_views(outputs: np.ndarray, views: int) -> list[np.ndarray]:
    """The spatial outputs of :func:`flip_views` split per view, each flipped back to the batch's frame."""
    unflip = [lambda a: a, lambda a: a[:, :, ::-1], lambda a: a[:, ::-1, :]]
    return [undo(part) for undo, part in zip(unflip, np.split(outputs, views, axis=0), strict=False)]


def merge_views(outputs: np.ndarray, views: int, spatial: bool = False) -> np.ndarray:
    """Average the outputs of :func:`flip_views`, un-flipping spatial outputs first."""
    parts = unflip_views(outputs, views) if spatial else np.split(outputs, views, axis=0)
    return np.mean(parts, axis=0)


def mask_from_probability(
    probability: np.ndarray,
    size: tuple[int, int],
    threshold: float = 0.5,
    largest_component: bool = True,
) -> np.ndarray:
    """Turn a lesion probability map into a 0/255 uint8 mask of ``size`` = (width, height).

    The map is resized (bilinear) before thresholding so the outline stays smooth at full
    size. With ``largest_component`` only the biggest lesion blob is kept, holes filled:
    a dermoscopy photo is centred on one lesion.
    """
    if probability.ndim == 3:
        probability = probability[..., 0]
    if probability.ndim != 2:
        raise ValueError(f"Expected an HxW probability map. Received shape {probability.shape}")
    width, height = size
    # Resizing 8-bit levels is several times faster than float on large photos; 1/255 steps
    # are far finer than the model's own precision.
    levels = np.clip(np.rint(probability * 255.0), 0, 255).astype(np.uint8)
    resized = cv2.resize(levels, (width, height), interpolation=cv2.INTER_LINEAR)
    mask = (resized >= threshold * 255.0).astype(np.uint8)
    if largest_component and mask.any():
        mask = _largest_filled_component(mask)
    return mask * np.uint8(255)


def _largest_filled_component(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    largest = max(contours, key=cv2.contourArea)
    filled = np.zeros_like(mask)
    cv2.drawContours(filled, [largest], -1, 1, thickness=cv2.FILLED)
    return filled


def risk_band(probability: float, bands: list[dict[str, Any]]) -> dict[str, Any]:
    """The card's risk band (ordered, each with an exclusive upper ``below`` edge) for a probability."""
    for band in bands:
        if "below" not in band or probability < float(band["below"]):
            return band
    return bands[-1]
