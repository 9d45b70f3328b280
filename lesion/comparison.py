"""Change of one lesion between two registered photos: the after outline in the before frame, measured."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import cv2
import numpy as np

from lesion.measurements import (
    COLOUR_SAMPLE_SIDE,
    DERMOSCOPIC_COLOURS,
    LesionMeasurements,
    dermoscopic_colours,
    measure_lesion,
)
from lesion.registration import Registration, frame_corners

#: Both outlines are measured in the before frame shrunk to at most this longest side: every
#: change figure is a ratio or a shape score, and the two masks share one resolution.
COMPARE_SIDE = 1024
#: Below this overlap (intersection over union) of the before and registered after outlines
#: the two masks are taken to outline different lesions on the same skin.
MIN_OVERLAP = 0.05
#: Outline colours (RGB) of the overlay: the before outline as on the result page, the after
#: outline in a warm colour that differs from it in hue and lightness.
BEFORE_RGB = (0, 229, 255)
AFTER_RGB = (255, 64, 160)


@dataclass(frozen=True)
class LesionChange:
    """How the lesion changed, measured with both outlines in the before photo's frame.

    Ratios are after / before (1: unchanged); deltas are after - before. The probability
    delta and ``days`` are ``None`` when not known.
    """

    area_ratio: float
    diameter_ratio: float
    asymmetry_delta: float
    border_irregularity_delta: float
    colours_added: tuple[str, ...]
    colours_lost: tuple[str, ...]
    malignant_probability_delta: float | None
    days: int | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Comparison:
    """The change (``None`` with a ``message`` when it must not be given) and the masks it was measured on."""

    change: LesionChange | None
    message: str
    #: Intersection over union of the two outlines in the before frame.
    overlap: float
    #: The before mask and the registered after mask, 0/255, in the before frame at ``scale``.
    before_mask: np.ndarray = field(repr=False)
    after_mask: np.ndarray = field(repr=False)
    #: Size of the comparison frame relative to the before photo.
    scale: float
    #: Corners of the after photo once registered, in the comparison frame (None unregistered).
    after_edge: np.ndarray | None = field(default=None, repr=False)


def days_between(before: date | None, after: date | None) -> int | None:
    """Days from the before photo to the after photo, or ``None`` unless both dates are known."""
    if before is None or after is None:
        return None
    return (after - before).days


def warp_after_mask(
    after_mask: np.ndarray, registration: Registration, shape: tuple[int, ...], scale: float
) -> np.ndarray:
    """The after mask carried into the before frame (of ``shape``, shrunk by ``scale``), 0/255."""
    matrix = registration.matrix
    if matrix is None:
        raise ValueError(f"The registration has no transform: {registration.reason}")
    size = (max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale)))
    warped = cv2.warpAffine(
        (after_mask > 127).astype(np.uint8) * 255, matrix * scale, size, flags=cv2.INTER_LINEAR, borderValue=0
    )
    return np.where(warped > 127, 255, 0).astype(np.uint8)


def skin_matched(
    rgb: np.ndarray, mask: np.ndarray, reference_rgb: np.ndarray, reference_mask: np.ndarray
) -> np.ndarray:
    """``rgb`` with each channel scaled so its skin (outside the lesion) averages the reference's skin.

    Dermoscopic colours are fixed RGB references, so a darker or warmer second photo would
    otherwise gain or lose colours that the lesion never changed.
    """
    skin = _resized(mask, rgb.shape) <= 127
    reference_skin = _resized(reference_mask, reference_rgb.shape) <= 127
    if skin.sum() < 0.05 * skin.size or reference_skin.sum() < 0.05 * reference_skin.size:
        return rgb  # too little skin to measure the lighting on
    gains = reference_rgb[reference_skin].mean(axis=0) / np.maximum(rgb[skin].mean(axis=0), 1.0)
    return np.clip(rgb.astype(np.float32) * gains.astype(np.float32), 0, 255).astype(np.uint8)


def _touches_edge(mask: np.ndarray) -> bool:
    """Whether the lesion reaches the photo's border (part of it may lie outside the photo)."""
    edges = (mask[0], mask[-1], mask[:, 0], mask[:, -1])
    return any(bool((edge > 127).any()) for edge in edges)


def _sample(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its 0/255 mask shrunk to the colour count's own sampling size."""
    scale = min(1.0, COLOUR_SAMPLE_SIDE / max(rgb.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    return rgb, _binary(mask)


def _binary(mask: np.ndarray) -> np.ndarray:
    return np.where(mask > 127, 255, 0).astype(np.uint8)


def _resized(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if mask.shape[:2] == shape[:2]:
        return mask
    return cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def _overlap(first: np.ndarray, second: np.ndarray) -> float:
    union = np.count_nonzero((first > 127) | (second > 127))
    return float(np.count_nonzero((first > 127) & (second > 127)) / union) if union else 0.0


def _ordered(names: set[str]) -> tuple[str, ...]:
    return tuple(name for name in DERMOSCOPIC_COLOURS if name in names)


def compare_lesions(
    before_rgb: np.ndarray,
    before_mask: np.ndarray,
    after_rgb: np.ndarray,
    after_mask: np.ndarray,
    registration: Registration,
    probabilities: tuple[float | None, float | None] = (None, None),
    days: int | None = None,
) -> Comparison:
    """Measure how the lesion changed from the before photo to the registered after photo.

    Args:
        before_rgb, after_rgb: the two HxWx3 uint8 RGB photos as registered.
        before_mask, after_mask: their 0/255 lesion masks (any size; resized to the photo).
        registration: :func:`lesion.registration.register` of the after photo onto the before.
        probabilities: (before, after) melanoma probabilities, each ``None`` where it does not
            apply (the quality gate refused the photo); the delta needs both.
        days: days between the photos, if known (see :func:`days_between`).

    No change figure is given (``change`` is ``None``, ``message`` says why) when the photos
    do not show the same skin, a photo has no lesion, or the two outlines do not overlap.
    """
    before_mask, after_mask = _resized(before_mask, before_rgb.shape), _resized(after_mask, after_rgb.shape)
    scale = min(1.0, COMPARE_SIDE / max(before_rgb.shape[:2]))
    size = (max(1, round(before_rgb.shape[1] * scale)), max(1, round(before_rgb.shape[0] * scale)))
    small_before = _binary(cv2.resize(before_mask, size, interpolation=cv2.INTER_AREA))
    if not registration.same_lesion or registration.matrix is None:
        message = f"The photos do not show the same skin: {registration.reason}."
        return Comparison(None, message, 0.0, small_before, np.zeros_like(small_before), scale)
    small_after = warp_after_mask(after_mask, registration, before_rgb.shape, scale)
    edge = cv2.transform(frame_corners(after_rgb.shape)[None], registration.matrix * scale)[0]
    overlap = _overlap(small_before, small_after)
    before, after = measure_lesion(small_before), measure_lesion(small_after)
    message = _refusal(before, after, overlap, after_mask)
    if message:
        return Comparison(None, message, overlap, small_before, small_after, scale, edge)
    (small_rgb_b, mask_b), (small_rgb_a, mask_a) = _sample(before_rgb, before_mask), _sample(after_rgb, after_mask)
    before_colours = set(dermoscopic_colours(small_rgb_b, mask_b // 255))
    after_colours = set(dermoscopic_colours(skin_matched(small_rgb_a, mask_a, small_rgb_b, mask_b), mask_a // 255))
    first, second = probabilities
    change = LesionChange(
        area_ratio=round(after.area_px / before.area_px, 3),
        diameter_ratio=round(after.diameter_px / before.diameter_px, 3),
        asymmetry_delta=round(after.asymmetry_mean - before.asymmetry_mean, 4),
        border_irregularity_delta=round(after.border_irregularity - before.border_irregularity, 3),
        colours_added=_ordered(after_colours - before_colours),
        colours_lost=_ordered(before_colours - after_colours),
        malignant_probability_delta=None if first is None or second is None else round(second - first, 4),
        days=days,
    )
    message = "The after photo was registered onto the before photo."
    cut = [name for name, mask in (("before", before_mask), ("after", after_mask)) if _touches_edge(mask)]
    if cut:
        photos = " and ".join(cut) + (" photos" if len(cut) > 1 else " photo")
        message += f" The lesion touches the edge of the {photos}, so its size may be underestimated."
    return Comparison(change, message, overlap, small_before, small_after, scale, edge)


def _refusal(before: LesionMeasurements, after: LesionMeasurements, overlap: float, after_mask: np.ndarray) -> str:
    """Why no change may be reported, or an empty string."""
    if not before.found:
        return "No lesion was found in the before photo."
    if not np.any(after_mask > 127):
        return "No lesion was found in the after photo."
    if not after.found:
        return "The lesion of the after photo falls outside the before photo once registered."
    if overlap < MIN_OVERLAP:
        return "The two outlines do not overlap once the photos are registered: they may be different lesions."
    return ""


def comparison_overlay(before_rgb: np.ndarray, comparison: Comparison, max_side: int = COMPARE_SIDE) -> np.ndarray:
    """The before photo (longest side at most ``max_side``) with the before and registered after outlines.

    The after photo's registered edge is drawn thinly in white, to show where it covers.
    """
    scale = min(1.0, max_side / max(before_rgb.shape[:2]))
    size = (max(1, round(before_rgb.shape[1] * scale)), max(1, round(before_rgb.shape[0] * scale)))
    canvas = cv2.resize(before_rgb, size, interpolation=cv2.INTER_AREA).copy()
    line = max(2, round(max(size) / 256))
    if comparison.after_edge is not None:
        edge = np.round(comparison.after_edge * (scale / comparison.scale)).astype(np.int32)
        cv2.polylines(canvas, [edge], True, (255, 255, 255), 1, cv2.LINE_AA)
    for mask, colour in ((comparison.before_mask, BEFORE_RGB), (comparison.after_mask, AFTER_RGB)):
        if not mask.any():
            continue
        fitted = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours((fitted > 127).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(canvas, contours, -1, colour, thickness=line, lineType=cv2.LINE_AA)
    return canvas
