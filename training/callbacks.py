"""Training callbacks: a progress bar with ETA, and per-epoch validation with checkpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm


class ProgressBar(keras.callbacks.Callback):
    """One tqdm bar over all batches of all epochs, so the ETA covers the whole run."""

    def __init__(self, total_epochs: int, steps_per_epoch: int, description: str) -> None:
        super().__init__()
        self._total = total_epochs * steps_per_epoch
        self._description = description
        self._bar: tqdm | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._bar = tqdm(total=self._total, desc=self._description, unit="batch", mininterval=5)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        assert self._bar is not None
        self._bar.update(1)
        if logs and "loss" in logs:
            self._bar.set_postfix(loss=f"{float(logs['loss']):.4f}", refresh=False)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._bar is not None:
            self._bar.close()


class ValidationCheckpoint(keras.callbacks.Callback):
    """Score the model on validation data after each epoch; keep the best and every epoch's weights.

    ``score`` maps the model to a dict of metrics; ``monitor`` names the one to maximise.
    """

    def __init__(
        self,
        score: Callable[[keras.Model], dict[str, float]],
        monitor: str,
        best_path: Path,
        checkpoint_dir: Path,
        stage: str,
    ) -> None:
        super().__init__()
        self.score, self.monitor, self.best_path = score, monitor, Path(best_path)
        self.checkpoint_dir, self.stage = Path(checkpoint_dir), stage
        self.best_value = -np.inf
        self.best_metrics: dict[str, float] = {}
        self.history: list[dict[str, float]] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = self.score(self.model)
        metrics = {"epoch": epoch + 1, "loss": float((logs or {}).get("loss", np.nan)), **metrics}
        self.history.append(metrics)
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        self.model.save_weights(self.checkpoint_dir / f"{self.stage}-epoch{epoch + 1:03d}.weights.h5")
        improved = metrics[self.monitor] > self.best_value
        if improved:
            self.best_value, self.best_metrics = metrics[self.monitor], metrics
            self.model.save(self.best_path)
        (self.checkpoint_dir / f"{self.stage}-history.json").write_text(json.dumps(self.history, indent=1))
        shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if k != "epoch")
        tqdm.write(f"[{self.stage}] epoch {epoch + 1}: {shown}{' (best, saved)' if improved else ''}")
