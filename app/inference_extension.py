"""Register the predictor on the app: loaded once per process, at start-up."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from lesion.inference import Predictor

EXTENSION_KEY = "lesion_predictor"


def init_app(app: Flask) -> None:
    """Load the models named by ``MODELS_DIR`` (unless ``LOAD_MODELS`` is false)."""
    if app.config["LOAD_MODELS"]:
        app.extensions[EXTENSION_KEY] = Predictor.from_directory(Path(app.config["MODELS_DIR"]))


def get_predictor() -> Predictor | None:
    """The current app's predictor, or None while models are not loaded."""
    return current_app.extensions.get(EXTENSION_KEY)
