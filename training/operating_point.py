"""Risk bands from validation predictions: cut points with stated sensitivity and specificity."""

from __future__ import annotations

import numpy as np

#: A "low" result should miss few melanomas; a "high" one should rarely be benign.
LOW_BAND_SENSITIVITY = 0.95
HIGH_BAND_SPECIFICITY = 0.95


def band_edges(truth: np.ndarray, probability: np.ndarray, threshold: float) -> tuple[float, float]:
    """(low, high) band edges bracketing the decision threshold, chosen on the given predictions.

    The low edge is the largest cut that keeps sensitivity at or above ``LOW_BAND_SENSITIVITY``;
    the high edge the smallest cut whose specificity reaches ``HIGH_BAND_SPECIFICITY``.
    """
    truth = np.asarray(truth) > 0.5
    probability = np.asarray(probability, dtype=float)
    if truth.all() or not truth.any():
        raise ValueError("Need both melanomas and benign lesions to set risk bands")
    positives = np.sort(probability[truth])
    negatives = np.sort(probability[~truth])
    # Cut at a positive's score: everything at or above it counts as flagged.
    allowed_misses = int(np.floor((1 - LOW_BAND_SENSITIVITY) * len(positives)))
    low_edge = min(float(positives[allowed_misses]), threshold)
    allowed_false_alarms = int(np.floor((1 - HIGH_BAND_SPECIFICITY) * len(negatives)))
    high_edge = max(float(negatives[len(negatives) - allowed_false_alarms - 1]) + 1e-6, threshold)
    return low_edge, high_edge


def risk_bands(
    truth: np.ndarray, probability: np.ndarray, threshold: float, edges: tuple[float, float] | None = None
) -> list[dict]:
    """Three bands (low / intermediate / high), each stating how many melanomas and benign lesions fell in it.

    ``edges`` are the (low, high) cuts chosen elsewhere (``band_edges`` on data that reports
    nothing); without them they are chosen on these predictions.
    """
    truth = np.asarray(truth) > 0.5
    probability = np.asarray(probability, dtype=float)
    low_edge, high_edge = edges if edges is not None else band_edges(truth, probability, threshold)
    edges = [(None, low_edge), (low_edge, high_edge), (high_edge, None)]
    names = ("low", "intermediate", "high")
    bands = []
    for name, (lower, upper) in zip(names, edges, strict=True):
        inside = np.ones_like(probability, dtype=bool)
        if lower is not None:
            inside &= probability >= lower
        if upper is not None:
            inside &= probability < upper
        melanomas, benign = int((inside & truth).sum()), int((inside & ~truth).sum())
        band = {
            "name": name,
            "meaning": _meaning(name, melanomas, int(truth.sum()), benign, int((~truth).sum())),
            "validation_melanomas": melanomas,
            "validation_benign": benign,
        }
        if upper is not None:
            band["below"] = round(upper, 6)
        bands.append(band)
    return bands


def _meaning(name: str, melanomas: int, total_melanomas: int, benign: int, total_benign: int) -> str:
    share = (
        f"On the ISIC validation images (which chose no model setting) {melanomas} of {total_melanomas} "
        f"melanomas and {benign} of {total_benign} benign lesions scored in this band."
    )
    lead = {
        "low": "Few melanomas score this low, but some do:",
        "intermediate": "Melanomas and benign lesions both score here:",
        "high": "Lesions scoring this high are the likeliest to be melanomas, yet not all are:",
    }[name]
    return f"{lead} {share}"


def in_words(share: float) -> str:
    """A share as a patient would say it: 0.89 -> "about 9 in 10", 0.34 -> "about 1 in 3"."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1]. Received share={share}")
    for denominator in (2, 3, 4, 5, 10):
        count = round(share * denominator)
        if abs(count / denominator - share) <= 0.025:
            return f"about {count} in {denominator}"
    return f"about {round(share * 100)} in 100"


def threshold_meaning(threshold: float, target_sensitivity: float, measured: dict[str, dict] | None = None) -> str:
    """What the threshold means, in plain words, with the figures on images that chose nothing when given.

    Args:
        threshold: the served probability at or above which a photo is flagged.
        target_sensitivity: the share of melanomas the threshold was set to flag.
        measured: per report set, its ``sensitivity`` and ``specificity`` at the threshold.
    """
    opening = f"Photos scoring {threshold:.1%} or more are flagged for a closer look"
    if not measured:
        return f"{opening}: the level was set so that at least {target_sensitivity:.0%} of melanomas are flagged."
    caught = [scores["sensitivity"] for scores in measured.values()]
    alarms = [1 - scores["specificity"] for scores in measured.values()]
    listed = " and ".join(f"{share:.0%}" for share in caught)
    false_listed = " and ".join(f"{share:.0%}" for share in alarms)
    collections = ("one collection", "two collections", "three collections")[min(len(measured), 3) - 1]
    return (
        f"{opening}: at this level the model flagged {in_words(float(np.mean(caught)))} melanomas in photos it had "
        f"not learned from ({listed} in {collections}), and {in_words(float(np.mean(alarms)))} harmless lesions too "
        f"({false_listed}). A photo scoring below it can still show a melanoma."
    )
