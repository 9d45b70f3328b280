"""The shared inference path: load the models once, analyse decoded images.

Used by the batch CLI, the web app and ``training.evaluate``; preprocessing comes from
``app.preprocessing`` and post-processing from ``app.postprocessing``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from app.errors import ModelLoadError
from app.model_card import ModelCard, read_card
from app.postprocessing import flip_views, label_for, mask_from_probability, merge_views
from app.preprocessing import DecodedImage, resize_for_model

Forward = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Analysis:
    """What the models say about one image."""

    probability: float
    label: str
    threshold: float
    #: HxW uint8 lesion mask, 0 or 255, at the full (oriented) image size.
    mask: np.ndarray
    timing_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedModel:
    """A Keras model, its card, and a compiled forward function on float32 NHWC batches."""

    card: ModelCard
    forward: Forward

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a uint8/float NHWC batch, averaging the card's flip views."""
        views = self.card.test_time_views
        stacked = flip_views(batch.astype(np.float32), views)
        spatial = stacked.ndim == 4 and self.card.raw.get("name") == "segmenter"
        return merge_views(self.forward(stacked), views, spatial=spatial)


def load_model(models_dir: Path, name: str) -> LoadedModel:
    """Load ``models_dir/<name>.keras`` with its card, checking the card against the model."""
    import keras

    card = read_card(Path(models_dir) / f"{name}.json")
    path = Path(models_dir) / card.path
    if not path.is_file():
        raise ModelLoadError(f"Model file {path} does not exist")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:
        raise ModelLoadError(f"Model file {path} could not be loaded: {type(error).__name__}") from error
    expected = (card.input_size, card.input_size, 3)
    if tuple(model.input_shape[1:]) != expected:
        raise ModelLoadError(f"Model {path} takes input {model.input_shape[1:]} but its card says {expected}")
    signature = tf.TensorSpec((None, *expected), tf.float32)
    compiled = tf.function(lambda x: model(x, training=False), input_signature=[signature])
    return LoadedModel(card=card, forward=lambda batch: compiled(batch).numpy())


class Predictor:
    """Melanoma probability and lesion mask for decoded images, from the committed models."""

    def __init__(self, classifier: LoadedModel, segmenter: LoadedModel) -> None:
        self.classifier = classifier
        self.segmenter = segmenter

    @classmethod
    def from_directory(cls, models_dir: Path) -> Predictor:
        """Load ``classifier`` and ``segmenter`` (``.keras`` + ``.json``) from a folder."""
        return cls(load_model(models_dir, "classifier"), load_model(models_dir, "segmenter"))

    @property
    def model_versions(self) -> dict[str, str]:
        return {"classifier": self.classifier.card.version, "segmenter": self.segmenter.card.version}

    def analyze(self, image: DecodedImage) -> Analysis:
        """Analyse one decoded image."""
        return self.analyze_batch([image])[0]

    def analyze_batch(self, images: Sequence[DecodedImage]) -> list[Analysis]:
        """Analyse decoded images together (one forward pass per model)."""
        if not images:
            return []
        started = time.perf_counter()
        sizes = {self.classifier.card.input_size, self.segmenter.card.input_size}
        resized = {side: np.stack([resize_for_model(image.rgb, side) for image in images]) for side in sizes}
        timing = {"preprocess": time.perf_counter() - started}

        started = time.perf_counter()
        probabilities = self.classifier.predict(resized[self.classifier.card.input_size])[:, 0]
        timing["classifier"] = time.perf_counter() - started

        started = time.perf_counter()
        maps = self.segmenter.predict(resized[self.segmenter.card.input_size])
        timing["segmenter"] = time.perf_counter() - started

        started = time.perf_counter()
        threshold, mask_threshold = self.classifier.card.threshold, self.segmenter.card.threshold
        masks = [mask_from_probability(m, image.size, mask_threshold) for m, image in zip(maps, images, strict=True)]
        timing["postprocess"] = time.perf_counter() - started

        per_image_ms = {stage: round(1000 * seconds / len(images), 2) for stage, seconds in timing.items()}
        return [
            Analysis(float(p), label_for(float(p), threshold), threshold, mask, per_image_ms)
            for p, mask in zip(probabilities, masks, strict=True)
        ]
