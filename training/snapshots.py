"""Snapshot averaging: the mean of the weights saved at the last epochs of a run."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np


def average_snapshots(
    model: keras.Model, checkpoint_dir: Path, stage: str, count: int, epochs: int
) -> keras.Model | None:
    """Load the mean of the last ``count`` epoch weights into ``model``; None if too few."""
    if count < 2 or epochs < count:
        return None
    paths = [
        Path(checkpoint_dir) / f"{stage}-epoch{epoch:03d}.weights.h5" for epoch in range(epochs - count + 1, epochs + 1)
    ]
    snapshots = []
    for path in paths:
        model.load_weights(path)
        snapshots.append([np.array(w) for w in model.get_weights()])
    model.set_weights([np.mean(group, axis=0) for group in zip(*snapshots, strict=True)])
    return model
