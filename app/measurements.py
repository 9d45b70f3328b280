"""Descriptive lesion measurements from a mask (not diagnostic criteria)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class LesionMeasurements:
    """Size and shape of the segmented lesion, in pixels of the full image."""

    found: bool
    area_px: int
    area_fraction: float
    diameter_px: float
    perimeter_px: float
    bounding_box: tuple[int, int, int, int] | None  # x, y, width, height

    def as_dict(self) -> dict:
        return asdict(self)


def measure_lesion(mask: np.ndarray) -> LesionMeasurements:
    """Measure the lesion in a 0/255 (or boolean) HxW mask.

    The diameter is the largest distance between two points of the lesion outline
    (maximum Feret diameter), found on its convex hull.
    """
    if mask.ndim != 2 or mask.size == 0:
        raise ValueError(f"Expected a non-empty HxW mask. Received shape {mask.shape}")
    binary = (mask > 127 if mask.dtype != bool else mask).astype(np.uint8)
    area = int(binary.sum())
    if area == 0:
        return LesionMeasurements(False, 0, 0.0, 0.0, 0.0, None)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    points = np.concatenate(contours).reshape(-1, 2)
    hull = cv2.convexHull(points).reshape(-1, 2).astype(np.float64)
    # Pixel centres span (n - 1); +1 counts the pixels' own extent, so one pixel measures 1.
    distances = np.sqrt(((hull[:, None, :] - hull[None, :, :]) ** 2).sum(axis=-1))
    diameter = float(distances.max()) + 1.0
    perimeter = float(sum(cv2.arcLength(contour, closed=True) for contour in contours))
    x, y, w, h = cv2.boundingRect(points)
    return LesionMeasurements(
        found=True,
        area_px=area,
        area_fraction=round(area / binary.size, 6),
        diameter_px=round(diameter, 1),
        perimeter_px=round(perimeter, 1),
        bounding_box=(int(x), int(y), int(w), int(h)),
    )
