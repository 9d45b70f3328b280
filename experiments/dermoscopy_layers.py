"""Which of sklesion's Xception layers should the dermoscopy probe read? Selection parts only.

Example:
    python -m experiments.dermoscopy_layers --data ../shared/data/isic2017 \
        --archive ../shared/data/isic_archive --isic2020 ../shared/data/isic2020 \
        --base path/to/version-2/classifier.keras --cache /tmp/layers

The shipped member (classifier version 3) fits its probe on the pooled last layer, which
sklesion trained for HAM10000's seven classes. Earlier layers may carry better across clinics.
This pools several block outputs once (the served preprocessing, the trunk at 224 px), fits the
same probe on each layer set with ``training.train_dermoscopy.choose``'s grid and rule, and
prints each set's selection AUCs (ISIC ``train/`` selection part, ISIC 2020 selection patients,
archive selection images). No report part is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from lesion.preprocessing import prepare_image
from training.cli import existing_dir
from training.dermoscopy import SIX_LAYERS, base_logit_model, dermoscopy_trunk, pooled_trunk, sklesion_model_path
from training.train_dermoscopy import PartFeatures, choose, selection_parts

#: Pooled block outputs: end of the entry flow, middle of and end of the middle flow, exit flow, last.
LAYERS = SIX_LAYERS
LAYER_SETS = {
    "last (shipped)": ("block14_sepconv2_act",),
    "exit flow": ("add_11", "block14_sepconv1_act", "block14_sepconv2_act"),
    "middle + last": ("add_6", "add_10", "block14_sepconv2_act"),
    "all six": LAYERS,
    "middle only": ("add_6", "add_10"),
}


def layer_model(sklesion: Path, side: int) -> tuple[keras.Model, list[int]]:
    """The served member's trunk over all six ``LAYERS``, pooled, and each layer's channel count."""
    trunk = dermoscopy_trunk(sklesion, side, LAYERS)
    widths = [int(trunk.get_layer("xception").get_layer(name).output.shape[-1]) for name in LAYERS]
    return pooled_trunk(trunk), widths


def pooled(name, images, base, member, widths, side, cache: Path) -> dict[str, np.ndarray]:
    path = cache / f"layers-{name}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {key: stored[key] for key in stored.files}
    logits, features = [], {layer: [] for layer in LAYERS}
    for start in tqdm(range(0, len(images), 32), desc=name, file=sys.stderr):
        batch = np.stack([prepare_image(p, side)[0] for p in images.paths[start : start + 32]]).astype(np.float32)
        logits.append(np.asarray(base.predict_on_batch(batch)[0])[:, 0])
        stacked = np.asarray(member.predict_on_batch(batch))
        for layer, output in zip(LAYERS, np.split(stacked, np.cumsum(widths)[:-1], axis=1), strict=True):
            features[layer].append(output)
    result = {"base_logit": np.concatenate(logits), **{k: np.concatenate(v) for k, v in features.items()}}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **result)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=existing_dir, required=True)
    parser.add_argument("--archive", type=existing_dir, required=True)
    parser.add_argument("--isic2020", type=existing_dir, required=True)
    parser.add_argument("--base", type=Path, required=True, help="the version-2 classifier.keras (no member)")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("experiments/results/dermoscopy_layers.json"))
    args = parser.parse_args(argv)
    base = base_logit_model(keras.models.load_model(args.base, compile=False))
    member, widths = layer_model(sklesion_model_path(), 224)
    parts = selection_parts(args)
    stored = {name: pooled(name, images, base, member, widths, 224, args.cache) for name, images in parts.items()}
    results = {}
    for label, chosen_layers in LAYER_SETS.items():
        features = {
            name: PartFeatures(
                parts[name].melanoma, stored[name]["base_logit"], np.hstack([stored[name][k] for k in chosen_layers])
            )
            for name in parts
        }
        best = choose(features)
        results[label] = {
            "layers": list(chosen_layers),
            "c": best["c"],
            "base_share": best["share"],
            "worst": best["score"][0],
            "mean": round(best["score"][1], 4),
            "chosen": best["grid"][f"C={best['c']}, base_share={best['share']}"],
        }
        print(label, json.dumps(results[label]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
