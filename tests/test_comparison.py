from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from lesion.comparison import (
    AFTER_RGB,
    BEFORE_RGB,
    Comparison,
    compare_lesions,
    comparison_overlay,
    days_between,
    warp_after_mask,
)
from lesion.registration import Registration, register
from tests.synthetic_pairs import CAMERAS, LESIONS, Camera, area, grow, load, photograph

#: What a registration of a photo onto itself, unmoved, looks like.
IDENTITY = Registration("test", 50, 50, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, ((1, 0, 0), (0, 1, 0)), True, "test")


def compared(before: np.ndarray, mask: np.ndarray, after: np.ndarray, after_mask: np.ndarray, **kwargs) -> Comparison:
    return compare_lesions(before, mask, after, after_mask, register(before, after, mask, after_mask), **kwargs)


@pytest.mark.parametrize("camera", CAMERAS, ids=str)
@pytest.mark.parametrize("name", LESIONS)
def test_an_unchanged_lesion_measures_the_same(name: str, camera: Camera) -> None:
    before, mask = load(name)
    after, after_mask, _ = photograph(before, mask, camera)
    result = compared(before, mask, after, after_mask)
    change = result.change
    assert change is not None
    assert 0.85 <= change.area_ratio <= 1.18
    if area(after_mask[1:-1, 1:-1]) < area(after_mask):  # the zoom cut the lesion: say so
        assert "touches the edge of the after photo" in result.message
    else:
        assert change.diameter_ratio == pytest.approx(1.0, abs=0.05)
    assert abs(change.asymmetry_delta) < 0.03
    # The skin is brought to the first photo's light before colours are counted again.
    assert change.colours_added == () and change.colours_lost == ()


@pytest.mark.parametrize("camera", CAMERAS[:3], ids=str)
@pytest.mark.parametrize("factor", [1.15, 1.3])
@pytest.mark.parametrize("name", LESIONS)
def test_a_grown_lesion_measures_its_growth(name: str, factor: float, camera: Camera) -> None:
    before, mask = load(name)
    grown, grown_mask = grow(before, mask, factor)
    truth = area(grown_mask) / area(mask)
    after, after_mask, _ = photograph(grown, grown_mask, camera)
    change = compared(before, mask, after, after_mask).change
    assert change is not None
    assert change.area_ratio == pytest.approx(truth, rel=0.20)
    assert change.diameter_ratio > 1.05


def test_different_lesions_get_no_change() -> None:
    before, mask = load("ISIC_0012151")
    after, after_mask = load("ISIC_0012143")
    result = compared(before, mask, after, after_mask)
    assert result.change is None
    assert result.message.startswith("The photos do not show the same skin")


def test_outlines_that_do_not_overlap_get_no_change() -> None:
    before, _ = load("ISIC_0012099")
    mask, elsewhere = np.zeros(before.shape[:2], np.uint8), np.zeros(before.shape[:2], np.uint8)
    mask[20:60, 20:60] = 255
    elsewhere[180:230, 180:230] = 255
    result = compare_lesions(before, mask, before, elsewhere, IDENTITY)
    assert result.change is None and result.overlap == 0.0
    assert "different lesions" in result.message


@pytest.mark.parametrize("which", ["before", "after"])
def test_a_photo_without_a_lesion_gets_no_change(which: str) -> None:
    before, mask = load("ISIC_0001769")
    empty = np.zeros_like(mask)
    masks = (empty, mask) if which == "before" else (mask, empty)
    result = compare_lesions(before, masks[0], before, masks[1], IDENTITY)
    assert result.change is None
    assert result.message == f"No lesion was found in the {which} photo."


def test_new_blue_grey_is_a_colour_added() -> None:
    before, mask = load("ISIC_0012151")
    grown, grown_mask = grow(before, mask, 1.2)
    ring = (grown_mask > 127) & (mask <= 127)
    grown[ring] = (51, 153, 153)  # the ABCD rule's blue-grey reference
    change = compare_lesions(before, mask, grown, grown_mask, IDENTITY).change
    assert change is not None
    assert change.colours_added == ("blue-gray",)
    assert change.area_ratio == pytest.approx(area(grown_mask) / area(mask), rel=0.01)


def test_probabilities_and_days_are_carried() -> None:
    before, mask = load("ISIC_0012143")
    days = days_between(date(2026, 1, 1), date(2026, 7, 2))
    change = compare_lesions(before, mask, before, mask, IDENTITY, probabilities=(0.25, 0.37), days=days).change
    assert change is not None
    assert change.days == 182
    assert change.malignant_probability_delta == pytest.approx(0.12)
    assert change.area_ratio == 1.0 and change.border_irregularity_delta == 0.0
    one_unknown = compare_lesions(before, mask, before, mask, IDENTITY, probabilities=(None, 0.37)).change
    assert one_unknown is not None and one_unknown.malignant_probability_delta is None


@pytest.mark.parametrize(
    ("before", "after", "days"),
    [
        (date(2026, 1, 1), date(2026, 1, 31), 30),
        (date(2025, 3, 1), date(2024, 3, 1), -365),
        (None, date(2026, 1, 1), None),
    ],
)
def test_days_between(before: date | None, after: date | None, days: int | None) -> None:
    assert days_between(before, after) == days


def test_warp_moves_the_mask_by_the_transform() -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[1:3, 1:3] = 255
    shifted = Registration("test", 9, 9, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, ((1, 0, 3), (0, 1, 2)), True, "test")
    expected = np.zeros((8, 8), np.uint8)
    expected[3:5, 4:6] = 255
    np.testing.assert_array_equal(warp_after_mask(mask, shifted, (8, 8), 1.0), expected)
    half = warp_after_mask(mask, shifted, (8, 8), 0.5)
    assert half.shape == (4, 4)


def test_a_lesion_at_the_edge_is_flagged() -> None:
    before, _ = load("ISIC_0012099")
    mask = np.zeros(before.shape[:2], np.uint8)
    mask[0:40, 100:140] = 255
    result = compare_lesions(before, mask, before, mask, IDENTITY)
    assert result.change is not None
    assert "touches the edge of the before and after photos" in result.message


def test_overlay_draws_both_outlines_on_the_before_photo() -> None:
    before, mask = load("ISIC_0012151")
    grown, grown_mask = grow(before, mask, 1.25)
    after, after_mask, _ = photograph(grown, grown_mask, Camera(30, 0.9))
    image = comparison_overlay(before, compared(before, mask, after, after_mask), max_side=200)
    assert image.shape == (200, 200, 3) and image.dtype == np.uint8
    for colour in (BEFORE_RGB, AFTER_RGB):
        assert np.count_nonzero(np.all(image == colour, axis=-1)) > 50, colour


def test_a_tiny_asymmetry_decrease_reads_as_zero_points_not_minus_zero() -> None:
    from lesion.change import change_rows
    from lesion.comparison import LesionChange

    def asymmetry(delta: float) -> str:
        rows = change_rows(LesionChange(1.0, 1.0, delta, 0.0, (), (), None, None))
        return next(value for name, value, _ in rows if name == "Asymmetry")

    assert asymmetry(-0.003) == "+0 points"
    assert asymmetry(-0.02) == "-2 points"
