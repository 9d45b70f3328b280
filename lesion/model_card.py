"""Model cards (``models/<name>.json``): the one place that states size, threshold and labels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lesion.errors import ModelLoadError


@dataclass(frozen=True)
class ModelCard:
    """The serving-relevant fields of a model card, plus the whole card for display."""

    name: str
    version: str
    input_size: int
    threshold: float
    test_time_views: int
    raw: dict[str, Any]

    @property
    def calibration(self) -> tuple[float, float] | None:
        """Platt scaling (slope, intercept) for the raw output, if the card has one."""
        platt = self.raw.get("calibration")
        return None if not platt else (float(platt["slope"]), float(platt["intercept"]))

    @property
    def risk_bands(self) -> list[dict[str, Any]]:
        """Ordered bands, each with an exclusive upper edge ``below`` (the last has none).

        Cards written by ``training.operating_point`` carry bands measured on validation
        data; otherwise the threshold alone splits two bands.
        """
        if "risk_bands" in self.raw:
            return list(self.raw["risk_bands"])
        return [
            {
                "name": "below threshold",
                "below": self.threshold,
                "meaning": "The model scores this lesion below its decision threshold.",
            },
            {"name": "above threshold", "meaning": "The model scores this lesion at or above its decision threshold."},
        ]

    @property
    def training_data(self) -> list[dict[str, str]]:
        """The data sets the model learned from, each ``{"name", "licence"}`` (empty on older cards)."""
        return [dict(entry) for entry in self.raw.get("training_data", [])]

    @property
    def path(self) -> str:
        return str(self.raw.get("file", f"{self.name}.keras"))


def read_card(path: Path) -> ModelCard:
    """Read and check a model card; the message names the file on any problem."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ModelLoadError(f"Model card {path} does not exist") from error
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"Model card {path} is not valid JSON: {error}") from error
    try:
        card = ModelCard(
            name=str(raw["name"]),
            version=str(raw["version"]),
            input_size=int(raw["input_size"]),
            threshold=float(raw["threshold"]),
            test_time_views=int(raw.get("test_time_views", 1)),
            raw=raw,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ModelLoadError(f"Model card {path} lacks a valid field: {error}") from error
    if card.input_size < 32 or not 0.0 <= card.threshold <= 1.0 or card.test_time_views not in (1, 2, 3):
        raise ModelLoadError(f"Model card {path} has out-of-range input_size, threshold or views")
    return card


def write_card(path: Path, card: dict[str, Any]) -> None:
    """Write a card as stable, human-readable JSON."""
    Path(path).write_text(json.dumps(card, indent=2, sort_keys=False) + "\n", encoding="utf-8")
