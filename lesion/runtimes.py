"""Forward functions for a saved model: Keras (the source of truth) or its TFLite export."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lesion.errors import ModelLoadError

# TensorFlow is imported lazily below; keep its C++ start-up chatter out of the logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: The environment variable that sets the inference threads of each runtime (0 or unset: all cores).
THREADS_VARIABLE = "LESION_INFERENCE_THREADS"
#: The threads of a gunicorn worker: on 2 cores with classifier version 3, 256 px p50 60 ms against
#: 107 ms with one thread, and no less throughput at concurrency 4 (bench/RESULTS.md, 2026-12-03).
WORKER_INFERENCE_THREADS = 2


def use_worker_threads() -> None:
    """Give runtimes made from now on a gunicorn worker's threads, unless the environment sets them."""
    os.environ.setdefault(THREADS_VARIABLE, str(WORKER_INFERENCE_THREADS))


#: Maps a float32 NHWC batch to the model's outputs, in the model's order.
Forward = Callable[[np.ndarray], list[np.ndarray]]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def keras_forward(path: Path, input_size: int) -> Forward:
    """A compiled Keras forward pass on float32 NHWC batches of any length."""
    try:
        import keras
        import tensorflow as tf
    except ImportError as error:
        raise ModelLoadError(f"Model file {path} needs TensorFlow/Keras, which is not installed: {error}") from error

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:
        raise ModelLoadError(f"Model file {path} could not be loaded: {type(error).__name__}") from error
    expected = (input_size, input_size, 3)
    if tuple(model.input_shape[1:]) != expected:
        raise ModelLoadError(f"Model {path} takes input {model.input_shape[1:]} but its card says {expected}")
    signature = tf.TensorSpec((None, *expected), tf.float32)
    compiled = tf.function(lambda x: model(x, training=False), input_signature=[signature])

    def forward(batch: np.ndarray) -> list[np.ndarray]:
        outputs = compiled(batch)
        return [o.numpy() for o in outputs] if isinstance(outputs, (list, tuple)) else [outputs.numpy()]

    return forward


def tflite_forward(path: Path, input_size: int, threads: int | None = None) -> Forward:
    """A TFLite (LiteRT, XNNPACK) forward pass, one image at a time, safe to call from several threads."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        threads = threads or int(os.environ.get(THREADS_VARIABLE, "0")) or os.cpu_count() or 1
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise ModelLoadError(f"TFLite file {path} could not be loaded: {error}") from error
    source = interpreter.get_input_details()[0]
    # TFLite does not keep the Keras output order; ours is recovered by rank, then width
    # (probability, pooled features, activation map; see training/explainer.py).
    targets = sorted(interpreter.get_output_details(), key=lambda d: (len(d["shape"]), int(d["shape"][-1])))
    if tuple(source["shape"][1:]) != (input_size, input_size, 3):
        raise ModelLoadError(f"TFLite file {path} takes input {tuple(source['shape'][1:])}, not {input_size}")
    lock = threading.Lock()  # an interpreter holds its tensors: one call at a time

    def forward(batch: np.ndarray) -> list[np.ndarray]:
        outputs: list[list[np.ndarray]] = [[] for _ in targets]
        with lock:
            for image in batch:
                interpreter.set_tensor(source["index"], image[None].astype(np.float32))
                interpreter.invoke()
                for collected, target in zip(outputs, targets, strict=True):
                    collected.append(interpreter.get_tensor(target["index"])[0].copy())
        return [np.stack(collected) for collected in outputs]

    return forward
