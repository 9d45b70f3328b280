"""Cheap start-up checks of the model files, without importing TensorFlow."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

from lesion.errors import ModelLoadError
from lesion.model_card import read_card
from lesion.quality import QualityGate

MODEL_NAMES = ("classifier", "segmenter")


def check_model_files(models_dir: str | Path) -> str | None:
    """Return a one-line problem description, or None when every model and card looks sound."""
    try:
        for name in model_names(Path(models_dir)):
            card = read_card(Path(models_dir) / f"{name}.json")
            path = Path(models_dir) / card.path
            if not path.is_file() and serving_only(Path(models_dir), card.raw):
                _check_extras(Path(models_dir), card.raw)
                continue
            if not path.is_file():
                raise ModelLoadError(f"Model file {path} does not exist")
            try:
                with zipfile.ZipFile(path) as archive:
                    json.loads(archive.read("config.json"))
                    if archive.testzip() is not None:
                        raise zipfile.BadZipFile("a member fails its CRC check")
            except (zipfile.BadZipFile, KeyError, ValueError, OSError) as error:
                raise ModelLoadError(f"Model file {path} is corrupt: {error}") from error
            _check_extras(Path(models_dir), card.raw)
            _check_runtime(Path(models_dir), card.raw, path)
    except ModelLoadError as error:
        return str(error)
    return None


def model_names(models_dir: Path) -> tuple[str, ...]:
    """Every model the service loads: classifier, segmenter and the members the classifier card names."""
    members = read_card(models_dir / "classifier.json").raw.get("members", [])
    return (*MODEL_NAMES, *(str(entry["name"]) for entry in members))


def serving_only(models_dir: Path, card: dict) -> bool:
    """Whether a model may run from its TFLite export alone: no TensorFlow here and the export is present.

    The LiteRT image (``Dockerfile``) copies the exports but not the ``.keras`` files they were
    made from, so their staleness cannot be checked there; it is checked where both exist.
    """
    export = card.get("tflite")
    has_export = bool(export) and (models_dir / export["file"]).is_file()
    return has_export and importlib.util.find_spec("tensorflow") is None


def _check_extras(models_dir: Path, card: dict) -> None:
    """The TFLite export and quality-gate file a card lists must exist and look right."""
    export = card.get("tflite")
    if export:
        path = models_dir / export["file"]
        if not path.is_file():
            raise ModelLoadError(f"TFLite file {path} does not exist")
        with path.open("rb") as handle:
            if handle.read(8)[4:8] != b"TFL3":
                raise ModelLoadError(f"TFLite file {path} is corrupt: no TFL3 identifier")
    gate = card.get("quality_gate")
    if gate:
        QualityGate.from_file(models_dir / gate["file"], float(gate["threshold"]))


def _check_runtime(models_dir: Path, card: dict, keras_path: Path) -> None:
    """Without TensorFlow (the LiteRT-only install), every model must have a current TFLite export."""
    if importlib.util.find_spec("tensorflow") is not None:
        return
    from lesion.runtimes import file_sha256

    export = card.get("tflite")
    if not export or export.get("keras_sha256") != file_sha256(keras_path):
        raise ModelLoadError(
            f"Model file {keras_path} has no current TFLite export and TensorFlow is not installed "
            "(install requirements.txt, or build the image with RUNTIME=keras)"
        )
