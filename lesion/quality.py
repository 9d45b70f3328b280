"""The quality gate: is the photo dermoscopy, a regular photo of skin, or not a skin photo?

A multinomial logistic regression on the classifier's frozen ImageNet features (pooled
MobileNetV2 activations that fine-tuning never touched, computed in the same forward pass as
the melanoma probability). It was fitted on dermoscopy (ISIC 2017, HAM10000) against everyday
photos (``training/quality_gate.py``). A photo is called dermoscopy when that class's
probability reaches the card's threshold; otherwise it gets the likelier of the other two kinds.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lesion.errors import ModelLoadError

DERMOSCOPY = "dermoscopy"
SKIN_PHOTO = "skin_photo"
NOT_SKIN = "not_skin"
#: The gate's classes, in the order of its weights' rows.
KINDS = (DERMOSCOPY, SKIN_PHOTO, NOT_SKIN)


@dataclass(frozen=True)
class QualityGate:
    """Linear weights over the features (standardisation folded in) and the dermoscopy threshold."""

    #: (len(KINDS), features) weights and (len(KINDS),) biases of the softmax.
    weights: np.ndarray
    biases: np.ndarray
    threshold: float

    @classmethod
    def from_file(cls, path: Path, threshold: float) -> QualityGate:
        try:
            with np.load(path) as stored:
                gate = cls(stored["weights"], stored["biases"], threshold)
                kinds = tuple(str(k) for k in stored["kinds"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise ModelLoadError(f"Quality-gate file {path} could not be read: {error}") from error
        if kinds != KINDS or gate.weights.shape[0] != len(KINDS) or gate.biases.shape != (len(KINDS),):
            raise ModelLoadError(f"Quality-gate file {path} has kinds {kinds}, expected {KINDS}")
        return gate

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path, weights=self.weights.astype(np.float32), biases=self.biases.astype(np.float32), kinds=np.array(KINDS)
        )

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
            "This looks like a regular photo of skin, not a dermoscopy image, so no melanoma probability is given: "
            "the models only learned from photos taken through a dermoscope. Ask a dermatologist to examine the lesion."
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
