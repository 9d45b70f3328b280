from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest

from lesion.registration import MIN_INLIERS, Registration, normalise_for_matching, register
from tests.synthetic_pairs import CAMERAS, LESIONS, Camera, load, photograph

#: Points spread over the after photo, to compare a recovered transform with the truth.
GRID = np.float32([[x, y] for x in range(32, 256, 48) for y in range(32, 256, 48)])


def max_point_error(found: Registration, truth: np.ndarray, points: np.ndarray = GRID) -> float:
    """Largest distance (before-photo pixels) between where the found and the true transform put a point."""
    assert found.matrix is not None
    moved = cv2.transform(points[None], found.matrix)[0] - cv2.transform(points[None], truth)[0]
    return float(np.sqrt((moved**2).sum(axis=1)).max())


def truth_scale_rotation(truth: np.ndarray) -> tuple[float, float]:
    return math.hypot(truth[0, 0], truth[1, 0]), math.degrees(math.atan2(truth[1, 0], truth[0, 0]))


def angle_difference(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


@pytest.mark.parametrize("camera", CAMERAS, ids=str)
@pytest.mark.parametrize("name", LESIONS)
def test_a_moved_camera_is_recovered(name: str, camera: Camera) -> None:
    before, mask = load(name)
    after, after_mask, truth = photograph(before, mask, camera)
    found = register(before, after, mask, after_mask)
    scale, rotation = truth_scale_rotation(truth)
    assert found.same_lesion, found.reason
    assert found.inliers >= MIN_INLIERS
    assert found.scale == pytest.approx(scale, rel=0.01)
    assert angle_difference(found.rotation_deg, rotation) < 0.5
    assert max_point_error(found, truth) < 2.5
    assert 0.0 < found.confidence <= 1.0


@pytest.mark.parametrize("camera", CAMERAS[:2], ids=str)
def test_registers_without_masks(camera: Camera) -> None:
    before, mask = load("ISIC_0012143")
    after, _, truth = photograph(before, mask, camera)
    found = register(before, after)
    assert found.same_lesion, found.reason
    assert max_point_error(found, truth) < 2.5


@pytest.mark.parametrize("features", ["akaze", "sift", "orb"])
def test_each_kind_of_feature_registers(features: str) -> None:
    before, mask = load("ISIC_0012151")
    after, after_mask, truth = photograph(before, mask, Camera(45, 0.9, (6, -4)))
    found = register(before, after, mask, after_mask, features=features)
    assert found.same_lesion, found.reason
    assert found.method.startswith(features)
    assert max_point_error(found, truth) < 2.5


def test_transform_is_in_the_given_photos_pixels() -> None:
    """Photos larger than the working size, of different sizes: the transform maps their own pixels."""
    small, small_mask = load("ISIC_0012143")
    before = cv2.resize(small, (1600, 1600), interpolation=cv2.INTER_CUBIC)
    mask = cv2.resize(small_mask, (1600, 1600), interpolation=cv2.INTER_NEAREST)
    moved, moved_mask, truth = photograph(before, mask, Camera(60, 0.85, (40, -25), gain=1.2, jpeg_quality=80))
    after = cv2.resize(moved, (1200, 1200), interpolation=cv2.INTER_AREA)
    after_mask = cv2.resize(moved_mask, (1200, 1200), interpolation=cv2.INTER_NEAREST)
    truth = truth @ np.diag([1600 / 1200, 1600 / 1200, 1.0])  # after pixels -> moved pixels -> before
    found = register(before, after, mask, after_mask)
    assert found.same_lesion, found.reason
    assert found.scale == pytest.approx(truth_scale_rotation(truth)[0], rel=0.01)
    points = np.float32([[x, y] for x in range(150, 1200, 150) for y in range(150, 1200, 150)])
    assert max_point_error(found, truth, points) < 8  # 0.5% of 1600 px


@pytest.mark.parametrize("angle", [0, 45])
@pytest.mark.parametrize(("before_name", "after_name"), list(itertools.permutations(LESIONS, 2)))
def test_different_lesions_are_not_the_same(before_name: str, after_name: str, angle: float) -> None:
    before, before_mask = load(before_name)
    other, other_mask = load(after_name)
    after, after_mask, _ = photograph(other, other_mask, Camera(angle, 1.0))
    found = register(before, after, before_mask, after_mask)
    assert not found.same_lesion
    assert found.confidence == 0.0
    assert found.inliers < MIN_INLIERS


def test_a_blank_photo_is_not_the_same_lesion() -> None:
    before, mask = load("ISIC_0012099")
    found = register(before, np.full_like(before, 200), mask, None)
    assert not found.same_lesion
    assert found.transform is None and found.reason


def test_normalisation_removes_a_change_of_light() -> None:
    before, _ = load("ISIC_0001769")
    darker = (before.astype(np.float32) * 0.6).astype(np.uint8)
    raw = np.abs(cv2.cvtColor(before, cv2.COLOR_RGB2GRAY).astype(int) - cv2.cvtColor(darker, cv2.COLOR_RGB2GRAY))
    difference = np.abs(normalise_for_matching(before).astype(int) - normalise_for_matching(darker).astype(int))
    assert raw.mean() > 40
    assert difference.mean() < raw.mean() / 5  # what is left is quantisation, amplified by CLAHE


@pytest.mark.parametrize(
    ("before", "after", "features", "message"),
    [
        (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.uint8), "auto", "HxWx3 uint8"),
        (np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 3), np.uint8), "auto", "HxWx3 uint8"),
        (np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), "surf", "features must be"),
    ],
)
def test_bad_arguments_are_refused(before: np.ndarray, after: np.ndarray, features: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        register(before, after, features=features)


def test_summary_holds_the_reported_figures() -> None:
    before, mask = load("ISIC_0012151")
    after, after_mask, _ = photograph(before, mask, Camera(-20, 1.1))
    summary = register(before, after, mask, after_mask).summary()
    assert set(summary) == {"method", "inliers", "scale", "rotation_deg", "confidence"}
    assert summary["rotation_deg"] == pytest.approx(-20, abs=0.5)
