"""How often the quality gate refuses each kind of photo, with 95% intervals, on images that chose nothing."""

from __future__ import annotations

import numpy as np

from lesion.quality import DERMOSCOPY, KINDS, QualityGate
from training.gate_data import CLINICAL, DERMOSCOPY_SOURCES, GateData

#: z for a two-sided 95% interval.
Z95 = 1.959964
#: The report sets: name, then which rows (by source) of the report-only images belong to it.
REPORT_SETS = {
    "isic2017_val": ("isic2017",),
    "ham10000_held_out": ("ham10000",),
    "isic2020_report": ("isic2020",),
    "clinical_photos_report": (CLINICAL,),
}
EVERYDAY = "everyday_photos_held_out"


def wilson_interval(refused: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``refused / total``."""
    if total <= 0:
        raise ValueError(f"total must be positive. Received total={total}")
    share = refused / total
    middle = (share + z**2 / (2 * total)) / (1 + z**2 / total)
    half = z * np.sqrt(share * (1 - share) / total + z**2 / (4 * total**2)) / (1 + z**2 / total)
    return max(0.0, float(middle - half)), min(1.0, float(middle + half))


def group_bootstrap_interval(
    refused: np.ndarray, groups: np.ndarray, repeats: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile 95% interval of the refused share, resampling whole groups (patients, lesions, photos)."""
    names, index = np.unique(groups, return_inverse=True)
    per_group = np.bincount(index, weights=refused.astype(float), minlength=len(names))
    sizes = np.bincount(index, minlength=len(names))
    draws = np.random.default_rng(seed).integers(0, len(names), (repeats, len(names)))
    shares = per_group[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    return float(np.quantile(shares, 0.025)), float(np.quantile(shares, 0.975))


def refusal_summary(refused: np.ndarray, groups: np.ndarray) -> dict:
    """Refused count and share, images, groups and both 95% intervals."""
    count, total = int(refused.sum()), len(refused)
    wilson = wilson_interval(count, total)
    bootstrap = group_bootstrap_interval(refused, groups)
    return {
        "refused": count,
        "images": total,
        "groups": len(np.unique(groups)),
        "refused_share": round(count / total, 4),
        "wilson_95": [round(v, 4) for v in wilson],
        "group_bootstrap_95": [round(v, 4) for v in bootstrap],
    }


def verdicts(gate: QualityGate, data: GateData) -> np.ndarray:
    return np.array(gate.kinds(gate.probabilities(data.inputs)))


def held_out_report(gate: QualityGate, data: GateData) -> dict:
    """Refusal rates per report set, and per source of the held-out everyday photos."""
    report = data.subset(~data.fits)
    kinds = verdicts(gate, report)
    refused = kinds != DERMOSCOPY
    figures = {}
    for name, sources in REPORT_SETS.items():
        rows = np.isin(report.sources, sources)
        figures[name] = refusal_summary(refused[rows], report.groups[rows])
    clinical = report.sources == CLINICAL
    figures["clinical_photos_report"]["called_skin_photo"] = int(np.sum(kinds[clinical] == KINDS[1]))
    everyday = ~np.isin(report.sources, (*DERMOSCOPY_SOURCES, CLINICAL))
    figures[EVERYDAY] = refusal_summary(refused[everyday], report.groups[everyday])
    rows = everyday & refused
    given = [KINDS.index(k) == label for k, label in zip(kinds[rows], report.labels[rows], strict=True)]
    figures[EVERYDAY]["refused_given_their_kind"] = round(float(np.mean(given)), 4) if given else None
    figures[EVERYDAY]["by_source"] = {
        str(source): refusal_summary(refused[report.sources == source], report.groups[report.sources == source])
        for source in sorted(set(report.sources[everyday]))
    }
    return figures


def report_lines(figures: dict) -> list[str]:
    """One readable line per report set."""
    lines = []
    for name, summary in figures.items():
        low, high = summary["wilson_95"]
        lines.append(
            f"{name}: refused {summary['refused']}/{summary['images']} ({summary['refused_share']:.1%}, "
            f"Wilson [{low:.1%}, {high:.1%}], {summary['groups']} groups)"
        )
    return lines
