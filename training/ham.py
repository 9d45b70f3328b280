"""HAM10000 (reduced to 200x150): image paths, diagnoses and a split by lesion."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from training.negatives import held_out

#: Share of HAM10000 lesions kept out of every fit and selection, for reporting only.
HELD_OUT_FRACTION = 0.3


@dataclass(frozen=True)
class HamImages:
    """Image paths with their lesion, diagnosis and melanoma label (1 for ``mel``)."""

    paths: tuple[Path, ...]
    lesion_ids: tuple[str, ...]
    diagnoses: tuple[str, ...]

    @property
    def melanoma(self) -> tuple[int, ...]:
        return tuple(int(dx == "mel") for dx in self.diagnoses)


def read_ham(folder: Path, part: str = "all") -> HamImages:
    """HAM10000 images of one part, split by ``lesion_id`` so no lesion is in two parts.

    Args:
        folder: the folder with ``metadata.csv`` and ``images/``.
        part: ``"fit"`` (usable for fitting and selection), ``"held_out"`` (reporting only) or ``"all"``.
    """
    if part not in ("fit", "held_out", "all"):
        raise ValueError(f"part must be fit, held_out or all. Received part={part!r}")
    rows = []
    with (Path(folder) / "metadata.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            kept_out = held_out(f"ham10000/{row['lesion_id']}", HELD_OUT_FRACTION)
            if part == "all" or kept_out == (part == "held_out"):
                rows.append((Path(folder) / "images" / f"{row['image_id']}.jpg", row["lesion_id"], row["dx"]))
    rows.sort()
    return HamImages(tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows))
