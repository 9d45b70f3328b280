"""The Ray Data engine of the batch CLI: actors hold the models, the driver writes the outputs.

Files are read by Ray's workers (``ray.data.read_binary_files``), so on a cluster INPUT_DIR
must be visible to every node (a shared file system); OUTPUT_DIR is written by this process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lesion.batch import Scored, score_files
from lesion.inference import Predictor


class _ScoringActor:
    """Loads the models once per actor and scores batches of files."""

    def __init__(self, models: str) -> None:
        self.predictor = Predictor.from_directory(Path(models))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        files = [(Path(path).name, bytes(data)) for path, data in zip(batch["path"], batch["bytes"], strict=True)]
        scored = score_files(self.predictor, files)
        return {
            "name": [s.name for s in scored],
            "probability": [np.nan if s.probability is None else s.probability for s in scored],
            "mask_png": [s.mask_png or b"" for s in scored],
            "error": [s.error or "" for s in scored],
        }


def score_with_ray(
    models: Path, paths: list[Path], batch_size: int, address: str | None = None, actors: int | None = None
) -> Iterator[Scored]:
    """Score image files on Ray actors (local Ray when ``address`` is None), yielding as results arrive."""
    import ray

    if not paths:
        return
    # One inference thread per actor: the actors, not the threads, use the cores.
    env = {"env_vars": {"LESION_INFERENCE_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}}
    ray.init(
        address=address,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env=env,
        ignore_reinit_error=True,
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the CLI draws its own
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        actors = actors or max(1, int(ray.cluster_resources().get("CPU", os.cpu_count() or 1)))
        # Reading is I/O: it takes no CPU slot, so the actors may hold every core without starving it.
        files = ray.data.read_binary_files([str(p.resolve()) for p in paths], include_paths=True, num_cpus=0)
        results = files.map_batches(
            _ScoringActor,
            fn_constructor_args=(str(Path(models).resolve()),),
            batch_size=batch_size,
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(paths))),
            num_cpus=1,
        )
        for row in results.iter_rows():
            error = row["error"] or None
            yield Scored(
                row["name"],
                None if error else float(row["probability"]),
                None if error else bytes(row["mask_png"]),
                error,
            )
    finally:
        if address is None:
            ray.shutdown()
