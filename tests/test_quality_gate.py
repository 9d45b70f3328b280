"""Fitting the quality gate: the threshold rule, the choice of settings, the fitted gate."""

from __future__ import annotations

import numpy as np
import pytest

from lesion.quality import DERMOSCOPY, IMAGE_FEATURES, NOT_SKIN, SKIN_PHOTO
from training.quality_gate import CV_REFUSAL, fit_gate, refusal_score, threshold_for


def test_the_threshold_refuses_at_most_the_allowed_share_of_each_source() -> None:
    scores = {"a": np.linspace(0, 1, 101), "b": np.linspace(0.5, 1, 101)}
    assert threshold_for(scores) == pytest.approx(CV_REFUSAL)  # source a binds: its 1% quantile
    assert threshold_for({"b": scores["b"]}) == pytest.approx(0.5 + 0.5 * CV_REFUSAL)


def test_the_choice_maximises_the_worse_refusal_then_the_mean() -> None:
    entries = [
        {"cv_clinical_photos_refused": 0.96, "cv_everyday_photos_refused": 0.90},
        {"cv_clinical_photos_refused": 0.95, "cv_everyday_photos_refused": 0.95},
        {"cv_clinical_photos_refused": 0.95, "cv_everyday_photos_refused": 0.97},
    ]
    assert max(range(3), key=lambda i: refusal_score(entries[i])) == 2
    assert refusal_score(entries[0]) == (0.90, pytest.approx(0.93))


def test_a_fitted_gate_separates_three_clusters() -> None:
    rng = np.random.default_rng(0)
    width = 4 + len(IMAGE_FEATURES)
    centres = np.zeros((3, width))
    centres[[0, 1, 2], [0, 1, 2]] = 4.0
    labels = np.repeat([0, 1, 2], [60, 20, 20])
    inputs = centres[labels] + rng.normal(0, 0.5, (len(labels), width))
    gate = fit_gate(inputs, labels, 1.0, not_skin=3.0)
    assert gate.image_features == IMAGE_FEATURES and gate.weights.shape == (3, width)
    assert gate.kinds(gate.probabilities(centres)) == [DERMOSCOPY, SKIN_PHOTO, NOT_SKIN]
