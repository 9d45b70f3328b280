"""Shared fixtures: the app with the real committed models, and images made in memory."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ISIC_FIXTURES = FIXTURES / "isic"
MODELS_DIR = ROOT / "models"


@pytest.fixture(scope="session")
def app():
    """The app as served, with the committed models loaded once for the whole session."""
    return create_app({"TESTING": True, "MODELS_DIR": str(MODELS_DIR)})


@contextmanager
def upload_limit(app, limit: int) -> Iterator[None]:
    """Lower the app's ``MAX_CONTENT_LENGTH`` for the block (the session app is shared)."""
    saved = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = limit
    try:
        yield
    finally:
        app.config["MAX_CONTENT_LENGTH"] = saved


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def lesion_path() -> Path:
    """A real ISIC validation image (a melanoma) with its ground-truth mask."""
    return ISIC_FIXTURES / "images" / "ISIC_0012099.jpg"


@pytest.fixture(scope="session")
def lesion_rgb(lesion_path: Path) -> np.ndarray:
    with Image.open(lesion_path) as image:
        return np.asarray(image.convert("RGB"))


def copy_models(tmp_path: Path) -> Path:
    """A models folder to break: copies of the cards, links to the committed model files."""
    target = tmp_path / "models"
    target.mkdir()
    for path in MODELS_DIR.glob("*.json"):
        shutil.copy(path, target)
    for pattern in ("*.keras", "*.tflite", "*.npz"):
        for path in MODELS_DIR.glob(pattern):
            target.joinpath(path.name).symlink_to(path)
    return target


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    """Encode a Pillow image to bytes in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def with_exif_orientation(image: Image.Image, orientation: int) -> bytes:
    """JPEG bytes of ``image`` stored so that EXIF ``orientation`` is needed to show it upright."""
    # Pillow's exif_transpose inverts these; store the inverse so the upright result is `image`.
    inverse = {
        1: None,
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = image if inverse is None else image.transpose(inverse)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())
