"""Classifier version 4's low-resolution member: ISIC 2019 parts, the reduction, the blend, the draws."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from lesion.inference import LoadedModel, Predictor  # noqa: E402
from lesion.model_card import ModelCard  # noqa: E402
from lesion.postprocessing import blend_members  # noqa: E402
from training.blend_low_resolution import blend_grid, choose, judged_sources, member_names, version_4_card  # noqa: E402
from training.low_resolution import build_low_resolution_trunk, build_reduction, build_served_member  # noqa: E402
from training.sources import isic2019_parts  # noqa: E402
from training.train_low_resolution import epoch_draws, source_shares  # noqa: E402


def _isic2019_folder(tmp_path: Path, rows: list[dict[str, str]]) -> Path:
    (tmp_path / "images").mkdir()
    with (tmp_path / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image_id", "melanoma", "lesion_id"])
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            (tmp_path / "images" / f"{row['image_id']}.jpg").write_bytes(b"")
    return tmp_path


def test_isic2019_parts_keep_lesions_and_joined_copies_on_one_side(tmp_path: Path) -> None:
    rows = [
        {"image_id": f"ISIC_{i:07d}", "melanoma": str(int(i % 5 == 0)), "lesion_id": f"BCN_{i // 3:07d}"}
        for i in range(300)
    ]
    rows += [
        {"image_id": "ISIC_9000001", "melanoma": "0", "lesion_id": "BCN_0001604"},
        {"image_id": "ISIC_9000002", "melanoma": "0", "lesion_id": "BCN_0004816"},
        {"image_id": "ISIC_9000003", "melanoma": "1", "lesion_id": ""},
    ]
    parts = isic2019_parts(_isic2019_folder(tmp_path, rows))
    assert sum(len(part) for part in parts.values()) == len(rows)
    groups = {name: set(part.groups) for name, part in parts.items()}
    assert not groups["fit"] & groups["select"] and not groups["fit"] & groups["report"]
    assert not groups["select"] & groups["report"]
    joined = [name for name, part in parts.items() for p in part.paths if p.stem in ("ISIC_9000001", "ISIC_9000002")]
    assert len(joined) == 2 and joined[0] == joined[1]
    assert "image/ISIC_9000003" in set().union(*groups.values())
    lesions = 100 + 1 + 1
    assert len(groups["fit"]) == pytest.approx(0.65 * lesions, abs=3)
    assert all(part.melanoma.sum() > 0 for part in parts.values())  # stratified: melanomas in every part


def test_reduction_averages_then_resizes_like_the_served_member() -> None:
    reduction = build_reduction(224)
    flat = np.full((1, 224, 224, 3), 97.0, np.float32)
    np.testing.assert_allclose(reduction.predict(flat, verbose=0), 97.0, atol=1e-4)
    checker = np.indices((224, 224)).sum(axis=0) % 2 * 255.0  # 2x2 averaging removes the finest pattern
    reduced = reduction.predict(np.repeat(checker[None, ..., None], 3, axis=3).astype(np.float32), verbose=0)
    assert reduced.shape == (1, 84, 84, 3)
    np.testing.assert_allclose(reduced, 127.5, atol=1e-3)
    with pytest.raises(ValueError, match="input_size"):
        build_reduction(100)


def test_served_member_is_reduction_then_the_trunk_without_dropout() -> None:
    trunk = build_low_resolution_trunk(backbone_weights=None, dropout=0.5)
    member = build_served_member(trunk, 224)
    image = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    expected = trunk.predict(build_reduction(224).predict(image, verbose=0), verbose=0)
    np.testing.assert_allclose(member.predict(image, verbose=0), expected, rtol=1e-4, atol=1e-6)
    assert not any(isinstance(layer, keras.layers.Dropout) and layer.rate for layer in member._flatten_layers())


def test_blend_members_mixes_logits() -> None:
    # logit(0.5) = 0 and logit(0.8) = log 4: a 3:1 blend is sigmoid(0.25 log 4) = sqrt(2) / (1 + sqrt(2)).
    blended = blend_members([np.array([0.5]), np.array([0.8])], [0.75, 0.25])
    np.testing.assert_allclose(blended, [np.sqrt(2) / (1 + np.sqrt(2))])
    np.testing.assert_allclose(blend_members([np.array([0.3, 0.9])], [1.0]), [0.3, 0.9])
    with pytest.raises(ValueError, match="sum to 1"):
        blend_members([np.array([0.5]), np.array([0.5])], [0.5, 0.6])


def _constant_model(value: float, name: str) -> LoadedModel:
    card = ModelCard(name, "test", 32, 0.5, 1, {})
    return LoadedModel(card, lambda batch: [np.full((len(batch), 1), value, np.float32)])


def test_predictor_blends_its_members_before_calibration() -> None:
    predictor = Predictor(
        _constant_model(0.5, "classifier"),
        _constant_model(0.0, "segmenter"),
        None,
        [(_constant_model(0.8, "classifier_lowres"), 0.25)],
    )
    raw = predictor.raw_probabilities(np.zeros((3, 32, 32, 3), np.uint8))
    np.testing.assert_allclose(raw, np.sqrt(2) / (1 + np.sqrt(2)), rtol=1e-6)
    np.testing.assert_allclose(predictor.probabilities(np.zeros((1, 32, 32, 3), np.uint8))[0], raw[:1], rtol=1e-6)
    with pytest.raises(Exception, match="positive share"):
        Predictor(
            _constant_model(0.5, "classifier"),
            _constant_model(0.0, "segmenter"),
            None,
            [(_constant_model(0.8, "m"), 1.0)],
        )


def test_source_shares_grow_with_the_square_root_of_size() -> None:
    shares = source_shares({"small": 100, "large": 10000, "empty": 0})
    assert shares == pytest.approx({"small": 1 / 11, "large": 10 / 11})
    origin = ["small"] * 100 + ["large"] * 10000
    draws = epoch_draws(origin, shares, 22000, np.random.default_rng(0))
    assert (draws < 100).mean() == pytest.approx(1 / 11, abs=0.01)


def test_blend_choice_maximises_the_worst_judged_auc() -> None:
    truth = np.array([0] * 25 + [1] * 25, np.float64)
    rng = np.random.default_rng(1)
    labels = {"a": truth, "b": truth, "ham10000": truth, "few": np.array([0, 0, 1], np.float64)}
    assert judged_sources(labels) == ["a", "b"]
    base = {name: np.clip(t * 0.2 + rng.uniform(0.3, 0.7, len(t)), 0.01, 0.99) for name, t in labels.items()}
    # Candidate 1 knows source a perfectly and b not at all; candidate 2 knows both a little.
    noise = {name: rng.uniform(0.2, 0.8, len(t)) for name, t in labels.items()}
    candidates = {
        (1, 1): {
            "a": np.where(truth > 0, 0.99, 0.01),
            "b": noise["b"],
            "ham10000": noise["ham10000"],
            "few": noise["few"],
        },
        (2, 3): {name: np.clip(0.15 * t + noise[name], 0.01, 0.99) for name, t in labels.items()},
    }
    rows = blend_grid(labels, base, candidates)
    assert all(row["gain"]["a"] == 0 for row in rows if row["share"] == 0.0)
    assert {(row["epoch"], row["views"]) for row in rows} == set(candidates)
    chosen = choose(rows, judged_sources(labels))
    assert chosen["share"] > 0
    best_worst = max(min(r["auc"]["a"], r["auc"]["b"]) for r in rows if r["share"] > 0)
    assert min(chosen["auc"]["a"], chosen["auc"]["b"]) == best_worst


def test_version_4_card_splits_the_share_between_runs_and_keeps_version_3() -> None:
    card = {
        "data": {},
        "version": "v3",
        "input_size": 224,
        "architecture": "version 3 graph",
        "gflops_per_image": 10.0,
        "training_data": [{"name": "ISIC 2017 challenge data", "licence": "CC-0"}],
    }
    names = member_names(2)
    version_4_card(card, names, 0.1, {"share": 0.3, "views": 3})
    assert names == ["classifier_lowres", "classifier_lowres_2"]
    assert card["members"] == [
        {"name": "classifier_lowres", "share": 0.15},
        {"name": "classifier_lowres_2", "share": 0.15},
    ]
    assert card["gflops_per_image"] == 10.2 and card["gflops_per_image_with_views"] == 10.6
    assert card["architecture"].endswith("version 3 graph") and card["version_3_architecture"] == "version 3 graph"
    assert any("ISIC 2019" in entry["name"] for entry in card["training_data"])
    version_4_card(card, names[:1], 0.1, {"share": 0.2, "views": 1})  # rerun on a version 4 card
    assert card["architecture"].count("version 4") == 1 and card["gflops_per_image"] == 10.1
