"""Which frozen ImageNet MobileNetV2 layers make the best melanoma probe, judged on the selection parts.

Example:
    python -m experiments.probe_layers --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \
        --backbone-weights ../shared/weights/mobilenet_v2_1.0_imagenet_no_top.weights.h5

For each candidate layer set, HAM10000 weight and C: a probe fitted on the fit parts of
``training.splits`` and its AUC on the ISIC and HAM10000 selection parts. ISIC ``val/``
and the held-out HAM10000 lesions are not read. ``training.ensemble.PROBE_LAYERS`` is
the set that won here. ``--lite`` probes an EfficientNet-Lite's block outputs the same way,
for a like-for-like comparison of backbones; ``--image-size`` probes at another input size
(e.g. a larger backbone at the size that fits the FLOP budget). Writes a JSON report.
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import date
from pathlib import Path

import keras
import numpy as np
from keras import layers
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from experiments.efficientnet_lite import build_efficientnet_lite
from training.cli import backbone_weights, existing_dir
from training.data import model_inputs, read_split
from training.ensemble import fit_probe, imagenet_features
from training.splits import classifier_parts

IMAGE_SIZE = 224
CANDIDATES = (
    "block_6_project_BN",
    "block_9_add",
    "block_10_project",
    "block_12_add",
    "block_13_expand_relu",
    "block_14_add",
    "block_15_add",
    "block_16_project",
    "out_relu",
)
#: Layer sets by name, as indices into ``CANDIDATES``; ``+max`` adds global max pooling of those layers.
LAYER_SETS = {
    "version_1_four": (2, 4, 6, 8),
    "version_1_four+max": (2, 4, 6, 8),
    "last_three": (6, 7, 8),
    "all_nine": tuple(range(9)),
    "middle_seven": (1, 2, 3, 4, 5, 6, 8),
}
PARTS = ("isic_fit", "ham_fit", "isic_select", "ham_select")


def lite_maps(weights_npz: Path, side: int = IMAGE_SIZE) -> keras.Model:
    """Frozen ImageNet EfficientNet-Lite from uint8-valued RGB to its candidate maps (its own scaling inside).

    The candidates, the counterpart of ``all_nine``: every residual block output at 1/16 and
    1/32 of the input, then the head (Lite0: blocks 6, 7, 9, 10, 12, 13, 14 and the head).
    """
    base = build_efficientnet_lite(weights_npz, (side, side, 3), include_top=False)
    grid_at_16 = math.ceil(side / 16)  # "same" padding rounds up
    deep = [
        layer.name
        for layer in base.layers
        if layer.name.startswith("block") and layer.name.endswith("_add") and layer.output.shape[1] <= grid_at_16
    ]
    return keras.Model(base.input, [base.get_layer(name).output for name in [*deep, "head_relu"]])


def pooled_candidates(maps_model: keras.Model, images: np.ndarray, batch_size: int = 32) -> list[np.ndarray]:
    """Mean- then max-pooled activations of every candidate map, one array per map and pooling."""
    maps = maps_model.outputs
    pooled = [layers.GlobalAveragePooling2D()(m) for m in maps] + [layers.GlobalMaxPooling2D()(m) for m in maps]
    model = keras.Model(maps_model.inputs, pooled)
    rows = []
    for start in tqdm(range(0, len(images), batch_size), desc="candidate features", unit="batch"):
        outputs = model.predict_on_batch(images[start : start + batch_size].astype("float32"))
        rows.append([np.asarray(o) for o in outputs])
    return [np.concatenate([row[j] for row in rows]) for j in range(len(pooled))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True)
    parser.add_argument("--ham", type=existing_dir, required=True)
    parser.add_argument("--backbone-weights", type=backbone_weights, default="imagenet")
    parser.add_argument("--cache", type=Path, default=None, help="npz to keep the features in between runs")
    parser.add_argument(
        "--lite", type=Path, default=None, help="EfficientNet-Lite .npz: probe its block outputs instead"
    )
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE, help="input side in pixels")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/probe_layers.json"))
    args = parser.parse_args(argv)
    parts = classifier_parts(read_split(args.data / "train"), read_split(args.data / "val"), args.ham)
    maps = (
        lite_maps(args.lite, args.image_size)
        if args.lite
        else imagenet_features(args.image_size, args.backbone_weights, CANDIDATES)
    )
    if args.cache and args.cache.is_file():
        features = dict(np.load(args.cache))
    else:
        features = {}
        for name in PARTS:
            pooled = pooled_candidates(maps, model_inputs(getattr(parts, name).paths, args.image_size))
            features.update({f"{name}/{j}": values for j, values in enumerate(pooled)})
        if args.cache:
            np.savez(args.cache, **features)
    labels = {name: getattr(parts, name).melanoma for name in PARTS}
    candidates = tuple(maps.output_names) if args.lite else CANDIDATES
    layer_sets = {f"all_{len(candidates)}": tuple(range(len(candidates)))} if args.lite else LAYER_SETS
    backbone = args.lite.stem if args.lite else "mobilenet_v2_imagenet"
    report = {
        "date": date.today().isoformat(),
        "backbone": backbone,
        "image_size": args.image_size,
        "candidates": candidates,
        "results": {},
    }
    for set_name, chosen in layer_sets.items():
        columns = list(chosen) + ([len(candidates) + j for j in (6, 8)] if set_name.endswith("+max") else [])

        def stack(part: str, columns: list[int] = columns) -> np.ndarray:
            return np.concatenate([features[f"{part}/{j}"] for j in columns], axis=1)

        fit = np.concatenate([stack("isic_fit"), stack("ham_fit")])
        truth = np.concatenate([labels["isic_fit"], labels["ham_fit"]])
        for ham_weight in (0.25, 1.0):
            weights = np.concatenate([np.ones(len(labels["isic_fit"])), np.full(len(labels["ham_fit"]), ham_weight)])
            for c in (0.0003, 0.001):
                scaler, probe = fit_probe(fit, truth, weights, c)
                aucs = {
                    part: round(
                        float(roc_auc_score(labels[part], probe.decision_function(scaler.transform(stack(part))))), 4
                    )
                    for part in ("isic_select", "ham_select")
                }
                aucs["mean"] = round(float(np.mean(list(aucs.values()))), 4)
                report["results"][f"{set_name} / ham_weight={ham_weight} / C={c}"] = aucs
                print(set_name, ham_weight, c, aucs, flush=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
