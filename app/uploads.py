"""Reading a request: the uploaded file, the optional scale, and the models it needs."""

from __future__ import annotations

import math
import time
from datetime import date
from typing import Any

from flask import current_app, request
from werkzeug.datastructures import FileStorage

from app.inference_extension import get_predictor
from lesion.analysis import UploadResult, analyse_upload
from lesion.change import ChangeResult, compare_uploads
from lesion.comparison import days_between
from lesion.errors import InvalidImageError
from lesion.inference import Predictor

#: The two photos of a comparison, in the order of the form fields.
COMPARED = ("before", "after")


class MissingUploadError(ValueError):
    """The request carries no file, or an empty one."""

    code = "missing_image"


class InvalidParameterError(ValueError):
    """A request parameter other than the image is malformed."""

    code = "invalid_parameter"


class ModelsNotReadyError(RuntimeError):
    """The models are not loaded yet; the message is what the caller is told (a 503)."""

    code = "not_ready"


def read_upload(files: Any, field: str = "image") -> bytes:
    """Return the bytes of the uploaded file, in memory; raise if absent or empty."""
    upload: FileStorage | None = files.get(field)
    if upload is None:
        raise MissingUploadError(f"No file in the form field '{field}'.")
    data = upload.read()
    if not data:
        raise MissingUploadError(f"The file in the form field '{field}' is empty.")
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


def read_date(values: Any, field: str) -> date | None:
    """The optional date a photo was taken (ISO 8601, YYYY-MM-DD); raise if present but not such a date."""
    raw = values.get(field, "")
    if raw in ("", None):
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidParameterError(f"{field} must be a date written YYYY-MM-DD.") from None


def ready_predictor(not_ready_message: str) -> Predictor:
    """The loaded predictor; raise :class:`ModelsNotReadyError` with the message while it is loading."""
    predictor = get_predictor()
    if predictor is None:
        raise ModelsNotReadyError(not_ready_message)
    return predictor


def analyse_request(not_ready_message: str, for_display: bool = False) -> tuple[Predictor, UploadResult]:
    """The predictor and the analysis of the current request's upload (scale checked before the image)."""
    predictor = ready_predictor(not_ready_message)
    scale = read_scale(request.values)
    data = read_upload(request.files)
    max_pixels = current_app.config["MAX_IMAGE_PIXELS"]
    return predictor, analyse_upload(data, predictor, max_pixels, scale, for_display=for_display)


def compare_request(not_ready_message: str) -> tuple[Predictor, ChangeResult, tuple[date | None, date | None]]:
    """The predictor, the comparison of the request's ``before`` and ``after`` uploads, and their dates.

    Every parameter is checked before either image is decoded; an image error names the photo.
    JPEGs are decoded at display size at least, for the page and for the detail registration needs.
    """
    predictor = ready_predictor(not_ready_message)
    scales = [read_scale(request.values, f"{name}_mm_per_px") for name in COMPARED]
    dates = (read_date(request.values, "before_date"), read_date(request.values, "after_date"))
    if None not in dates and dates[1] < dates[0]:
        raise InvalidParameterError("after_date is earlier than before_date.")
    uploads = [read_upload(request.files, name) for name in COMPARED]
    max_pixels = current_app.config["MAX_IMAGE_PIXELS"]
    results, elapsed = [], []
    for name, data, scale in zip(COMPARED, uploads, scales, strict=True):
        started = time.perf_counter()
        try:
            results.append(analyse_upload(data, predictor, max_pixels, scale, for_display=True))
        except InvalidImageError as error:
            raise type(error)(f"The {name} photo: {error}") from error
        elapsed.append(1000 * (time.perf_counter() - started))
    change = compare_uploads(*results, days=days_between(*dates), analysis_ms=(elapsed[0], elapsed[1]))
    return predictor, change, dates
