"""One upload -> one result: decode, run the models, measure, render. Used by page and API."""

from __future__ import annotations

import base64
import math
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from werkzeug.datastructures import FileStorage

from app.errors import InvalidParameterError, MissingUploadError
from app.inference import Analysis, Predictor
from app.measurements import LesionMeasurements, measure_lesion_fast
from app.overlay import blend, display_size, encode_jpeg, encode_png, heatmap_rgba, overlay_rgba
from app.preprocessing import DecodedImage, decode_image
from app.quality import DERMOSCOPY, quality_message

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


def read_upload(files: Any, field: str = "image") -> bytes:
    """Return the bytes of the uploaded file, in memory; raise if absent or empty."""
    upload: FileStorage | None = files.get(field)
    if upload is None:
        raise MissingUploadError(f"No file in the form field '{field}'.")
    data = upload.read()
    if not data:
        raise MissingUploadError("The uploaded file is empty.")
    return data


def read_scale(values: Any, field: str = "mm_per_px") -> float | None:
    """The optional photo scale in millimetres per pixel; raise if present but not a positive number."""
    raw = values.get(field, "")
    if raw in ("", None):
        return None
    try:
        scale = float(raw)
    except ValueError:
        scale = math.nan
    if not (math.isfinite(scale) and 0 < scale < 10):
        raise InvalidParameterError(f"{field} must be a positive number of millimetres per pixel (under 10).")
    return scale


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


def risk_band(probability: float, bands: list[dict[str, Any]]) -> dict[str, Any]:
    """The card's risk band (ordered, each with an exclusive upper ``below`` edge) for a probability."""
    for band in bands:
        if "below" not in band or probability < float(band["below"]):
            return band
    return bands[-1]


def mask_png_base64(result: UploadResult) -> str:
    """The full-size 0/255 mask as base64 PNG (the API's ``mask_png``)."""
    return base64.b64encode(encode_png(result.analysis.mask)).decode("ascii")


def display_photo(result: UploadResult) -> np.ndarray:
    """The photo at display size (longest side at most ``DISPLAY_MAX_SIDE``)."""
    size = display_size(result.decoded.size, DISPLAY_MAX_SIDE)
    return cv2.resize(result.decoded.rgb, size, interpolation=cv2.INTER_AREA)


def display_images(result: UploadResult) -> tuple[bytes, bytes]:
    """(photo JPEG, overlay RGBA PNG) at display size, for the result page."""
    photo = display_photo(result)
    size = (photo.shape[1], photo.shape[0])
    return encode_jpeg(photo), encode_png(overlay_rgba(result.analysis.mask, size))


def explanation_layer(result: UploadResult) -> np.ndarray | None:
    """The classifier's activation heat map as an RGBA layer at display size, if it has one."""
    if result.analysis.activation is None:
        return None
    size = display_size(result.decoded.size, DISPLAY_MAX_SIDE)
    return heatmap_rgba(result.analysis.activation, size)


def explanation_png_base64(result: UploadResult) -> str | None:
    """The photo at display size with the activation heat map blended over it, as base64 PNG."""
    layer = explanation_layer(result)
    if layer is None:
        return None
    return base64.b64encode(encode_png(blend(display_photo(result), layer))).decode("ascii")
