"""The dermoscopy member of classifier version 3: sources, builder arithmetic, the saved file."""

from __future__ import annotations

import csv
import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from training.dermoscopy import (  # noqa: E402
    build_with_member,
    has_dermoscopy_member,
    save_deflated,
)
from training.sources import archive_parts, isic2020_part_of, isic2020_parts  # noqa: E402
from training.train_dermoscopy import balanced_weights  # noqa: E402

SIDE = 64


def _tiny_base() -> keras.Model:
    """A model shaped like the served ensemble: [sigmoid(logit), pooled features, 2x2 activation map]."""
    inputs = keras.Input((SIDE, SIDE, 3), name="image")
    maps = keras.layers.Conv2D(4, 3, strides=32, padding="same", name="maps")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(maps)
    logit = keras.layers.Dense(1, name="logit")(pooled)
    probability = keras.layers.Activation("sigmoid", name="melanoma_probability")(logit)
    activation = keras.layers.Conv2D(1, 1, use_bias=False, name="class_activation")(maps)
    return keras.Model(inputs, [probability, pooled, activation])


def _tiny_trunk() -> keras.Model:
    inputs = keras.Input((SIDE, SIDE, 3))
    maps = keras.layers.Conv2D(6, 5, strides=32, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, maps, name="dermoscopy_xception")


def _probe(rng: np.random.Generator) -> tuple[StandardScaler, LogisticRegression]:
    features = rng.normal(size=(40, 6)) * 3 + 1
    labels = (features[:, 0] + rng.normal(size=40) > 1).astype(int)
    scaler = StandardScaler().fit(features)
    return scaler, LogisticRegression().fit(scaler.transform(features), labels)


def test_the_mixed_model_is_the_weighted_sum_of_both_logits() -> None:
    rng = np.random.default_rng(0)
    base, trunk = _tiny_base(), _tiny_trunk()
    scaler, probe = _probe(rng)
    model = build_with_member(base, trunk, scaler, probe, base_share=0.7, member_share=0.2)
    images = rng.uniform(0, 1, (3, SIDE, SIDE, 3)).astype(np.float32)
    probability, features, activation = (np.asarray(o) for o in model(images))
    base_probability, base_features, _ = (np.asarray(o) for o in base(images))
    base_logit = np.log(base_probability / (1 - base_probability))[:, 0]
    pooled = np.asarray(trunk(images)).mean(axis=(1, 2))
    member_logit = probe.decision_function(scaler.transform(pooled))
    expected = 1 / (1 + np.exp(-(0.7 * base_logit + 0.2 * member_logit)))
    np.testing.assert_allclose(probability[:, 0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(features, base_features, rtol=1e-6)  # the quality gate's input is untouched
    assert activation.shape == (3, 2, 2, 1)
    assert has_dermoscopy_member(model) and not has_dermoscopy_member(base)


def test_a_base_that_already_holds_the_member_is_refused() -> None:
    rng = np.random.default_rng(1)
    scaler, probe = _probe(rng)
    model = build_with_member(_tiny_base(), _tiny_trunk(), scaler, probe, 0.5, 0.5)
    with pytest.raises(ValueError, match="already contains"):
        build_with_member(model, _tiny_trunk(), scaler, probe, 0.5, 0.5)


def test_the_deflated_file_loads_to_the_same_model(tmp_path: Path) -> None:
    base = _tiny_base()
    path = tmp_path / "model.keras"
    save_deflated(base, path)
    with zipfile.ZipFile(path) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}
    images = np.random.default_rng(2).uniform(0, 255, (2, SIDE, SIDE, 3)).astype(np.float32)
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(np.asarray(loaded(images)[0]), np.asarray(base(images)[0]), rtol=1e-6)


def test_each_part_weighs_its_size_with_classes_balanced() -> None:
    labels = np.array([1, 0, 0, 0], dtype=np.float32)
    weights = balanced_weights(labels)
    assert weights.sum() == pytest.approx(4)
    assert weights[0] == pytest.approx(weights[1:].sum())


def test_isic2020_patients_fall_in_one_part_each_with_melanoma_patients_in_every_part() -> None:
    patients = {f"IP_{n:04d}": n % 4 == 0 for n in range(60)}
    parts = isic2020_part_of(patients)
    assert set(parts) == set(patients)
    for part in ("fit", "select", "report"):
        assert any(patients[p] for p, chosen in parts.items() if chosen == part)
    assert parts == isic2020_part_of(dict(reversed(list(patients.items()))))  # a hash, not the listing order


def _write_source(folder: Path, rows: list[dict[str, str]]) -> None:
    (folder / "images").mkdir(parents=True)
    with (folder / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        (folder / "images" / f"{row['image_id']}.jpg").write_bytes(b"")


def test_isic2020_parts_split_by_patient(tmp_path: Path) -> None:
    rows = [
        {"image_id": f"ISIC_{n:07d}", "melanoma": str(int(n % 7 == 0)), "patient_id": f"IP_{n % 13}"}
        for n in range(80)
    ]
    _write_source(tmp_path, rows)
    parts = isic2020_parts(tmp_path)
    assert sum(len(p) for p in parts.values()) == 80
    groups = [set(part.groups) for part in parts.values()]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])


def test_the_archive_keeps_only_images_not_in_isic2017_train(tmp_path: Path) -> None:
    rows = [
        {"image_id": f"ISIC_{n:07d}", "diagnosis": "nevus", "melanoma": "0", "in_isic2017_train": str(n % 2)}
        for n in range(40)
    ]
    _write_source(tmp_path, rows)
    parts = archive_parts(tmp_path)
    kept = {path.stem for part in parts.values() for path in part.paths}
    assert kept == {row["image_id"] for row in rows if row["in_isic2017_train"] == "0"}


@pytest.mark.skipif(importlib.util.find_spec("sklesion") is None, reason="sklesion is not installed")
def test_the_rebuilt_trunk_gives_sklesion_features_at_its_own_size() -> None:
    from training.dermoscopy import SIX_LAYERS, dermoscopy_trunk, pooled_trunk, sklesion_model_path

    source = keras.models.load_model(sklesion_model_path(), compile=False)
    images = np.random.default_rng(3).uniform(0, 255, (1, 254, 254, 3)).astype(np.float32)
    scaled = source.get_layer("normalization")(images)
    expected = np.asarray(source.get_layer("xception")(scaled))
    rebuilt = np.asarray(pooled_trunk(dermoscopy_trunk(sklesion_model_path(), 254, SIX_LAYERS))(images))
    # The rejected candidate's six layers side by side; the last 2,048 are sklesion's own pooled features...
    assert rebuilt.shape == (1, 3 * 728 + 1024 + 1536 + 2048)
    np.testing.assert_allclose(rebuilt[:, -2048:], expected, rtol=1e-4, atol=1e-5)
    # ...and the middle flow's maps, stacked on the last layer's grid, keep their global average.
    xception = source.get_layer("xception")
    tapped = keras.Model(xception.inputs, xception.get_layer(SIX_LAYERS[1]).output)
    middle = np.asarray(tapped(scaled)).mean(axis=(1, 2))
    np.testing.assert_allclose(rebuilt[:, 728 : 2 * 728], middle, rtol=1e-4, atol=1e-5)
    shipped = pooled_trunk(dermoscopy_trunk(sklesion_model_path(), 254))(images)  # the last layer alone
    np.testing.assert_allclose(np.asarray(shipped), expected, rtol=1e-4, atol=1e-5)
