from __future__ import annotations

import numpy as np
import pytest

from lesion.postprocessing import flip_views, label_for, mask_from_probability, merge_views


def test_label_for_threshold_is_inclusive() -> None:
    assert label_for(0.3, 0.3) == "malignant"
    assert label_for(0.2999, 0.3) == "benign"
    with pytest.raises(ValueError, match="threshold"):
        label_for(0.5, 1.5)


@pytest.mark.parametrize("views", [1, 2, 3])
def test_flip_views_round_trip_for_spatial_outputs(views: int) -> None:
    batch = np.arange(2 * 4 * 5 * 1, dtype=np.float32).reshape(2, 4, 5, 1)
    stacked = flip_views(batch, views)
    assert stacked.shape == (2 * views, 4, 5, 1)
    np.testing.assert_array_equal(merge_views(stacked, views, spatial=True), batch)


def test_merge_views_averages_scalar_outputs() -> None:
    outputs = np.array([[0.2], [0.4], [0.6], [0.8]])
    np.testing.assert_allclose(merge_views(outputs, 2), [[0.4], [0.6]])


def test_mask_is_resized_to_full_size_and_binary() -> None:
    probability = np.zeros((8, 8), dtype=np.float32)
    probability[2:6, 2:6] = 0.9
    mask = mask_from_probability(probability, (40, 20))
    assert mask.shape == (20, 40) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    assert mask[10, 20] == 255 and mask[0, 0] == 0


def test_only_the_largest_component_is_kept_and_holes_filled() -> None:
    probability = np.zeros((20, 20), dtype=np.float32)
    probability[2:12, 2:12] = 1.0
    probability[6, 6] = 0.0  # a hole
    probability[16:18, 16:18] = 1.0  # a speck
    mask = mask_from_probability(probability, (20, 20))
    assert mask[6, 6] == 255 and mask[17, 17] == 0
    kept = mask_from_probability(probability, (20, 20), largest_component=False)
    assert kept[17, 17] == 255 and kept[6, 6] == 0


def test_empty_probability_gives_empty_mask() -> None:
    assert not mask_from_probability(np.full((4, 4), 0.1), (8, 8)).any()
