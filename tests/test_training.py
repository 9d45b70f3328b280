"""One-step training smoke runs on the fixture images at a tiny input size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.conftest import ISIC_FIXTURES
from training import train_classifier, train_segmenter
from training.architectures import build_classifier, build_unet
from training.cost import gflops
from training.data import augment, read_split, segmentation_dataset


@pytest.fixture(scope="module")
def isic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("isic")
    shutil.copytree(ISIC_FIXTURES, root / "train")
    shutil.copytree(ISIC_FIXTURES, root / "val")
    return root


def test_read_split_lists_images_masks_and_labels() -> None:
    split = read_split(ISIC_FIXTURES)
    assert len(split) == 4 and split.melanoma.sum() == 2
    assert all(path.is_file() for path in split.image_paths + split.mask_paths)


def test_augmentation_moves_mask_with_image() -> None:
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[8:24, 8:24] = 255
    mask = (image[..., :1] > 0).astype(np.uint8) * 255
    for seed in range(5):
        keras.utils.set_random_seed(seed)
        out_image, out_mask = augment(image, mask)
        bright = out_image.numpy().mean(axis=-1) > 127
        lesion = out_mask.numpy()[..., 0] > 0.5
        overlap = (bright & lesion).sum() / max((bright | lesion).sum(), 1)
        assert overlap > 0.6


def test_segmentation_dataset_shapes() -> None:
    x, m = next(iter(segmentation_dataset(read_split(ISIC_FIXTURES), 64, 2, training=True, seed=0)))
    assert x.shape == (2, 64, 64, 3) and m.shape == (2, 64, 64, 1)
    assert set(np.unique(m.numpy())) <= {0.0, 1.0}


def test_builders_stay_within_the_cost_budget() -> None:
    assert gflops(build_classifier(224, None)[0]) <= 2.0
    assert gflops(build_unet(224, None)) <= 2.0


def test_classifier_training_writes_model_and_card(isic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "classifier.keras"
    train_classifier.main(
        [
            "--data",
            str(isic_root),
            "--backbone-weights",
            "none",
            "--epochs",
            "1",
            "--warmup-epochs",
            "1",
            "--image-size",
            "32",
            "--batch-size",
            "4",
            "--out",
            str(out),
            "--average-last",
            "1",
        ]
    )
    card = json.loads(out.with_suffix(".json").read_text())
    assert out.is_file() and card["input_size"] == 32
    assert 0.0 <= card["selection"]["selection_auc"] <= 1.0 and "isic_fit" in card["data"]["parts"]
    assert keras.models.load_model(out, compile=False).input_shape == (None, 32, 32, 3)
    assert (tmp_path / ".checkpoints" / "classifier-finetuned.keras").is_file()  # what the ensemble step reads
    # Per-epoch scores stay beside the checkpoints; the card states the choice and the training data.
    assert "selection_history" not in card and card["training_data"][0]["licence"] == "CC-0"
    assert [e["epoch"] for e in json.loads((tmp_path / ".checkpoints" / "classifier-history.json").read_text())] == [1]


@pytest.mark.parametrize("recipe", [[], ["--select-on-val", "--full-resolution", "0", "--plain-augmentation"]])
def test_segmenter_training_writes_model_and_card(isic_root: Path, tmp_path: Path, recipe: list[str]) -> None:
    out = tmp_path / "segmenter.keras"
    train_segmenter.main(
        [
            *recipe,
            "--data",
            str(isic_root),
            "--backbone-weights",
            "none",
            "--epochs",
            "1",
            "--image-size",
            "32",
            "--batch-size",
            "4",
            "--out",
            str(out),
            "--average-last",
            "1",
        ]
    )
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["input_size"] == 32 and "jaccard" in card["selection"]
    # Version 1's recipe chooses on val/ (4 fixture images) and predicts at 1/2 resolution.
    assert card["selection"]["data"].startswith("ISIC val/ (4 images)" if recipe else "ISIC train/ selection part")
    assert ("full resolution" in card["architecture"]) != bool(recipe)


def test_segmenter_refit_continues_a_chosen_model_on_all_of_train(isic_root: Path, tmp_path: Path) -> None:
    common = ["--data", str(isic_root), "--backbone-weights", "none", "--image-size", "32", "--batch-size", "4"]
    first = tmp_path / "first" / "segmenter.keras"
    train_segmenter.main([*common, "--epochs", "1", "--average-last", "1", "--out", str(first)])
    out = tmp_path / "refit" / "segmenter.keras"
    train_segmenter.main([*common, "--initial-model", str(first), "--refit-epochs", "2", "--out", str(out)])

    card = json.loads(out.with_suffix(".json").read_text())
    first_card = json.loads(first.with_suffix(".json").read_text())
    assert card["selection"]["stage_1"] == first_card["selection"]
    assert "2 epochs on all 4 train/ images" in card["selection"]["refit"]
    assert (tmp_path / "refit" / ".checkpoints" / "segmenter-history.json").read_text() == (
        tmp_path / "first" / ".checkpoints" / "segmenter-history.json"
    ).read_text()
    assert (
        card["training"]["refit_epochs"] == 2
        and card["training"]["stage_1_command"] == first_card["training"]["command"]
    )
    assert sorted(p.name for p in (out.parent / ".checkpoints").glob("segmenter-refit-*")) == [
        "segmenter-refit-epoch001.weights.h5",
        "segmenter-refit-epoch002.weights.h5",
    ]
    before, after = (keras.models.load_model(path, compile=False) for path in (first, out))
    assert any(not np.allclose(a, b) for a, b in zip(before.get_weights(), after.get_weights(), strict=True))


def test_segmenter_refit_needs_epochs() -> None:
    with pytest.raises(SystemExit):
        train_segmenter.parse_args(["--data", ".", "--initial-model", "x.keras"])


def test_explanation_output_is_grad_cam_for_this_head() -> None:
    import tensorflow as tf

    from training.explainer import with_explanation

    classifier, _ = build_classifier(64, None)
    explained = with_explanation(classifier)
    image = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    probability, pooled, activation = explained(image)
    assert pooled.shape == (1, 1280)
    np.testing.assert_allclose(probability, classifier(image), rtol=1e-5)
    # Grad-CAM from real gradients: weights = mean gradient of the logit over the feature map.
    backbone = next(layer for layer in classifier.layers if isinstance(layer, keras.Model))
    scaled = classifier.get_layer("scale_to_unit_range")(image)
    with tf.GradientTape() as tape:
        features = backbone(scaled)
        tape.watch(features)
        pooled = classifier.get_layer("pool")(features)
        logit = tf.matmul(pooled, classifier.get_layer("melanoma_probability").kernel)
    weights = tf.reduce_mean(tape.gradient(logit, features), axis=(1, 2))
    grad_cam = tf.einsum("bhwc,bc->bhw", features, weights).numpy()
    ours = np.asarray(activation)[..., 0]
    scale = features.shape[1] * features.shape[2]  # our map is Grad-CAM times the map's area
    np.testing.assert_allclose(ours / scale, grad_cam, rtol=1e-3, atol=1e-6)


def test_probe_ensemble_averages_logits_and_decomposes_them() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from training.ensemble import build_ensemble, imagenet_features

    rng = np.random.default_rng(1)
    finetuned, backbone = build_classifier(64, None)
    features = imagenet_features(64, None)
    width = sum(int(m.shape[-1]) for m in features.outputs)
    rows = rng.normal(size=(40, width))
    scaler = StandardScaler().fit(rows)
    probe = LogisticRegression(max_iter=500).fit(scaler.transform(rows), np.arange(40) % 2)
    with pytest.raises(ValueError, match="cannot share"):
        build_ensemble(finetuned, features, scaler, probe)  # different early layers: no shared trunk
    imagenet = features.get_layer("imagenet_maps")
    for layer in backbone.layers[: [x.name for x in backbone.layers].index("block_6_expand")]:
        if layer.weights:  # as fine-tuning from block 6 leaves them
            layer.set_weights(imagenet.get_layer(layer.name).get_weights())
    ensemble = build_ensemble(finetuned, features, scaler, probe)
    assert gflops(ensemble) < gflops(finetuned) + gflops(features)  # the early layers run once
    image = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    probability, pooled, activation = (np.asarray(o) for o in ensemble(image))
    assert pooled.shape == (2, width) and activation.shape == (2, 2, 2, 1)  # the frozen features feed the gate

    tuned = np.asarray(finetuned(image))
    tuned_logit = np.log(tuned / (1 - tuned))[:, 0]
    maps = features(image)
    probe_input = np.concatenate([np.asarray(m).mean(axis=(1, 2)) for m in maps], axis=1)
    np.testing.assert_allclose(pooled, probe_input, rtol=1e-5, atol=1e-5)
    probe_logit = probe.decision_function(scaler.transform(probe_input))
    expected = 1 / (1 + np.exp(-(tuned_logit + probe_logit) / 2))
    np.testing.assert_allclose(probability[:, 0], expected, rtol=1e-4, atol=1e-5)
    # The activation map's mean is the ensemble logit without the two biases.
    dense_bias = finetuned.get_layer("melanoma_probability").get_weights()[1][0]
    bias = (dense_bias + probe.intercept_[0] - (scaler.mean_ / np.sqrt(scaler.var_)) @ probe.coef_[0]) / 2
    np.testing.assert_allclose(
        activation.mean(axis=(1, 2, 3)), (tuned_logit + probe_logit) / 2 - bias, rtol=1e-3, atol=1e-3
    )


def test_probe_classifier_is_the_probe_on_the_frozen_features() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from training.ensemble import build_probe_classifier, imagenet_features

    rng = np.random.default_rng(2)
    features = imagenet_features(96, None)
    width = sum(int(m.shape[-1]) for m in features.outputs)
    rows = rng.normal(size=(40, width))
    scaler = StandardScaler().fit(rows)
    probe = LogisticRegression(max_iter=500).fit(scaler.transform(rows), np.arange(40) % 2)
    classifier = build_probe_classifier(features, scaler, probe)
    assert classifier.input_shape == (None, 96, 96, 3)
    assert gflops(classifier) == pytest.approx(gflops(features), rel=0.01)  # nothing runs twice

    image = rng.uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    probability, pooled, activation = (np.asarray(o) for o in classifier(image))
    probe_input = np.concatenate([np.asarray(m).mean(axis=(1, 2)) for m in features(image)], axis=1)
    np.testing.assert_allclose(pooled, probe_input, rtol=1e-5, atol=1e-5)
    logit = probe.decision_function(scaler.transform(probe_input))
    np.testing.assert_allclose(probability[:, 0], 1 / (1 + np.exp(-logit)), rtol=1e-4, atol=1e-5)
    assert activation.shape == (2, 3, 3, 1)
    bias = probe.intercept_[0] - (scaler.mean_ / np.sqrt(scaler.var_)) @ probe.coef_[0]
    np.testing.assert_allclose(activation.mean(axis=(1, 2, 3)), logit - bias, rtol=1e-3, atol=1e-3)


def test_evaluation_names_how_a_model_was_chosen() -> None:
    from training.evaluate import _selection_note

    stage_1 = {"epoch": 13, "selection": "best epoch (13)", "data": "ISIC train/ selection part (403 images)"}
    note = _selection_note({"selection": {"stage_1": stage_1, "refit": "then 10 epochs on all of train/"}})
    assert note == "best epoch (13) on ISIC train/ selection part (403 images); then 10 epochs on all of train/"
    probe_only = {"selection": {"probe": {"ham_weight": 0.25, "c": 0.001}, "scores": {"mean": 0.85}}}
    assert _selection_note(probe_only) == "all on the selection parts: probe HAM weight 0.25 and C 0.001"


def test_recorded_command_leaves_out_local_scratch_folders() -> None:
    from training.cli import command_line

    recorded = command_line(["--data", "d", "--cache", "/tmp/x", "--cache=/tmp/y", "--epochs", "2"])
    assert recorded.endswith("--data d --epochs 2") and "/tmp" not in recorded
