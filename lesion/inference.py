"""The shared inference path: load the models once, analyse decoded images.

Used by the batch CLI, the web app and ``training.evaluate``; preprocessing comes from
``lesion.preprocessing`` and post-processing from ``lesion.postprocessing``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lesion.errors import ModelLoadError
from lesion.model_card import ModelCard, read_card
from lesion.model_files import serving_only
from lesion.postprocessing import blend_members, calibrate, flip_views, label_for, mask_from_probability, merge_views
from lesion.preprocessing import DecodedImage, resize_for_model
from lesion.quality import DERMOSCOPY, KINDS, QualityGate
from lesion.runtimes import Forward, file_sha256, keras_forward, tflite_forward


@dataclass(frozen=True)
class Analysis:
    """What the models say about one image."""

    probability: float
    label: str
    threshold: float
    #: HxW uint8 lesion mask, 0 or 255, at the full (oriented) image size.
    mask: np.ndarray
    timing_ms: dict[str, float] = field(default_factory=dict)
    #: The classifier's class activation map (coarse grid, unnormalised), when it has one.
    activation: np.ndarray | None = None
    #: The quality gate's verdict (``lesion.quality.KINDS``) and each kind's probability (None without a gate).
    photo_kind: str | None = None
    kind_probabilities: dict[str, float] | None = None

    @property
    def in_distribution(self) -> bool:
        """Whether the photo looks like the dermoscopy the models learned from (True without a gate)."""
        return self.photo_kind in (None, DERMOSCOPY)


@dataclass(frozen=True)
class LoadedModel:
    """A model's card and a forward function on float32 NHWC batches."""

    card: ModelCard
    forward: Forward
    #: "tflite" or "keras": which runtime executes the forward pass.
    runtime: str = "keras"

    def predict_all(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every output for a uint8/float NHWC batch, averaged over the card's flip views."""
        views = self.card.test_time_views
        outputs = self.forward(flip_views(batch.astype(np.float32), views))
        return [merge_views(output, views, spatial=output.ndim == 4) for output in outputs]

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """The model's first output (probability, or the segmenter's mask) for a batch."""
        return self.predict_all(batch)[0]


def load_model(models_dir: Path, name: str, runtime: str = "auto") -> LoadedModel:
    """Load ``models_dir/<name>`` as its card describes, checking the card against the model.

    Args:
        models_dir: folder holding ``<name>.json`` and the files it names.
        name: ``"classifier"`` or ``"segmenter"``.
        runtime: ``"keras"``, ``"tflite"``, or ``"auto"`` (the TFLite export when the card
            lists one made from this very ``.keras`` file, else Keras).
    """
    if runtime not in ("auto", "keras", "tflite"):
        raise ValueError(f"runtime must be auto, keras or tflite. Received runtime={runtime!r}")
    card = read_card(Path(models_dir) / f"{name}.json")
    path = Path(models_dir) / card.path
    export = card.raw.get("tflite")
    if not path.is_file():
        if runtime != "keras" and export and serving_only(Path(models_dir), card.raw):
            # The LiteRT image ships the exports without their .keras sources (and without TensorFlow).
            return LoadedModel(card, tflite_forward(Path(models_dir) / export["file"], card.input_size), "tflite")
        raise ModelLoadError(f"Model file {path} does not exist")
    if runtime != "keras" and export:
        tflite_path = Path(models_dir) / export["file"]
        current = tflite_path.is_file() and export.get("keras_sha256") == file_sha256(path)
        if current:
            return LoadedModel(card, tflite_forward(tflite_path, card.input_size), "tflite")
        if runtime == "tflite":
            raise ModelLoadError(f"TFLite file {tflite_path} is missing or was not made from {path}")
    elif runtime == "tflite":
        raise ModelLoadError(f"Model card {name}.json lists no TFLite export")
    return LoadedModel(card, keras_forward(path, card.input_size), "keras")


class Predictor:
    """Melanoma probability and lesion mask for decoded images, from the committed models."""

    def __init__(
        self,
        classifier: LoadedModel,
        segmenter: LoadedModel,
        gate: QualityGate | None = None,
        members: Sequence[tuple[LoadedModel, float]] = (),
    ) -> None:
        """``members``: further classifier members with their shares of the blended logit (the card's ``members``)."""
        if sum(share for _, share in members) >= 1.0:
            raise ModelLoadError("The classifier members' shares must leave the classifier itself a positive share")
        self.classifier = classifier
        self.segmenter = segmenter
        self.gate = gate
        self.members = tuple(members)

    @classmethod
    def from_directory(cls, models_dir: Path, runtime: str = "auto") -> Predictor:
        """Load ``classifier`` (with the members its card names) and ``segmenter`` from a folder."""
        classifier = load_model(models_dir, "classifier", runtime)
        gate_entry = classifier.card.raw.get("quality_gate")
        gate = None
        if gate_entry:
            gate = QualityGate.from_file(Path(models_dir) / gate_entry["file"], float(gate_entry["threshold"]))
        members = [
            (load_model(models_dir, str(entry["name"]), runtime), float(entry["share"]))
            for entry in classifier.card.raw.get("members", [])
        ]
        return cls(classifier, load_model(models_dir, "segmenter", runtime), gate, members)

    def blend(self, classifier_raw: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """The classifier's raw probability for ``batch`` blended with its members' (uncalibrated)."""
        if not self.members:
            return classifier_raw
        shares = [share for _, share in self.members]
        raws = [classifier_raw, *(member.predict(batch)[:, 0] for member, _ in self.members)]
        return blend_members(raws, [1.0 - sum(shares), *shares])

    def raw_probabilities(self, batch: np.ndarray) -> np.ndarray:
        """The blended, uncalibrated P(melanoma) of a model-sized batch (what calibration is fitted on)."""
        return self.blend(self.classifier.predict(batch)[:, 0], batch)

    @property
    def model_versions(self) -> dict[str, str]:
        return {"classifier": self.classifier.card.version, "segmenter": self.segmenter.card.version}

    def probabilities(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Served P(melanoma) (calibrated when the card says so), activation maps and the gate's kind probabilities.

        ``batch`` is the model-sized RGB the classifier sees; the gate measures the same pixels.
        """
        outputs = self.classifier.predict_all(batch)
        raw = self.blend(outputs[0][:, 0], batch)
        platt = self.classifier.card.calibration
        activations = outputs[2][..., 0] if len(outputs) > 2 else None
        kinds = None
        if self.gate is not None and len(outputs) > 1:
            kinds = self.gate.probabilities(self.gate.inputs(outputs[1], batch))
        return (raw if platt is None else calibrate(raw, *platt)), activations, kinds

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
        probabilities, activations, kind_probabilities = self.probabilities(resized[self.classifier.card.input_size])
        timing["classifier"] = time.perf_counter() - started

        started = time.perf_counter()
        maps = self.segmenter.predict(resized[self.segmenter.card.input_size])
        timing["segmenter"] = time.perf_counter() - started

        started = time.perf_counter()
        threshold, mask_threshold = self.classifier.card.threshold, self.segmenter.card.threshold
        masks = [mask_from_probability(m, image.size, mask_threshold) for m, image in zip(maps, images, strict=True)]
        timing["postprocess"] = time.perf_counter() - started

        per_image_ms = {stage: round(1000 * seconds / len(images), 2) for stage, seconds in timing.items()}
        kinds = [None] * len(images) if kind_probabilities is None else self.gate.kinds(kind_probabilities)
        return [
            Analysis(
                float(p),
                label_for(float(p), threshold),
                threshold,
                mask,
                per_image_ms,
                None if activations is None else activations[index],
                kinds[index],
                None
                if kind_probabilities is None
                else {kind: round(float(p), 6) for kind, p in zip(KINDS, kind_probabilities[index], strict=True)},
            )
            for index, (p, mask) in enumerate(zip(probabilities, masks, strict=True))
        ]
