"""Descriptive lesion measurements from a mask (ABCD-style; not diagnostic criteria)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np

#: Reference dermoscopic colours (RGB in [0, 1]) of the ABCD rule, after Kasmi & Mokrani,
#: "Classification of malignant melanoma and benign skin lesions", IET Image Processing 2016.
DERMOSCOPIC_COLOURS = {
    "white": (1.0, 1.0, 1.0),
    "red": (0.8, 0.2, 0.2),
    "light brown": (0.6, 0.33, 0.05),
    "dark brown": (0.2, 0.0, 0.0),
    "blue-gray": (0.2, 0.6, 0.6),
    "black": (0.0, 0.0, 0.0),
}
#: A colour counts as present when at least this share of lesion pixels is nearest to it.
COLOUR_MIN_SHARE = 0.05
#: Photos are shrunk to this longest side before colours are counted.
COLOUR_SAMPLE_SIDE = 512
#: Large masks are measured at this longest side and scaled back.
MEASURE_SIDE = 1024


@dataclass(frozen=True)
class LesionMeasurements:
    """Size, shape and colour of the segmented lesion, in pixels of the full image."""

    found: bool
    area_px: int
    area_fraction: float
    diameter_px: float
    diameter_mm: float | None
    perimeter_px: float
    bounding_box: tuple[int, int, int, int] | None  # x, y, width, height
    #: Share of the lesion that does not overlap its mirror image about each principal
    #: axis (0 = perfectly symmetric), and their mean.
    asymmetry: tuple[float, float] | None
    asymmetry_mean: float | None
    #: Perimeter² / (4π area): 1 for a disc, larger for ragged or elongated outlines.
    border_irregularity: float | None
    #: Dermoscopic colours covering at least 5% of the lesion.
    colours: tuple[str, ...]

    def as_dict(self) -> dict:
        return asdict(self)


def measure_lesion(
    mask: np.ndarray, rgb: np.ndarray | None = None, mm_per_px: float | None = None
) -> LesionMeasurements:
    """Measure the lesion in a 0/255 (or boolean) HxW mask.

    Args:
        mask: the lesion mask at full image size.
        rgb: the photo (any size; the mask is resized to it) for the colour count.
        mm_per_px: scale of the photo, to report the diameter in millimetres.

    The diameter is the largest distance between two outline points (maximum Feret
    diameter), found on the convex hull.
    """
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"Expected a non-empty HxW mask. Received shape {mask.shape}")
    if mm_per_px is not None and not (math.isfinite(mm_per_px) and mm_per_px > 0):
        raise ValueError(f"mm_per_px must be a positive number. Received mm_per_px={mm_per_px}")
    binary = (mask > 127 if mask.dtype != bool else mask).astype(np.uint8)
    area = int(binary.sum())
    if area == 0:
        return LesionMeasurements(False, 0, 0.0, 0.0, None, 0.0, None, None, None, None, ())
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    points = np.concatenate(contours).reshape(-1, 2)
    hull = cv2.convexHull(points).reshape(-1, 2).astype(np.float64)
    # Pixel centres span (n - 1); +1 counts the pixels' own extent, so one pixel measures 1.
    diameter = float(np.sqrt(((hull[:, None, :] - hull[None, :, :]) ** 2).sum(axis=-1)).max()) + 1.0
    perimeter = float(sum(cv2.arcLength(contour, closed=True) for contour in contours))
    x, y, w, h = cv2.boundingRect(points)
    asymmetry = principal_axis_asymmetry(binary)
    return LesionMeasurements(
        found=True,
        area_px=area,
        area_fraction=round(area / binary.size, 6),
        diameter_px=round(diameter, 1),
        diameter_mm=None if mm_per_px is None else round(diameter * mm_per_px, 2),
        perimeter_px=round(perimeter, 1),
        bounding_box=(int(x), int(y), int(w), int(h)),
        asymmetry=asymmetry,
        asymmetry_mean=round(sum(asymmetry) / 2, 4),
        border_irregularity=round(perimeter**2 / (4 * math.pi * area), 3) if area > 1 else 1.0,
        colours=() if rgb is None else dermoscopic_colours(rgb, binary),
    )


def measure_lesion_fast(
    mask: np.ndarray, rgb: np.ndarray | None = None, mm_per_px: float | None = None, max_side: int = MEASURE_SIDE
) -> LesionMeasurements:
    """:func:`measure_lesion` on a copy of the mask shrunk to ``max_side``, scaled back to full-size pixels.

    Lengths and areas of a large photo's mask change by well under 1% at 1024 px, and the
    contour work drops from tens of ms to a few.
    """
    height, width = mask.shape[:2]
    scale = max(height, width) / max_side
    if scale <= 1.0:
        return measure_lesion(mask, rgb, mm_per_px)
    small_size = (max(1, round(width / scale)), max(1, round(height / scale)))
    small = cv2.resize(mask, small_size, interpolation=cv2.INTER_NEAREST)
    sx, sy = width / small_size[0], height / small_size[1]
    result = measure_lesion(small, rgb, None if mm_per_px is None else mm_per_px * (sx + sy) / 2)
    if not result.found:  # nothing, or a lesion too small to survive the shrinking
        return measure_lesion(mask, rgb, mm_per_px)
    area = int(np.count_nonzero(mask > 127))
    x, y, w, h = result.bounding_box
    return replace(
        result,
        area_px=area,
        area_fraction=round(area / mask.size, 6),
        diameter_px=round(result.diameter_px * (sx + sy) / 2, 1),
        perimeter_px=round(result.perimeter_px * (sx + sy) / 2, 1),
        bounding_box=(round(x * sx), round(y * sy), round(w * sx), round(h * sy)),
    )


def principal_axis_asymmetry(binary: np.ndarray) -> tuple[float, float]:
    """Share of lesion pixels whose mirror image about each principal axis falls outside it."""
    binary = np.asarray(binary).astype(np.uint8)
    moments = cv2.moments(binary, binaryImage=True)
    if moments["m00"] == 0:
        raise ValueError("The mask is empty")
    cx, cy = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    theta = 0.5 * math.atan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"])
    cos, sin = math.cos(theta), math.sin(theta)
    ys, xs = np.nonzero(binary)
    # Coordinates along (u) and across (v) the major axis; mirror each pixel, map back exactly.
    u = (xs - cx) * cos + (ys - cy) * sin
    v = -(xs - cx) * sin + (ys - cy) * cos
    shares = []
    for mirrored_u, mirrored_v in ((u, -v), (-u, v)):
        mx = np.rint(cx + mirrored_u * cos - mirrored_v * sin).astype(int)
        my = np.rint(cy + mirrored_u * sin + mirrored_v * cos).astype(int)
        inside = (mx >= 0) & (my >= 0) & (mx < binary.shape[1]) & (my < binary.shape[0])
        hits = np.zeros(len(xs), dtype=bool)
        hits[inside] = binary[my[inside], mx[inside]] > 0
        shares.append(round(float(1 - hits.mean()), 4))
    return shares[0], shares[1]


def dermoscopic_colours(rgb: np.ndarray, binary: np.ndarray) -> tuple[str, ...]:
    """The ABCD-rule colours that at least ``COLOUR_MIN_SHARE`` of lesion pixels are nearest to."""
    scale = min(1.0, COLOUR_SAMPLE_SIDE / max(rgb.shape[:2]))
    if scale < 1.0:  # colour shares do not need every pixel of a large photo
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(binary, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    pixels = rgb[mask].astype(np.float32) / 255.0
    if not len(pixels):
        return ()
    references = np.array(list(DERMOSCOPIC_COLOURS.values()), dtype=np.float32)
    nearest = np.argmin(((pixels[:, None, :] - references[None, :, :]) ** 2).sum(axis=-1), axis=1)
    shares = np.bincount(nearest, minlength=len(references)) / len(pixels)
    return tuple(name for name, share in zip(DERMOSCOPIC_COLOURS, shares, strict=True) if share >= COLOUR_MIN_SHARE)
