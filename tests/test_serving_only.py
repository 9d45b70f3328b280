"""A serving-only models folder (the LiteRT image): TFLite exports without their .keras sources."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lesion import inference, model_files
from lesion.inference import load_model
from lesion.model_files import check_model_files
from tests.conftest import copy_models


def _without_tensorflow(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        model_files.importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a)
    )


def test_exports_alone_serve_where_tensorflow_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = copy_models(tmp_path)
    for keras_file in models.glob("*.keras"):
        keras_file.unlink()
    _without_tensorflow(monkeypatch)
    assert check_model_files(models) is None
    assert load_model(models, "classifier").runtime == "tflite"
    assert inference.serving_only(models, {"tflite": {"file": "classifier.tflite"}})


def test_a_missing_keras_file_is_still_an_error_where_tensorflow_is_installed(tmp_path: Path) -> None:
    models = copy_models(tmp_path)
    (models / "classifier.keras").unlink()
    assert "does not exist" in (check_model_files(models) or "")


def test_without_tensorflow_a_missing_export_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = copy_models(tmp_path)
    (models / "classifier.keras").unlink()
    (models / "classifier.tflite").unlink()
    _without_tensorflow(monkeypatch)
    assert "does not exist" in (check_model_files(models) or "")
