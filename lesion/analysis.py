"""One upload -> one result: decode, run the models, measure, judge the photo. Used by page and API."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from lesion.inference import Analysis, Predictor
from lesion.measurements import LesionMeasurements, measure_lesion_fast
from lesion.preprocessing import DecodedImage, decode_image
from lesion.quality import DERMOSCOPY, quality_message

#: Longest side of the photo and overlay shown on the page.
DISPLAY_MAX_SIDE = 1024
NOT_A_DIAGNOSIS = (
    "Research software, not a medical device and not a diagnosis. "
    "A probability from this model cannot rule melanoma in or out; "
    "see a dermatologist about any lesion that worries you or changes."
)

EXPLANATION_NOTE = (
    "Grad-CAM heat map of the classifier (both members of its ensemble): warm colours mark the regions that "
    "raised the melanoma score. It shows where the model looked, not why, and is not a diagnosis."
)


@dataclass(frozen=True)
class UploadResult:
    """Everything the page and the API report for one upload."""

    decoded: DecodedImage
    analysis: Analysis
    lesion: LesionMeasurements
    timing_ms: dict[str, float]


def analyse_upload(
    data: bytes, predictor: Predictor, max_pixels: int, mm_per_px: float | None = None, for_display: bool = False
) -> UploadResult:
    """Decode and analyse uploaded bytes.

    JPEGs are decoded at a reduced scale that still exceeds twice the models' input (and the
    page's display size when ``for_display``); the mask is still returned at full size.
    """
    started = time.perf_counter()
    side = max(predictor.classifier.card.input_size, predictor.segmenter.card.input_size)
    decoded = decode_image(
        data, max_pixels=max_pixels, draft_side=max(2 * side, DISPLAY_MAX_SIDE if for_display else 0)
    )
    decode_ms = 1000 * (time.perf_counter() - started)
    analysis = predictor.analyze(decoded)
    started = time.perf_counter()
    lesion = measure_lesion_fast(analysis.mask, decoded.rgb, mm_per_px)
    timing = {
        "decode": round(decode_ms, 2),
        **analysis.timing_ms,
        "measure": round(1000 * (time.perf_counter() - started), 2),
    }
    return UploadResult(decoded, analysis, lesion, timing)


def quality_of(result: UploadResult) -> dict[str, Any]:
    """The quality verdict: what kind of photo this is, was a lesion found, whether the probability applies."""
    analysis = result.analysis
    lesion_found = result.lesion.found
    return {
        "kind": analysis.photo_kind or DERMOSCOPY,
        "kind_probabilities": analysis.kind_probabilities,
        "in_distribution": analysis.in_distribution,
        "lesion_found": lesion_found,
        "message": quality_message(lesion_found, analysis.photo_kind),
        "probability_applies": bool(lesion_found and analysis.in_distribution),
    }
