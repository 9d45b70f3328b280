"""Two uploads of one lesion -> their registered comparison, and what each change means in words."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass

import numpy as np

from lesion.analysis import UploadResult, quality_of
from lesion.comparison import Comparison, LesionChange, compare_lesions, comparison_overlay
from lesion.overlay import encode_png
from lesion.registration import Registration, register

#: Changes smaller than these are within what two photos and two outlines of an unchanged
#: lesion can differ by (area: the 0.85-1.18 band the unchanged synthetic pairs must meet).
SAME_AREA = 0.15
SAME_DIAMETER = 0.08
SAME_ASYMMETRY = 0.05
SAME_BORDER = 0.10


@dataclass(frozen=True, eq=False)
class ChangeResult:
    """Everything the compare page and API report for a pair of uploads."""

    before: UploadResult
    after: UploadResult
    registration: Registration
    comparison: Comparison
    timing_ms: dict[str, float]

    @property
    def same_lesion(self) -> bool:
        """True only when a change is reported: same skin, a lesion in both, overlapping outlines."""
        return self.comparison.change is not None


def applicable_probability(result: UploadResult) -> float | None:
    """The melanoma probability where the quality gate says it applies, else ``None``."""
    return result.analysis.probability if quality_of(result)["probability_applies"] else None


def compare_uploads(
    before: UploadResult, after: UploadResult, days: int | None = None, analysis_ms: tuple[float, float] = (0.0, 0.0)
) -> ChangeResult:
    """Register the after upload onto the before upload and measure how its lesion changed.

    Both masks are the served segmenter's; the probability delta is given only when the
    quality gate accepted the probability of both photos. ``analysis_ms`` (how long each
    upload's analysis took) is reported with the comparison's own stages.
    """
    started = time.perf_counter()
    registration = register(before.decoded.rgb, after.decoded.rgb, before.analysis.mask, after.analysis.mask)
    registered = time.perf_counter()
    comparison = compare_lesions(
        before.decoded.rgb,
        before.analysis.mask,
        after.decoded.rgb,
        after.analysis.mask,
        registration,
        probabilities=(applicable_probability(before), applicable_probability(after)),
        days=days,
    )
    timing = {
        "before": round(analysis_ms[0], 2),
        "after": round(analysis_ms[1], 2),
        "register": round(1000 * (registered - started), 2),
        "compare": round(1000 * (time.perf_counter() - registered), 2),
    }
    return ChangeResult(before, after, registration, comparison, timing)


def overlay_image(result: ChangeResult, max_side: int) -> np.ndarray:
    """The before photo with the before and registered after outlines, longest side at most ``max_side``."""
    return comparison_overlay(result.before.decoded.rgb, result.comparison, max_side=max_side)


def overlay_png_base64(result: ChangeResult, max_side: int) -> str:
    """:func:`overlay_image` as base64 PNG (the API's ``overlay_png``)."""
    return base64.b64encode(encode_png(overlay_image(result, max_side))).decode("ascii")


def _size_meaning(ratio: float, same: float, noun: str) -> str:
    if abs(ratio - 1) < same:
        return f"About the same {noun}: a difference this small can come from the two photos and outlines alone."
    share = abs(ratio - 1) * 100
    if ratio > 1:
        return f"Larger {noun}: {share:.0f}% more than in the before photo."
    return f"Smaller {noun}: {share:.0f}% less than in the before photo."


def _shape_meaning(delta: float, same: float, more: str, less: str, unchanged: str) -> str:
    if abs(delta) < same:
        return f"About {unchanged}."
    return f"{more if delta > 0 else less}."


def change_rows(change: LesionChange) -> list[tuple[str, str, str]]:
    """(what, value, plain-language meaning) for each change figure, for the page's table."""
    probability = change.malignant_probability_delta
    return [
        ("Area", f"{change.area_ratio:.2f} ×", _size_meaning(change.area_ratio, SAME_AREA, "area")),
        (
            "Largest diameter",
            f"{change.diameter_ratio:.2f} ×",
            _size_meaning(change.diameter_ratio, SAME_DIAMETER, "diameter"),
        ),
        (
            "Asymmetry",
            f"{round(change.asymmetry_delta * 100):+d} points",  # an int: never "-0"
            _shape_meaning(
                change.asymmetry_delta,
                SAME_ASYMMETRY,
                "Less symmetric than before",
                "More symmetric than before",
                "as symmetric as before",
            ),
        ),
        (
            "Border irregularity",
            f"{change.border_irregularity_delta:+.2f}",
            _shape_meaning(
                change.border_irregularity_delta,
                SAME_BORDER,
                "A more ragged or elongated outline",
                "A smoother or rounder outline",
                "as regular an outline as before",
            ),
        ),
        (
            "Colours added",
            ", ".join(change.colours_added) or "none",
            "Dermoscopic colours now covering 5% or more of the lesion that did not before."
            if change.colours_added
            else "No new dermoscopic colour.",
        ),
        (
            "Colours lost",
            ", ".join(change.colours_lost) or "none",
            "Dermoscopic colours that covered 5% or more of the lesion before and no longer do."
            if change.colours_lost
            else "No dermoscopic colour disappeared.",
        ),
        (
            "Melanoma probability",
            "not compared" if probability is None else f"{probability * 100:+.1f} points",
            "Not compared: the quality gate did not accept the probability of both photos."
            if probability is None
            else "The model scores each photo on its own; this difference is not a measurement of the lesion.",
        ),
        (
            "Time between the photos",
            "not given" if change.days is None else f"{change.days} days",
            "Give both dates to see it."
            if change.days is None
            else "Change over weeks or months is what the "
            "E (evolving) of the ABCDE rule refers to; any change is a reason to see a dermatologist.",
        ),
    ]
