"""Register a later photo of a lesion onto an earlier one: features on normalised skin, RANSAC similarity.

Two photos are taken to show the same skin (``same_lesion``) only when all of these hold:
at least ``MIN_INLIERS`` matched points agree on one similarity transform, they are at least
``MIN_INLIER_RATIO`` of the matches that passed the ratio test, the zoom between the photos
lies in ``SCALE_RANGE``, the agreeing points fit it within ``MAX_REPROJECTION_ERROR``, and
they spread over at least ``MIN_INLIER_SPREAD`` of the shared area (not one ruler or hair).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Photos are matched at this longest side at most; transforms are returned in full-size pixels.
WORK_SIDE = 1024
#: Small photos are enlarged to this longest side first, so a 256 px fixture still has features.
MIN_WORK_SIDE = 512
#: Keypoints detected per photo.
MAX_FEATURES = 4000
#: Lowe's ratio test: keep a match only when clearly better than the second best.
RATIO = 0.75
#: RANSAC inlier threshold, as a share of the working image's longest side (5 px at 1024).
RANSAC_THRESHOLD = 0.005

# The same-lesion decision: every criterion must hold.
#: At least this many matches agree on one similarity transform.
MIN_INLIERS = 15
#: At least this share of the ratio-test matches agree with it.
MIN_INLIER_RATIO = 0.25
#: The zoom between the photos is plausible for a lesion photographed again.
SCALE_RANGE = (0.5, 2.0)
#: Root-mean-square distance of the inliers from the fitted transform, share of the longest side.
MAX_REPROJECTION_ERROR = 0.0035
#: The inliers are spread over the skin, not bunched on one feature such as a ruler: the area
#: of their convex hull as a share of the overlap of the two photos.
MIN_INLIER_SPREAD = 0.04


@dataclass(frozen=True)
class Registration:
    """How the after photo maps onto the before photo, and whether they show the same skin.

    ``transform`` is the 2x3 similarity matrix taking (x, y) pixels of the after photo, as
    given, to pixels of the before photo (``None`` when no transform could be fitted);
    ``scale`` and ``rotation_deg`` are its zoom and angle: the after photo is enlarged by
    ``scale`` and turned ``rotation_deg`` clockwise on screen to fit (``scale`` 0.8: it was
    taken 1.25x closer; ``rotation_deg`` 30: its content appears turned 30° anticlockwise).
    ``reason`` says why ``same_lesion`` is what it is; ``confidence`` is 0 unless it is True.
    """

    method: str
    matches: int
    inliers: int
    inlier_ratio: float
    scale: float
    rotation_deg: float
    reprojection_error: float
    spread: float
    confidence: float
    transform: tuple[tuple[float, float, float], tuple[float, float, float]] | None
    same_lesion: bool
    reason: str

    @property
    def matrix(self) -> np.ndarray | None:
        """The transform as a float64 2x3 array (a copy)."""
        return None if self.transform is None else np.array(self.transform, dtype=np.float64)

    def summary(self) -> dict[str, object]:
        """The figures the API reports (``None`` for a zoom or angle that was never fitted)."""
        return {
            "method": self.method,
            "inliers": self.inliers,
            "scale": round(self.scale, 4) if math.isfinite(self.scale) else None,
            "rotation_deg": round(self.rotation_deg, 2) if math.isfinite(self.rotation_deg) else None,
            "confidence": round(self.confidence, 3),
        }


def normalise_for_matching(rgb: np.ndarray) -> np.ndarray:
    """A grey image that ignores lighting: grey-world white balance, standardised luminance, CLAHE."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"Expected an HxWx3 uint8 RGB image. Received shape {rgb.shape}, dtype {rgb.dtype}")
    pixels = rgb.astype(np.float32)
    means = pixels.reshape(-1, 3).mean(axis=0) + 1e-3
    balanced = np.clip(pixels * (means.mean() / means), 0, 255).astype(np.uint8)
    # A linear luminance, so that standardising it cancels any change of exposure exactly.
    luminance = cv2.cvtColor(balanced, cv2.COLOR_RGB2GRAY).astype(np.float32)
    std = float(luminance.std()) or 1.0
    standard = np.clip((luminance - float(luminance.mean())) * (48.0 / std) + 128.0, 0, 255).astype(np.uint8)
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(standard)


def working_scale(shape: tuple[int, ...]) -> float:
    """The factor that brings a photo's longest side into [MIN_WORK_SIDE, WORK_SIDE]."""
    side = max(shape[:2])
    if side > WORK_SIDE:
        return WORK_SIDE / side
    if side < MIN_WORK_SIDE:
        return MIN_WORK_SIDE / side
    return 1.0


def _prepare(rgb: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(normalised grey at working size, detection mask or None, working scale)."""
    scale = working_scale(rgb.shape)
    if scale != 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        rgb = cv2.resize(rgb, size, interpolation=interpolation)
    grey = normalise_for_matching(rgb)
    return grey, None if mask is None else _skin_mask(mask, grey.shape), scale


def _skin_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """255 where keypoints may be taken: outside the lesion grown by a margin (it may have changed)."""
    if mask.ndim != 2:
        raise ValueError(f"Expected an HxW lesion mask. Received shape {mask.shape}")
    lesion = cv2.resize((mask > 127).astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    margin = max(3, round(0.02 * max(shape)))
    grown = cv2.dilate(lesion, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1)))
    skin = np.where(grown > 0, 0, 255).astype(np.uint8)
    # A lesion filling the photo leaves too little skin to register on; match on everything.
    return skin if np.count_nonzero(skin) > 0.2 * skin.size else None


#: Feature detectors, tuned for skin's low texture (lower contrast thresholds than the defaults).
_DETECTORS = {
    "akaze": lambda: cv2.AKAZE_create(threshold=0.0005),
    "sift": lambda: cv2.SIFT_create(nfeatures=MAX_FEATURES, contrastThreshold=0.02),
    "orb": lambda: cv2.ORB_create(nfeatures=MAX_FEATURES),
}
FEATURES = tuple(_DETECTORS)


def _matches(name: str, before: tuple, after: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Matched point pairs (after, before) that pass the ratio test, as Nx2 float32 arrays."""
    (kp_b, des_b), (kp_a, des_a) = before, after
    if des_b is None or des_a is None or len(kp_b) < 2 or len(kp_a) < 2:
        return np.empty((0, 2), np.float32), np.empty((0, 2), np.float32)
    norm = cv2.NORM_L2 if name == "sift" else cv2.NORM_HAMMING
    pairs = cv2.BFMatcher(norm).knnMatch(des_a, des_b, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    # One match per before keypoint (the closest): many-to-one matches let a degenerate fit
    # (every point onto one) collect "inliers".
    good = list({m.trainIdx: m for m in sorted(good, key=lambda m: -m.distance)}.values())
    src = np.float32([kp_a[m.queryIdx].pt for m in good]).reshape(-1, 2)
    dst = np.float32([kp_b[m.trainIdx].pt for m in good]).reshape(-1, 2)
    return src, dst


def _full_size(matrix: np.ndarray, before_scale: float, after_scale: float) -> np.ndarray:
    """Turn a working-size transform into one between the photos' own pixels."""
    to_work = np.diag([after_scale, after_scale, 1.0])
    from_work = np.diag([1 / before_scale, 1 / before_scale, 1.0])
    return (from_work @ np.vstack([matrix, [0, 0, 1]]) @ to_work)[:2]


def _spread(points: np.ndarray, shapes: tuple[tuple[int, ...], tuple[int, ...]], matrix: np.ndarray) -> float:
    """Convex-hull area of the inliers as a share of the area both photos cover (before frame)."""
    if len(points) < 3:
        return 0.0
    hull_area = cv2.contourArea(cv2.convexHull(points.astype(np.float32)))
    warped = cv2.transform(frame_corners(shapes[1])[None], matrix)[0]
    frame = frame_corners(shapes[0])
    overlap, _ = cv2.intersectConvexConvex(frame, warped)
    return float(hull_area / overlap) if overlap > 0 else 0.0


def frame_corners(shape: tuple[int, ...]) -> np.ndarray:
    """The four corners (x, y) of an image of ``shape``, clockwise from the top left, as float32."""
    height, width = shape[:2]
    return np.float32([[0, 0], [width, 0], [width, height], [0, height]])


def _decide(inliers: int, ratio: float, scale: float, error: float, spread: float) -> tuple[bool, str]:
    """Apply the same-lesion criteria; the reason names the first that fails."""
    if inliers < MIN_INLIERS:
        return False, f"only {inliers} matching points agree (at least {MIN_INLIERS} needed)"
    if ratio < MIN_INLIER_RATIO:
        return False, f"only {ratio:.0%} of matching points agree (at least {MIN_INLIER_RATIO:.0%} needed)"
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        return False, f"the photos would differ in zoom by {scale:.2f}x (outside {SCALE_RANGE[0]}-{SCALE_RANGE[1]}x)"
    if error > MAX_REPROJECTION_ERROR:
        return False, f"the matching points fit the transform loosely ({error:.4f} of the photo size)"
    if spread < MIN_INLIER_SPREAD:
        return False, f"the matching points cover only {spread:.1%} of the shared skin"
    return True, "the surrounding skin matches"


def _confidence(inliers: int, ratio: float, error: float, spread: float) -> float:
    """A 0-1 score that grows with inliers, inlier share and spread, and falls with the fit error."""
    parts = (
        min(1.0, inliers / (4 * MIN_INLIERS)),
        min(1.0, ratio / (2 * MIN_INLIER_RATIO)),
        min(1.0, spread / (4 * MIN_INLIER_SPREAD)),
        max(0.0, 1.0 - error / (2 * MAX_REPROJECTION_ERROR)),
    )
    return round(float(np.prod(parts) ** (1 / len(parts))), 4)


def _failed(method: str, matches: int, reason: str) -> Registration:
    return Registration(method, matches, 0, 0.0, math.nan, math.nan, math.nan, 0.0, 0.0, None, False, reason)


def register(
    before_rgb: np.ndarray,
    after_rgb: np.ndarray,
    before_mask: np.ndarray | None = None,
    after_mask: np.ndarray | None = None,
    features: str = "auto",
) -> Registration:
    """Find the similarity transform that maps the after photo onto the before photo.

    Args:
        before_rgb, after_rgb: HxWx3 uint8 RGB photos of any size (they need not match).
        before_mask, after_mask: optional lesion masks (0/255, each the size of its photo);
            keypoints are then taken on the skin around the lesion only, since the lesion
            itself may have changed.
        features: ``"akaze"``, ``"sift"``, ``"orb"``, or ``"auto"``: AKAZE (fast, and the
            most matches on smooth skin in our tests), then SIFT when AKAZE finds no match.

    The photos are matched at a working size of at most ``WORK_SIDE`` pixels, after colour
    normalisation; the similarity (rotation, uniform zoom, shift) is fitted by RANSAC. A
    similarity rather than a homography: four degrees of freedom leave chance matches less
    room to fit, and a lesion's outline should not be sheared by a bad fit.
    """
    if features not in ("auto", *FEATURES):
        raise ValueError(f"features must be 'auto' or one of {FEATURES}. Received features={features!r}")
    for rgb in (before_rgb, after_rgb):
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 16:
            raise ValueError(f"Expected HxWx3 uint8 RGB photos of 16 px or more. Received {rgb.shape}, {rgb.dtype}")
    prepared_b, prepared_a = _prepare(before_rgb, before_mask), _prepare(after_rgb, after_mask)
    shapes = (before_rgb.shape, after_rgb.shape)
    if features != "auto":
        return _register_with(features, prepared_b, prepared_a, shapes)
    first = _register_with("akaze", prepared_b, prepared_a, shapes)
    if first.same_lesion:
        return first
    second = _register_with("sift", prepared_b, prepared_a, shapes)
    return second if second.same_lesion or second.inliers > first.inliers else first


def _register_with(
    features: str,
    prepared_b: tuple[np.ndarray, np.ndarray | None, float],
    prepared_a: tuple[np.ndarray, np.ndarray | None, float],
    shapes: tuple[tuple[int, ...], tuple[int, ...]],
) -> Registration:
    """Match, fit and judge with one kind of feature."""
    (grey_b, skin_b, scale_b), (grey_a, skin_a, scale_a) = prepared_b, prepared_a
    detector = _DETECTORS[features]()
    method = f"{features}+ransac-similarity"
    points_a, points_b = _matches(
        features, detector.detectAndCompute(grey_b, skin_b), detector.detectAndCompute(grey_a, skin_a)
    )
    if len(points_a) < 3:
        return _failed(method, len(points_a), f"only {len(points_a)} matching points found")
    side = max(grey_b.shape)
    matrix, inlier_flags = cv2.estimateAffinePartial2D(
        points_a,
        points_b,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_THRESHOLD * side,
        maxIters=5000,
        confidence=0.999,
        refineIters=20,
    )
    if matrix is None:
        return _failed(method, len(points_a), "no transform fits the matching points")
    flags = inlier_flags.ravel().astype(bool)
    inliers = int(flags.sum())
    residuals = cv2.transform(points_a[flags][None], matrix)[0] - points_b[flags]
    error = float(np.sqrt((residuals**2).sum(axis=1).mean())) / side if inliers else math.inf
    full = _full_size(matrix, scale_b, scale_a)
    scale = float(math.hypot(full[0, 0], full[1, 0]))
    rotation = float(math.degrees(math.atan2(full[1, 0], full[0, 0])))
    spread = _spread(points_b[flags] / scale_b, shapes, full)
    ratio = inliers / len(points_a)
    same, reason = _decide(inliers, ratio, scale, error, spread)
    return Registration(
        method=method,
        matches=len(points_a),
        inliers=inliers,
        inlier_ratio=round(ratio, 4),
        scale=scale,
        rotation_deg=rotation,
        reprojection_error=round(error, 6),
        spread=round(spread, 4),
        confidence=_confidence(inliers, ratio, error, spread) if same else 0.0,
        transform=(tuple(map(float, full[0])), tuple(map(float, full[1]))),
        same_lesion=same,
        reason=reason,
    )
