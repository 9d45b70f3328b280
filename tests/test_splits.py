"""The data parts that fit, select and report stay apart; the mixed training stream keeps its shares."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ISIC_FIXTURES
from training.data import IsicSplit, mixed_classification_dataset, read_split, resolution_jitter
from training.metrics import bootstrap_auc
from training.splits import classifier_parts, split_isic
from training.train_classifier import selection_score


def _fake_ham(folder: Path, lesions: int = 300) -> Path:
    """A HAM10000-shaped folder: metadata.csv with one or two images per lesion (no pixels needed)."""
    folder.mkdir()
    with (folder / "metadata.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lesion_id", "image_id", "dx"])
        for index in range(lesions):
            for copy in range(1 + index % 2):
                writer.writerow([f"HAM_{index:07d}", f"ISIC_{index:05d}{copy}", "mel" if index % 9 == 0 else "nv"])
    return folder


def _fake_isic(count: int = 400) -> IsicSplit:
    ids = tuple(f"ISIC_{index:07d}" for index in range(count))
    labels = (np.arange(count) % 5 == 0).astype(np.float32)
    paths = tuple(Path(f"{image_id}.jpg") for image_id in ids)
    return IsicSplit(ids, paths, paths, labels, np.zeros(count, np.float32))


def test_parts_are_disjoint_grouped_and_stable(tmp_path: Path) -> None:
    ham = _fake_ham(tmp_path / "ham")
    parts = classifier_parts(_fake_isic(), read_split(ISIC_FIXTURES), ham)
    again = classifier_parts(_fake_isic(), read_split(ISIC_FIXTURES), ham)
    assert parts.summary() == again.summary()
    assert not set(parts.isic_fit.paths) & set(parts.isic_select.paths)
    lesions = [set(getattr(parts, name).groups) for name in ("ham_fit", "ham_select", "ham_report")]
    assert all(not (a & b) for i, a in enumerate(lesions) for b in lesions[i + 1 :])  # no lesion in two parts
    assert sum(len(group) for group in lesions) == 300
    # About a fifth of ISIC train/ selects; about 30% of HAM lesions are held out for reporting.
    assert 0.12 < len(parts.isic_select) / 400 < 0.28
    assert 0.2 < len(lesions[2]) / 300 < 0.4


def test_segmenter_uses_the_classifiers_isic_selection_images(tmp_path: Path) -> None:
    split = _fake_isic()
    parts = classifier_parts(split, read_split(ISIC_FIXTURES), _fake_ham(tmp_path / "ham"))
    fit, select = split_isic(split)
    assert len(fit) + len(select) == len(split) and not set(fit.image_ids) & set(select.image_ids)
    assert select.image_paths == parts.isic_select.paths


def test_mixed_stream_keeps_shares_and_balances_classes(tmp_path: Path) -> None:
    paths = []
    for index in range(6):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (40, 40), (40 * index, 90, 90)).save(path)
        paths.append(path)
    first = (paths[:3], np.array([0.0, 0.0, 0.0]), 0.75)
    second = (paths[3:], np.array([1.0, 1.0, 0.0]), 0.25)
    batches = mixed_classification_dataset([first, second], 16, 40, seed=0).take(10)
    labels, weights = [], []
    for images, label, weight in batches:
        assert images.shape == (40, 16, 16, 3)
        labels.append(label.numpy())
        weights.append(weight.numpy())
    labels, weights = np.concatenate(labels), np.concatenate(weights)
    # Expected melanoma share: 0.25 * 2/3 = 1/6; each class gets about half of the total weight.
    assert abs(labels.mean() - 1 / 6) < 0.06
    assert abs(weights[labels > 0.5].sum() / weights.sum() - 0.5) < 0.12
    with pytest.raises(ValueError, match="positive share"):
        mixed_classification_dataset([(paths, np.zeros(6), 0.0)], 16, 4, seed=0)


def test_resolution_jitter_blurs_but_keeps_the_size() -> None:
    import tensorflow as tf

    checker = np.indices((64, 64)).sum(axis=0) % 2 * 255.0
    image = tf.constant(np.repeat(checker[..., None], 3, axis=2), tf.float32)
    out = resolution_jitter(image, smallest=0.5, chance=1.0).numpy()
    assert out.shape == (64, 64, 3)
    assert out.std() < 0.5 * checker.std()  # the finest detail is gone
    np.testing.assert_array_equal(resolution_jitter(image, chance=0.0).numpy(), image.numpy())


def test_selection_score_averages_parts_that_have_both_classes() -> None:
    truth = np.array([0, 0, 1, 1])
    scores = selection_score(
        {
            "a": (truth, np.array([0.1, 0.2, 0.8, 0.9])),
            "b": (truth, np.full(4, 0.5)),
            "c": (np.ones(3), np.ones(3)),
        }
    )
    assert scores["a_auc"] == 1.0 and scores["b_auc"] == 0.5 and "c_auc" not in scores
    assert scores["selection_auc"] == pytest.approx(0.75)


def test_bootstrap_interval_brackets_the_auc() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random(300) < 0.2).astype(int)
    scores = labels + rng.normal(0, 1.0, 300)
    result = bootstrap_auc(labels, scores, rounds=300)
    low, high = result["ci95"]
    assert low < result["auc"] < high and high - low < 0.2
    assert bootstrap_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9]), rounds=50)["ci95"] == [1.0, 1.0]
