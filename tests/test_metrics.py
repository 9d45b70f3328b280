from __future__ import annotations

import numpy as np
import pytest

from training.metrics import classification_scores, segmentation_scores


def _mask(rows: list[str]) -> np.ndarray:
    return np.array([[255 if c == "#" else 0 for c in row] for row in rows], dtype=np.uint8)


def test_segmentation_scores_match_hand_computed_values() -> None:
    truth = _mask(["##..", "##..", "....", "...."])  # 4 px
    prediction = _mask(["###.", "##..", "....", "...."])  # TP 4, FP 1, FN 0
    scores = segmentation_scores([truth], [prediction])
    assert scores["jaccard"] == pytest.approx(4 / 5)
    assert scores["dice"] == pytest.approx(8 / 9)
    assert scores["threshold_jaccard"] == pytest.approx(0.8)
    assert scores["sensitivity"] == pytest.approx(1.0)
    assert scores["specificity"] == pytest.approx(11 / 12)


def test_threshold_jaccard_zeroes_poor_images_before_averaging() -> None:
    truth = _mask(["####", "####", "....", "...."])  # 8 px
    half = _mask(["####", "....", "....", "...."])  # Jaccard 0.5 < 0.65 -> 0
    scores = segmentation_scores([truth, truth], [truth, half])
    assert scores["jaccard"] == pytest.approx(0.75)
    assert scores["threshold_jaccard"] == pytest.approx(0.5)


def test_segmentation_scores_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        segmentation_scores([np.zeros((4, 4))], [np.zeros((4, 5))])


def test_classification_scores_match_hand_computed_values() -> None:
    truth = np.array([0, 0, 1, 1, 0, 1])
    probability = np.array([0.1, 0.6, 0.7, 0.4, 0.3, 0.9])
    scores = classification_scores(truth, probability, threshold=0.5)
    # 9 positive/negative pairs, 8 ranked correctly (0.4 < 0.6 is the miss).
    assert scores["auc"] == pytest.approx(8 / 9)
    assert scores["sensitivity"] == pytest.approx(2 / 3)
    assert scores["specificity"] == pytest.approx(2 / 3)
    assert scores["balanced_accuracy"] == pytest.approx(2 / 3)
    # ROC reaches sensitivity 0.8 at FPR 1/3 and stays at TPR 1 from there: the ISIC
    # partial AUC integrates TPR over FPR in [1/3, 1], i.e. 2/3.
    assert scores["auc_sens_80"] == pytest.approx(2 / 3)


def test_risk_bands_bracket_the_threshold_and_count_cases() -> None:
    from training.operating_point import risk_bands

    truth = np.array([0] * 20 + [1] * 20)
    probability = np.concatenate([np.linspace(0.0, 0.6, 20), np.linspace(0.3, 1.0, 20)])
    bands = risk_bands(truth, probability, threshold=0.5)
    assert [b["name"] for b in bands] == ["low", "intermediate", "high"]
    assert bands[0]["below"] <= 0.5 <= bands[1]["below"]
    assert sum(b["validation_melanomas"] for b in bands) == 20
    assert sum(b["validation_benign"] for b in bands) == 20
    assert bands[0]["validation_melanomas"] <= 1  # sensitivity >= 95% above the low edge
    assert bands[2]["validation_benign"] <= 1  # specificity >= 95% below the high edge


def test_expected_calibration_error_by_hand() -> None:
    from training.calibrate import expected_calibration_error

    truth = np.array([0, 0, 1, 1])
    probability = np.array([0.05, 0.05, 0.95, 0.55])
    # Bins: [0,0.1) holds two negatives at 0.05 -> |0 - 0.05|; [0.5,0.6) one positive at 0.55
    # -> |1 - 0.55|; [0.9,1] one positive at 0.95 -> |1 - 0.95|.
    expected = 0.5 * 0.05 + 0.25 * 0.45 + 0.25 * 0.05
    assert expected_calibration_error(truth, probability) == pytest.approx(expected)


def test_platt_scaling_and_operating_point() -> None:
    from lesion.postprocessing import calibrate
    from training.calibrate import fit_platt, threshold_for_sensitivity

    np.testing.assert_allclose(calibrate(np.array([0.2, 0.5, 0.9]), 1.0, 0.0), [0.2, 0.5, 0.9])
    truth = np.array([0] * 50 + [1] * 50)
    probability = np.concatenate([np.linspace(0.5, 0.7, 50), np.linspace(0.6, 0.95, 50)])
    slope, _ = fit_platt(truth, probability)
    assert slope > 1  # the raw scores are squeezed together: calibration spreads them
    threshold = threshold_for_sensitivity(truth, probability, 0.9)
    assert (probability[truth == 1] >= threshold).mean() >= 0.9
    assert (probability[truth == 1] >= threshold + 1e-9).mean() < 0.9


def test_paired_mean_gain_is_the_difference_of_means_with_an_interval_around_it() -> None:
    from training.compare_models import paired_mean_gain

    rng = np.random.default_rng(0)
    old = rng.uniform(0.5, 0.9, 200)
    result = paired_mean_gain(old, old + 0.05 + rng.normal(0, 0.01, 200), rounds=300)
    low, high = result["ci95"]
    assert result["gain"] == pytest.approx(0.05, abs=0.005) and low < result["gain"] < high and high - low < 0.01
    assert paired_mean_gain(old, old, rounds=50) == {"gain": 0.0, "ci95": [0.0, 0.0]}


def test_comparing_the_committed_segmenter_with_itself_finds_no_gain(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.conftest import ISIC_FIXTURES, MODELS_DIR
    from training import compare_models

    models, data = str(MODELS_DIR), str(ISIC_FIXTURES)
    compare_models.main(["--old", models, "--new", models, "--data", data, "--only", "segmenter"])
    report = json.loads(capsys.readouterr().out)["isic_val_segmentation"]
    assert report["images"] == 4 and 0.5 < report["jaccard"]["old"] == report["jaccard"]["new"] <= 1.0
    assert report["threshold_jaccard"]["new_minus_old"] == {"gain": 0.0, "ci95": [0.0, 0.0]}


@pytest.mark.parametrize(("share", "words"), [(0.9, "about 9 in 10"), (0.3386, "about 1 in 3"), (0.5, "about 1 in 2")])
def test_shares_in_plain_words(share: float, words: str) -> None:
    from training.operating_point import in_words

    assert in_words(share) == words


def test_threshold_meaning_uses_no_internal_terms() -> None:
    from training.operating_point import threshold_meaning

    measured = {
        "isic_val": {"sensitivity": 0.9, "specificity": 0.64},
        "ham_held_out": {"sensitivity": 0.88, "specificity": 0.69},
    }
    text = threshold_meaning(0.076009, 0.9, measured)
    assert text.startswith("Photos scoring 7.6% or more are flagged for a closer look")
    assert "about 9 in 10 melanomas" in text and "about 1 in 3 harmless lesions" in text
    assert "selection" not in text and "HAM10000" not in text
