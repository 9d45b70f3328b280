from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.measurements import measure_lesion


def test_square_lesion() -> None:
    mask = np.zeros((100, 200), dtype=np.uint8)
    mask[10:50, 20:60] = 255  # 40 x 40
    result = measure_lesion(mask)
    assert result.found and result.area_px == 1600
    assert result.area_fraction == pytest.approx(1600 / 20000)
    assert result.diameter_px == pytest.approx(39 * np.sqrt(2) + 1, abs=0.1)
    assert result.bounding_box == (20, 10, 40, 40)


def test_disc_diameter() -> None:
    mask = np.zeros((300, 300), dtype=np.uint8)
    cv2.circle(mask, (150, 150), 100, 255, thickness=-1)
    assert measure_lesion(mask).diameter_px == pytest.approx(201, abs=1.5)


def test_empty_mask_reports_no_lesion() -> None:
    result = measure_lesion(np.zeros((10, 10), dtype=np.uint8))
    assert not result.found and result.area_fraction == 0.0 and result.bounding_box is None


def test_single_pixel() -> None:
    mask = np.zeros((5, 5), dtype=np.uint8)
    mask[2, 2] = 255
    assert measure_lesion(mask).diameter_px == pytest.approx(1.0)
