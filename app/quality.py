"""The quality gate: does the photo look like the dermoscopy images the models learned from?

The classifier's pooled features of a training image sit close to one another; a photo of a
cat or a document does not. The distance used is a Mahalanobis distance in the leading
principal components of the training features plus the (normalised) residual outside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.errors import ModelLoadError


@dataclass(frozen=True)
class QualityGate:
    """Feature statistics of the training images and the distance above which a photo is out of distribution."""

    mean: np.ndarray
    #: Principal directions of the training features, each divided by its standard deviation.
    whitened_components: np.ndarray
    components: np.ndarray
    residual_scale: float
    threshold: float

    @classmethod
    def from_file(cls, path: Path, threshold: float) -> QualityGate:
        try:
            with np.load(path) as stored:
                return cls(
                    stored["mean"],
                    stored["whitened_components"],
                    stored["components"],
                    float(stored["residual_scale"]),
                    threshold,
                )
        except (OSError, KeyError, ValueError) as error:
            raise ModelLoadError(f"Quality-gate file {path} could not be read: {error}") from error

    @classmethod
    def fit(cls, features: np.ndarray, components: int) -> QualityGate:
        """Fit on training features (rows); the threshold is set separately."""
        if features.ndim != 2 or len(features) <= components:
            raise ValueError(f"Need more rows than components. Received shape {features.shape}")
        mean = features.mean(axis=0)
        _, singular, directions = np.linalg.svd(features - mean, full_matrices=False)
        kept = directions[:components]
        std = singular[:components] / np.sqrt(len(features) - 1)
        centred = features - mean
        residual = ((centred - centred @ kept.T @ kept) ** 2).sum(axis=1)
        return cls(mean, kept / std[:, None], kept, float(residual.mean()), np.inf)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            mean=self.mean.astype(np.float32),
            whitened_components=self.whitened_components.astype(np.float32),
            components=self.components.astype(np.float32),
            residual_scale=self.residual_scale,
        )

    def _residual_energy(self, features: np.ndarray) -> np.ndarray:
        centred = features - self.mean
        inside = centred @ self.components.T @ self.components
        return ((centred - inside) ** 2).sum(axis=1)

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Per row: mean squared whitened score in the subspace plus normalised residual energy."""
        whitened = (features - self.mean) @ self.whitened_components.T
        return (whitened**2).mean(axis=1) + self._residual_energy(features) / self.residual_scale

    def in_distribution(self, features: np.ndarray) -> np.ndarray:
        return self.distance(features) <= self.threshold


def quality_message(lesion_found: bool, in_distribution: bool | None) -> str:
    """Plain words for the quality verdict."""
    if in_distribution is False:
        return (
            "This photo does not look like the dermoscopy images the models were trained on, "
            "so no melanoma probability is given for it. Use a dermoscopy photo of one lesion."
        )
    if not lesion_found:
        return (
            "No lesion was found in this photo, so the melanoma probability does not describe a lesion. "
            "Use a dermoscopy photo centred on one lesion."
        )
    return "The photo looks like a dermoscopy image and a lesion was found."
