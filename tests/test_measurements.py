from __future__ import annotations

import cv2
import numpy as np
import pytest

from lesion.measurements import dermoscopic_colours, measure_lesion, principal_axis_asymmetry


def test_square_lesion() -> None:
    mask = np.zeros((100, 200), dtype=np.uint8)
    mask[10:50, 20:60] = 255  # 40 x 40
    result = measure_lesion(mask)
    assert result.found and result.area_px == 1600
    assert result.area_fraction == pytest.approx(1600 / 20000)
    assert result.diameter_px == pytest.approx(39 * np.sqrt(2) + 1, abs=0.1)
    assert result.bounding_box == (20, 10, 40, 40)
    assert result.asymmetry_mean == pytest.approx(0.0, abs=0.02)


def test_disc_is_symmetric_and_regular() -> None:
    mask = np.zeros((300, 300), dtype=np.uint8)
    cv2.circle(mask, (150, 150), 100, 255, thickness=-1)
    result = measure_lesion(mask, mm_per_px=0.05)
    assert result.diameter_px == pytest.approx(201, abs=1.5)
    assert result.diameter_mm == pytest.approx(201 * 0.05, abs=0.1)
    assert result.asymmetry_mean < 0.02
    # A pixel outline is a staircase: its length overestimates a circle's by about 5%.
    assert 1.0 <= result.border_irregularity <= 1.15


def test_rotated_ellipse_is_symmetric_about_its_own_axes() -> None:
    mask = np.zeros((400, 400), dtype=np.uint8)
    cv2.ellipse(mask, (200, 200), (150, 60), 33, 0, 360, 255, thickness=-1)
    assert max(principal_axis_asymmetry(mask > 0)) < 0.03


def test_half_disc_is_asymmetric_about_one_axis() -> None:
    mask = np.zeros((300, 300), dtype=np.uint8)
    cv2.ellipse(mask, (150, 150), (100, 100), 0, 0, 180, 255, thickness=-1)  # a half disc
    first, second = principal_axis_asymmetry(mask > 0)
    # The flat side makes the shape lopsided about the axis parallel to it.
    assert max(first, second) > 0.15 and min(first, second) < 0.03


def test_ragged_border_scores_higher_than_a_disc() -> None:
    angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    radii = 100 + 25 * (np.arange(64) % 2)
    star = np.stack([200 + radii * np.cos(angles), 200 + radii * np.sin(angles)], axis=1).astype(np.int32)
    mask = np.zeros((400, 400), dtype=np.uint8)
    cv2.fillPoly(mask, [star], 255)
    assert measure_lesion(mask).border_irregularity > 1.5


def test_colour_count_on_a_synthetic_lesion() -> None:
    rgb = np.full((100, 100, 3), 255, dtype=np.uint8)
    rgb[:, :50] = (51, 0, 0)  # dark brown
    rgb[:, 50:] = (0, 0, 0)  # black
    rgb[:4, :] = (204, 51, 51)  # red, 4% of the lesion: below the 5% cut
    assert dermoscopic_colours(rgb, np.ones((100, 100), dtype=np.uint8)) == ("dark brown", "black")


def test_empty_mask_reports_no_lesion() -> None:
    result = measure_lesion(np.zeros((10, 10), dtype=np.uint8))
    assert not result.found and result.area_fraction == 0.0 and result.bounding_box is None


def test_single_pixel() -> None:
    mask = np.zeros((5, 5), dtype=np.uint8)
    mask[2, 2] = 255
    assert measure_lesion(mask).diameter_px == pytest.approx(1.0)


def test_bad_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="mm_per_px"):
        measure_lesion(np.ones((4, 4), dtype=np.uint8) * 255, mm_per_px=-1.0)


def test_fast_measurement_of_a_large_mask_matches_the_full_one() -> None:
    from lesion.measurements import measure_lesion_fast

    mask = np.zeros((3000, 4000), dtype=np.uint8)
    cv2.ellipse(mask, (2000, 1500), (900, 600), 20, 0, 360, 255, thickness=-1)
    full, fast = measure_lesion(mask), measure_lesion_fast(mask)
    assert fast.area_px == full.area_px
    assert fast.diameter_px == pytest.approx(full.diameter_px, rel=0.01)
    assert fast.perimeter_px == pytest.approx(full.perimeter_px, rel=0.02)
    assert fast.asymmetry_mean == pytest.approx(full.asymmetry_mean, abs=0.01)
    assert fast.bounding_box == pytest.approx(full.bounding_box, abs=5)
