"""The official ISIC 2017 metrics, computed with ``isic-challenge-scoring``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from isic_challenge_scoring import metrics
from isic_challenge_scoring.confusion import create_binary_confusion_matrix
from sklearn.metrics import roc_auc_score


def per_image_segmentation_scores(truths: list[np.ndarray], predictions: list[np.ndarray]) -> pd.DataFrame:
    """The ISIC segmentation metrics of each 0/255 mask pair, one row per image."""
    if len(truths) != len(predictions) or not truths:
        raise ValueError(f"Need equal, non-zero numbers of masks. Received {len(truths)} and {len(predictions)}")
    rows = []
    for truth, prediction in zip(truths, predictions, strict=True):
        if truth.shape != prediction.shape:
            raise ValueError(f"Mask shapes differ: {truth.shape} and {prediction.shape}")
        matrix = create_binary_confusion_matrix(truth > 128, prediction > 128)
        rows.append(
            {
                "jaccard": metrics.binary_jaccard(matrix),
                "threshold_jaccard": metrics.binary_threshold_jaccard(matrix, threshold=0.65),
                "dice": metrics.binary_dice(matrix),
                "sensitivity": metrics.binary_sensitivity(matrix),
                "specificity": metrics.binary_specificity(matrix),
                "accuracy": metrics.binary_accuracy(matrix),
            }
        )
    return pd.DataFrame(rows)


def segmentation_scores(truths: list[np.ndarray], predictions: list[np.ndarray]) -> dict[str, float]:
    """Macro-average the per-image ISIC segmentation metrics over 0/255 mask pairs."""
    return {name: float(value) for name, value in per_image_segmentation_scores(truths, predictions).mean().items()}


def classification_scores(truth: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float]:
    """ISIC melanoma metrics: AUC, AUC above 80% sensitivity, and the threshold's confusion."""
    truth_series = pd.Series(np.asarray(truth, dtype=float))
    probability_series = pd.Series(np.asarray(probability, dtype=float))
    weights = pd.Series(np.ones(len(truth_series)))
    matrix = create_binary_confusion_matrix(truth_series.to_numpy() > 0.5, probability_series.to_numpy() >= threshold)
    sensitivity = metrics.binary_sensitivity(matrix)
    specificity = metrics.binary_specificity(matrix)
    return {
        "auc": float(metrics.auc(truth_series, probability_series, weights)),
        "auc_sens_80": float(metrics.auc_above_sensitivity(truth_series, probability_series, weights, 0.80)),
        "sensitivity": float(sensitivity),
        "specificity": float(specificity),
        "balanced_accuracy": float((sensitivity + specificity) / 2),
        "threshold": float(threshold),
    }


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    count: int,
    rounds: int = 2000,
    seed: int = 0,
    labels: np.ndarray | None = None,
) -> list[float]:
    """95% percentile bootstrap interval of ``statistic(picked image indices)``, resampling ``count`` images.

    With class ``labels``, resamples holding only one class are skipped (no AUC exists for them).
    """
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(rounds):
        pick = rng.integers(0, count, count)
        if labels is None or 0 < labels[pick].sum() < len(pick):
            samples.append(statistic(pick))
    low, high = np.percentile(samples, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def bootstrap_auc(labels: np.ndarray, scores: np.ndarray, rounds: int = 2000, seed: int = 0) -> dict[str, float]:
    """AUC with a 95% percentile bootstrap interval (resampling images)."""
    return {
        "auc": round(float(roc_auc_score(labels, scores)), 4),
        "ci95": bootstrap_interval(
            lambda pick: roc_auc_score(labels[pick], scores[pick]), len(labels), rounds, seed, labels
        ),
    }
