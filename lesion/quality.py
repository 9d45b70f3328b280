"""The quality gate: is the photo dermoscopy, a regular photo of skin, or not a skin photo?

A multinomial logistic regression on the classifier's frozen ImageNet features (pooled
MobileNetV2 activations that fine-tuning never touched, computed in the same forward pass as
the melanoma probability) and on a few cheap measurements of the model-sized photo that tell a
dermoscope from a phone camera (``image_features``: the dark circular vignette or black field
border, flat polarised light, glare, saturation, sharpness). It was fitted on dermoscopy (ISIC
2017, HAM10000, ISIC 2020, the ISIC archive) against smartphone photos of skin lesions
(PAD-UFES-20) and everyday photos (``training/quality_gate.py``). A photo is called dermoscopy
when that class's probability reaches the card's threshold; otherwise it gets the likelier of
the other two kinds.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lesion.errors import ModelLoadError

DERMOSCOPY = "dermoscopy"
SKIN_PHOTO = "skin_photo"
NOT_SKIN = "not_skin"
#: The gate's classes, in the order of its weights' rows.
KINDS = (DERMOSCOPY, SKIN_PHOTO, NOT_SKIN)
#: Version of the gate file: 2 adds ``image_features`` (the names of the measurements after the frozen features).
GATE_FORMAT = 2
#: The measurements ``image_features`` returns, in order (the last columns of the gate's input).
IMAGE_FEATURES = (
    "corner_luminance", "centre_luminance", "corner_to_centre", "dark_corner_share", "corner_spread",
    "dark_border_share", "ring_to_centre", "light_gradient", "glare_share", "saturation_mean", "saturation_spread",
    "sharpness", "centre_sharpness",
)  # fmt: skip


def image_features(rgb: np.ndarray) -> np.ndarray:
    """The ``IMAGE_FEATURES`` of one model-sized RGB photo (HxWx3, values 0-255), as float32."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"Expected an HxWx3 RGB image. Received shape {rgb.shape}")
    pixels = np.clip(rgb, 0, 255).astype(np.uint8)
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    saturation = cv2.cvtColor(pixels, cv2.COLOR_RGB2HSV)[..., 1].astype(np.float32) / 255
    height, width = grey.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # radius 1 is the inscribed circle; the corners lie beyond it, where a dermoscope's vignette is
    radius = np.hypot((yy + 0.5) / height * 2 - 1, (xx + 0.5) / width * 2 - 1)
    corners, centre, ring = radius > 1.05, radius < 0.5, (radius > 0.8) & (radius < 0.95)
    border = np.zeros_like(corners)
    edge = max(2, min(height, width) // 32)
    border[:edge], border[-edge:], border[:, :edge], border[:, -edge:] = True, True, True, True
    quarter_means = [grey[rows, cols][corners[rows, cols]].mean() for rows, cols in _quadrants(height, width)]
    corner, middle = float(grey[corners].mean()), float(grey[centre].mean())
    light = cv2.GaussianBlur(grey, (0, 0), min(height, width) / 8)[centre]
    laplacian = cv2.Laplacian(grey, cv2.CV_32F)
    values = (
        corner,
        middle,
        np.log((corner + 0.02) / (middle + 0.02)),
        float(np.mean(grey[corners] < 0.12)),
        float(np.std(quarter_means)),
        float(np.mean(grey[border] < 0.12)),
        np.log((float(grey[ring].mean()) + 0.02) / (middle + 0.02)),
        float(light.std() / (light.mean() + 0.02)),
        float(np.mean((grey > 0.94) & (saturation < 0.15))),
        float(saturation.mean()),
        float(saturation.std()),
        np.log1p(1000 * float(laplacian.var())),
        np.log1p(1000 * float(laplacian[centre].var())),
    )
    return np.array(values, np.float32)


def _quadrants(height: int, width: int) -> list[tuple[slice, slice]]:
    top, left = slice(0, height // 2), slice(0, width // 2)
    bottom, right = slice(height // 2, height), slice(width // 2, width)
    return [(top, left), (top, right), (bottom, left), (bottom, right)]


@dataclass(frozen=True)
class QualityGate:
    """Linear weights over the gate's input (standardisation folded in) and the dermoscopy threshold.

    The input is the classifier's frozen features followed by ``image_features`` of the same
    model-sized photo when ``image_features`` names them (``inputs`` builds it).
    """

    #: (len(KINDS), inputs) weights and (len(KINDS),) biases of the softmax.
    weights: np.ndarray
    biases: np.ndarray
    threshold: float
    #: The measurements after the frozen features: ``IMAGE_FEATURES``, or none (a format-1 gate).
    image_features: tuple[str, ...] = ()

    @classmethod
    def from_file(cls, path: Path, threshold: float) -> QualityGate:
        try:
            with np.load(path) as stored:
                version = int(stored["format"]) if "format" in stored.files else 1
                names = tuple(str(n) for n in stored["image_features"]) if "image_features" in stored.files else ()
                gate = cls(stored["weights"], stored["biases"], threshold, names)
                kinds = tuple(str(k) for k in stored["kinds"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise ModelLoadError(f"Quality-gate file {path} could not be read: {error}") from error
        if kinds != KINDS or gate.weights.shape[0] != len(KINDS) or gate.biases.shape != (len(KINDS),):
            raise ModelLoadError(f"Quality-gate file {path} has kinds {kinds}, expected {KINDS}")
        if version > GATE_FORMAT:
            raise ModelLoadError(f"Quality-gate file {path} has format {version}; this code reads up to {GATE_FORMAT}")
        if names and names != IMAGE_FEATURES:
            raise ModelLoadError(f"Quality-gate file {path} expects image features {names}, not {IMAGE_FEATURES}")
        if gate.weights.shape[1] <= len(names):
            raise ModelLoadError(f"Quality-gate file {path} has {gate.weights.shape[1]} weights per kind, too few")
        return gate

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float32),
            biases=self.biases.astype(np.float32),
            kinds=np.array(KINDS),
            format=np.array(GATE_FORMAT),
            image_features=np.array(self.image_features, dtype=str),
        )

    @property
    def feature_width(self) -> int:
        """How many frozen features the gate expects before its image features."""
        return int(self.weights.shape[1]) - len(self.image_features)

    def inputs(self, features: np.ndarray, images: np.ndarray) -> np.ndarray:
        """The gate's input rows: frozen ``features`` (n, width) and, if it uses them, the model-sized ``images``."""
        if not self.image_features:
            return features
        if len(images) != len(features):
            raise ValueError(f"Expected one image per feature row. Received {len(images)} and {len(features)}")
        return np.hstack([features, np.stack([image_features(image) for image in images])])

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Per row, the probability of each kind (softmax of the linear scores)."""
        if features.ndim != 2 or features.shape[1] != self.weights.shape[1]:
            raise ValueError(f"Expected (n, {self.weights.shape[1]}) features. Received shape {features.shape}")
        scores = features.astype(np.float64) @ self.weights.T.astype(np.float64) + self.biases
        scores -= scores.max(axis=1, keepdims=True)
        exponentials = np.exp(scores)
        return exponentials / exponentials.sum(axis=1, keepdims=True)

    def kinds(self, probabilities: np.ndarray) -> list[str]:
        """Dermoscopy when its probability reaches the threshold, else the likelier refusal."""
        refusals = np.where(probabilities[:, 1] >= probabilities[:, 2], SKIN_PHOTO, NOT_SKIN)
        verdicts = zip(probabilities[:, 0], refusals, strict=True)
        return [DERMOSCOPY if p >= self.threshold else str(r) for p, r in verdicts]


def quality_message(lesion_found: bool, kind: str | None) -> str:
    """Plain words for the quality verdict."""
    if kind == SKIN_PHOTO:
        return (
            "This looks like a regular photo, not a dermoscopy image. The models here were validated on dermoscopy "
            "images only, so no melanoma probability, label or risk band is given for it. If you are worried about "
            "this lesion, see a dermatologist. For an analysis here, use a photo taken through a dermatoscope "
            "(a clip-on phone dermatoscope works)."
        )
    if kind == NOT_SKIN:
        return (
            "This does not look like a photo of skin, so no melanoma probability is given. "
            "Use a dermoscopy photo of one lesion."
        )
    if not lesion_found:
        return (
            "No lesion was found in this photo, so the melanoma probability does not describe a lesion. "
            "Use a dermoscopy photo centred on one lesion."
        )
    return "The photo looks like a dermoscopy image and a lesion was found."
