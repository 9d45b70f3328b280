"""The fast runtime (TFLite) agrees with the Keras models it was exported from."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from lesion.errors import ModelLoadError
from lesion.inference import Predictor, load_model
from lesion.preprocessing import decode_image
from tests.conftest import ISIC_FIXTURES, MODELS_DIR


@pytest.fixture(scope="module")
def decoded():
    return [decode_image(path) for path in sorted((ISIC_FIXTURES / "images").glob("*.jpg"))]


@pytest.fixture(scope="module")
def predictors():
    return Predictor.from_directory(MODELS_DIR, "keras"), Predictor.from_directory(MODELS_DIR, "tflite")


def test_committed_models_are_served_by_tflite() -> None:
    assert load_model(MODELS_DIR, "classifier").runtime == "tflite"
    assert load_model(MODELS_DIR, "segmenter").runtime == "tflite"


def test_tflite_matches_keras(predictors, decoded) -> None:
    from training.export_tflite import MAX_FLOAT16_PROBABILITY_GAP, MAX_PROBABILITY_GAP

    float16 = predictors[0].classifier.card.raw["tflite"].get("weights") == "float16"
    allowed = MAX_FLOAT16_PROBABILITY_GAP if float16 else MAX_PROBABILITY_GAP
    keras_results = predictors[0].analyze_batch(decoded)
    lite_results = predictors[1].analyze_batch(decoded)
    for ours, theirs in zip(keras_results, lite_results, strict=True):
        assert abs(ours.probability - theirs.probability) <= allowed
        a, b = ours.mask > 0, theirs.mask > 0
        assert (a & b).sum() / max((a | b).sum(), 1) >= 0.99


def test_stale_export_is_ignored(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models, ignore=shutil.ignore_patterns(".checkpoints"))
    card = json.loads((models / "classifier.json").read_text())
    card["tflite"]["keras_sha256"] = "0" * 64
    (models / "classifier.json").write_text(json.dumps(card))
    assert load_model(models, "classifier").runtime == "keras"
    with pytest.raises(ModelLoadError, match="not made from"):
        load_model(models, "classifier", "tflite")


def test_batched_and_single_predictions_agree(predictors, decoded) -> None:
    lite = predictors[1]
    together = [r.probability for r in lite.analyze_batch(decoded)]
    alone = [lite.analyze(image).probability for image in decoded]
    np.testing.assert_allclose(together, alone, atol=1e-6)


def test_worker_threads_are_a_default_the_environment_overrides(monkeypatch) -> None:
    from lesion.runtimes import THREADS_VARIABLE, WORKER_INFERENCE_THREADS, use_worker_threads

    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    use_worker_threads()
    assert os.environ[THREADS_VARIABLE] == str(WORKER_INFERENCE_THREADS) == "2"
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    use_worker_threads()
    assert os.environ[THREADS_VARIABLE] == "1"
