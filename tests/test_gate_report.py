"""The quality gate's report: refusal shares with Wilson and group-bootstrap intervals, per report set."""

from __future__ import annotations

import numpy as np
import pytest

from lesion.quality import IMAGE_FEATURES, KINDS, QualityGate
from training.gate_data import CLINICAL, GateData
from training.gate_report import (
    EVERYDAY,
    group_bootstrap_interval,
    held_out_report,
    refusal_summary,
    report_lines,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("refused", "total", "expected"),
    [
        # 0/10: upper = z^2/(n + z^2) = 3.8415/13.8415; 5/10: 0.5 -/+ 0.2634 (hand-computed)
        (0, 10, (0.0, 0.27753)),
        (5, 10, (0.23659, 0.76341)),
        (10, 10, (0.72247, 1.0)),
    ],
)
def test_wilson_interval_matches_hand_computed_values(refused: int, total: int, expected: tuple) -> None:
    assert wilson_interval(refused, total) == pytest.approx(expected, abs=1e-4)


def test_wilson_interval_needs_images() -> None:
    with pytest.raises(ValueError, match="total=0"):
        wilson_interval(0, 0)


def test_group_bootstrap_resamples_whole_groups() -> None:
    # every photo of a patient shares its verdict: the share is always one of the groups' mixes
    assert group_bootstrap_interval(np.ones(6, bool), np.array(list("aabbcc"))) == (1.0, 1.0)
    low, high = group_bootstrap_interval(np.array([1, 1, 0, 0] * 5, bool), np.repeat(np.arange(10), 2))
    assert 0.0 <= low < 0.5 < high <= 1.0
    summary = refusal_summary(np.array([True, False, False, False]), np.array(["p1", "p1", "p2", "p3"]))
    assert summary["refused"] == 1 and summary["images"] == 4 and summary["groups"] == 3
    assert summary["refused_share"] == 0.25 and summary["wilson_95"] == [0.0456, 0.6994]


def _gate() -> QualityGate:
    """Kind = the largest of the first three inputs (the image-feature columns are ignored)."""
    width = 3 + len(IMAGE_FEATURES)
    weights = np.zeros((3, width))
    weights[:, :3] = 10 * np.eye(3)
    return QualityGate(weights, np.zeros(3), 0.5, IMAGE_FEATURES)


def test_held_out_report_counts_each_set_and_only_report_images() -> None:
    one_hot = np.eye(3)
    rows = [  # (kind given by the gate, true label, source, group, fits)
        (0, 0, "isic2017", "isic/a", False),
        (1, 0, "isic2017", "isic/b", False),
        (1, 0, "isic2017", "isic/c", True),  # fitting image: not reported
        (0, 0, "ham10000", "ham/a", False),
        (0, 0, "isic2020", "isic2020/p", False),
        (1, 1, CLINICAL, "clinical/p1", False),
        (0, 1, CLINICAL, "clinical/p2", False),
        (2, 2, "text", "text/1", False),
        (1, 2, "patterns", "patterns/1", False),
    ]
    inputs = np.hstack([one_hot[[r[0] for r in rows]], np.zeros((len(rows), len(IMAGE_FEATURES)))])
    data = GateData(
        inputs,
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
        np.array([r[4] for r in rows]),
    )
    report = held_out_report(_gate(), data)
    assert (report["isic2017_val"]["refused"], report["isic2017_val"]["images"]) == (1, 2)
    assert report["ham10000_held_out"]["refused"] == 0 and report["isic2020_report"]["images"] == 1
    clinical = report["clinical_photos_report"]
    assert (clinical["refused"], clinical["called_skin_photo"]) == (1, 1)
    assert report[EVERYDAY]["refused"] == 2 and report[EVERYDAY]["refused_given_their_kind"] == 0.5
    assert set(report[EVERYDAY]["by_source"]) == {"patterns", "text"}
    assert len(report_lines(report)) == len(report)
    assert KINDS[1] == "skin_photo"
