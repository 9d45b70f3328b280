"""Before/after pairs made from the real ISIC fixtures: a known camera move, a lesion grown by a known amount."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ISIC = Path(__file__).resolve().parent / "fixtures" / "isic"
LESIONS = ("ISIC_0001769", "ISIC_0012099", "ISIC_0012143", "ISIC_0012151")


@dataclass(frozen=True)
class Camera:
    """A second photo of the same skin: turned, zoomed, shifted, relit and saved again as JPEG."""

    angle_deg: float
    zoom: float
    shift: tuple[float, float] = (0.0, 0.0)
    gain: float = 1.0
    jpeg_quality: int | None = None

    def __str__(self) -> str:
        return f"rot{self.angle_deg:g}-zoom{self.zoom:g}-gain{self.gain:g}-q{self.jpeg_quality}"


#: Every angle quadrant, the zoom range's ends, shifts, darker and brighter light, JPEG again.
CAMERAS = (
    Camera(30, 1.0, (10, 5)),
    Camera(-135, 0.8, (0, 0), gain=0.7, jpeg_quality=70),
    Camera(90, 1.3, (-8, 12), gain=1.3, jpeg_quality=60),
    Camera(200, 0.7, (5, 5), jpeg_quality=80),
    Camera(10, 1.4, gain=0.8, jpeg_quality=75),
)


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB photo, 0/255 ground-truth mask) of one fixture lesion."""
    bgr = cv2.imread(str(ISIC / "images" / f"{name}.jpg"))
    mask = cv2.imread(str(ISIC / "masks" / f"{name}_segmentation.png"), cv2.IMREAD_GRAYSCALE)
    if bgr is None or mask is None:
        raise FileNotFoundError(f"Fixture {name} is missing from {ISIC}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.where(mask > 127, 255, 0).astype(np.uint8)


def photograph(rgb: np.ndarray, mask: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(after photo, its mask, the true 2x3 transform from after pixels to before pixels)."""
    height, width = mask.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), camera.angle_deg, camera.zoom)
    matrix[:, 2] += camera.shift
    # Reflected borders stand in for the skin beyond the first photo's edge.
    after = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    after = np.clip(after.astype(np.float32) * camera.gain, 0, 255).astype(np.uint8)
    if camera.jpeg_quality is not None:
        ok, data = cv2.imencode(".jpg", after, [cv2.IMWRITE_JPEG_QUALITY, camera.jpeg_quality])
        assert ok
        after = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    after_mask = cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_NEAREST)
    return after, after_mask, cv2.invertAffineTransform(matrix)


def grow(rgb: np.ndarray, mask: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """The lesion enlarged ``factor`` times about its centre over unchanged skin; (photo, mask)."""
    moments = cv2.moments(mask, binaryImage=True)
    centre = (moments["m10"] / moments["m00"], moments["m01"] / moments["m00"])
    height, width = mask.shape
    matrix = cv2.getRotationMatrix2D(centre, 0, factor)
    larger = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    grown = np.maximum(cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_NEAREST), mask)
    alpha = cv2.GaussianBlur(grown.astype(np.float32) / 255, (0, 0), 1.5)[..., None]
    return (rgb * (1 - alpha) + larger * alpha).astype(np.uint8), grown


def area(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask > 127))


def jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    """JPEG bytes of an RGB photo, as a phone would upload it."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def grown_pair(name: str, factor: float, camera: Camera) -> tuple[bytes, bytes, float]:
    """(before JPEG, after JPEG, true area ratio): the lesion grown by ``factor``, then photographed by ``camera``."""
    before, mask = load(name)
    grown, grown_mask = grow(before, mask, factor) if factor != 1 else (before, mask)
    after, _, _ = photograph(grown, grown_mask, camera)
    return jpeg(before), jpeg(after), area(grown_mask) / area(mask)
