"""Add the low-resolution member to the served classifier: choose its epoch and share, write version 4.

Example:
    python -m training.blend_low_resolution --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \
        --archive ../shared/data/isic_archive --isic2020 ../shared/data/isic2020 \
        --isic2019 ../shared/data/isic2019 --models models

Reads version 3 (``models/classifier.*``, unchanged: it stays the first member) and the epoch
checkpoints of ``training.train_low_resolution``. On each source's selection part it blends the two
raw logits, ``(1 - share) x version 3 + share x member``, for every epoch, flip views and share, and
keeps the one with the highest *worst* AUC among the parts that can judge it (see ``judged_sources``).
Writes ``models/classifier_lowres.keras`` (the reduction + the chosen trunk), its card, and the
``members`` entry of the classifier card; then run ``make calibrate export evaluate``.
Report parts are never read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import date
from pathlib import Path

import keras
import numpy as np
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from lesion.inference import LoadedModel, load_model
from lesion.model_card import read_card, write_card
from lesion.postprocessing import blend_members
from training.cli import command_line, existing_dir
from training.cost import gflops
from training.evaluate import batched_outputs
from training.low_resolution import LOW_SIDE, build_served_member, trunk_scores
from training.low_resolution_data import SOURCES, load_parts, reduced_cache

MEMBER = "classifier_lowres"
SHARE_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
#: Test-time flip views of the member (cheap at its size): none, or both flips.
VIEW_GRID = (1, 3)
#: A selection part judges a blend only with this many melanomas and this many benign lesions.
MIN_PER_CLASS = 20
#: Version 3's dermoscopy member memorised HAM10000, so its HAM10000 scores cannot be beaten fairly.
CONTAMINATED_FOR_VERSION_3 = ("ham10000",)
#: What the member adds to the card's ``training_data``.
EXTRA_TRAINING_DATA = ({"name": "ISIC 2019 / BCN20000 (84 px copy)", "licence": "CC BY-NC 4.0"},)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("data", "ham", "archive", "isic2020", "isic2019"):
        parser.add_argument(f"--{name}", type=existing_dir, required=True)
    parser.add_argument("--models", type=existing_dir, default=Path("models"))
    parser.add_argument(
        "--runs",
        type=existing_dir,
        nargs="+",
        default=[Path("build/low_resolution_runs")],
        help="training runs (train_low_resolution --runs); several are averaged, each a member of its own",
    )
    parser.add_argument("--grid-out", type=Path, default=Path("docs/low_resolution_selection.json"))
    parser.add_argument("--cache", type=Path, default=Path("build"), help="scratch folder of both training steps")
    return parser.parse_args(argv)


def judged_sources(labels: dict[str, np.ndarray]) -> list[str]:
    """The selection parts that can judge a gain over version 3: enough of both classes, not contaminated."""
    return [
        name
        for name, truth in labels.items()
        if name not in CONTAMINATED_FOR_VERSION_3 and MIN_PER_CLASS <= truth.sum() <= len(truth) - MIN_PER_CLASS
    ]


def base_raw(classifier: LoadedModel, paths: tuple[Path, ...], cache: Path) -> np.ndarray:
    """Version 3's raw (uncalibrated) output on image files, through the served runtime; cached by content."""
    source = classifier.card.raw.get("tflite", {}).get("keras_sha256", classifier.card.version)
    digest = hashlib.sha256("\n".join([source, *map(str, paths)]).encode())
    path = cache / f"{digest.hexdigest()[:16]}.npy"
    if path.is_file():
        return np.load(path)
    raw = batched_outputs(
        lambda batch: classifier.predict(batch)[:, 0], paths, classifier.card.input_size, desc="version 3"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, raw)
    return np.load(path)


def blend_grid(
    labels: dict[str, np.ndarray], base: dict[str, np.ndarray], candidates: dict[tuple[int, int], dict[str, np.ndarray]]
) -> list[dict]:
    """Selection AUC per source of every (epoch, views) candidate at every share, with the gain over version 3."""
    version_3 = {
        name: float(roc_auc_score(truth, base[name])) for name, truth in labels.items() if 0 < truth.sum() < len(truth)
    }
    rows = []
    for (epoch, views), member in sorted(candidates.items()):
        for share in SHARE_GRID:
            aucs = {
                name: float(roc_auc_score(labels[name], blend_members([base[name], member[name]], [1 - share, share])))
                for name in version_3
            }
            rows.append(
                {
                    "epoch": epoch,
                    "views": views,
                    "share": share,
                    "auc": {name: round(value, 4) for name, value in aucs.items()},
                    "gain": {name: round(value - version_3[name], 4) for name, value in aucs.items()},
                }
            )
    return rows


def choose(rows: list[dict], judges: list[str]) -> dict:
    """The (epoch, views, share) with the highest worst AUC over the judging parts (ties: highest mean AUC)."""
    return max(
        (row for row in rows if row["share"] > 0),
        key=lambda row: (min(row["auc"][j] for j in judges), float(np.mean([row["auc"][j] for j in judges]))),
    )


def member_names(runs: int) -> list[str]:
    """The members' names (and file stems): one per training run, the first without a suffix."""
    return [MEMBER if index == 0 else f"{MEMBER}_{index + 1}" for index in range(runs)]


def run_candidates(
    runs: list[Path], histories: list[dict], reduced: dict[str, np.ndarray]
) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """Each (epoch, views): the runs' checkpoints of that epoch, their logits averaged, on every selection part."""
    candidates = {}
    for record in tqdm(histories[0]["history"], desc="member checkpoints", file=sys.stderr):
        trunks = [keras.models.load_model(run / f"epoch_{record['epoch']:02d}.keras") for run in runs]
        for views in VIEW_GRID:
            scores = [trunk_scores(trunk, reduced, views) for trunk in trunks]
            candidates[(record["epoch"], views)] = {
                name: blend_members([score[name] for score in scores], [1 / len(runs)] * len(runs)) for name in reduced
            }
    return candidates


def write_member(models: Path, name: str, run: Path, history: dict, chosen: dict, card: dict) -> keras.Model:
    """Save one run's chosen checkpoint as a served member (reduction + trunk) with its card."""
    trunk = keras.models.load_model(run / f"epoch_{chosen['epoch']:02d}.keras")
    served = build_served_member(trunk, int(card["input_size"]))
    served.save(models / f"{name}.keras")
    write_card(
        models / f"{name}.json",
        {
            "name": name,
            "version": f"{date.today().isoformat()}-lowres-mobilenetv2-{LOW_SIDE}",
            "file": f"{name}.keras",
            "task": "a member of the served classifier (never served alone): raw P(melanoma)",
            "input_size": card["input_size"],
            "threshold": 0.5,
            "test_time_views": chosen["views"],
            "preprocessing": card["preprocessing"] + f"; in the graph: 2x2 average, then bilinear to {LOW_SIDE} px",
            "architecture": f"MobileNetV2 (ImageNet, fine-tuned from block 6, batch norm frozen) at {LOW_SIDE} px",
            "data": {"fit": history["fit"], "selection": "each source's selection part (the classifier card)"},
            "gflops_per_image": gflops(served),
            "training": {
                "command": history["command"],
                "blend_command": command_line(),
                "source_shares": history["shares"],
                "epoch": chosen["epoch"],
                "history": history["history"],
            },
            "training_data": [*card["training_data"][:4], *EXTRA_TRAINING_DATA],
            "date": date.today().isoformat(),
        },
    )
    return served


def version_4_card(card: dict, names: list[str], member_gflops: float, chosen: dict) -> None:
    """Turn the version 3 card into version 4's: name, architecture, cost and the members' shares."""
    share = chosen["share"]
    card["version"] = f"{date.today().isoformat()}-v4-mobilenetv2-xception-lowres{LOW_SIDE}-{card['input_size']}"
    version_3 = card.setdefault("version_3_architecture", card["architecture"])
    runs = f"{len(names)} runs' logits averaged" if len(names) > 1 else "one run"
    card["architecture"] = (
        f"version 4: sigmoid({1 - share:.1f} x logit(version 3) + {share:.1f} x logit(low-resolution member)); "
        f"low-resolution member ({', '.join(names)}; {runs}): the same model-sized input reduced in the graph "
        f"(2x2 average, bilinear to {LOW_SIDE} px), MobileNetV2 fine-tuned from block 6 on every source's fit part; "
        f"{version_3}"
    )
    version_3_gflops = card.setdefault("version_3_gflops_per_image", card["gflops_per_image"])
    card["gflops_per_image"] = round(version_3_gflops + len(names) * member_gflops, 3)
    card["gflops_per_image_with_views"] = round(version_3_gflops + len(names) * chosen["views"] * member_gflops, 3)
    card["date"] = date.today().isoformat()
    card["members"] = [{"name": name, "share": round(share / len(names), 6)} for name in names]
    card["data"]["third_source"] = (
        "ISIC 2019 / BCN20000 extra, 84 px copies (Combalia et al., arXiv:1908.02288), CC BY-NC 4.0, cut by lesion "
        "(training.sources.isic2019_parts): fit and selection parts for the low-resolution member, the report "
        "part only reported"
    )
    listed = {entry["name"] for entry in card["training_data"]}
    card["training_data"] += [entry for entry in EXTRA_TRAINING_DATA if entry["name"] not in listed]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    parts = load_parts(args)
    labels = {name: parts[name]["select"].melanoma for name in SOURCES}
    version_3 = load_model(args.models, "classifier")
    base = {name: base_raw(version_3, parts[name]["select"].paths, args.cache / "version3_scores") for name in SOURCES}
    histories = [json.loads((run / "history.json").read_text()) for run in args.runs]
    input_size = read_card(args.models / "classifier.json").input_size
    cache = args.cache / "low_resolution_cache"
    reduced = {name: reduced_cache(parts[name]["select"], input_size, cache / f"{name}-select")[0] for name in SOURCES}
    candidates = run_candidates(args.runs, histories, reduced)
    rows = blend_grid(labels, base, candidates)
    judges = judged_sources(labels)
    chosen = choose(rows, judges)
    print(json.dumps(chosen), file=sys.stderr)

    card_path = args.models / "classifier.json"
    card = read_card(card_path).raw
    names = member_names(len(args.runs))
    served = [
        write_member(args.models, name, run, history, chosen, card)
        for name, run, history in zip(names, args.runs, histories, strict=True)
    ]
    version_4_card(card, names, gflops(served[0]), chosen)
    card["training"]["low_resolution_commands"] = [*(history["command"] for history in histories), command_line()]
    card["member_selection"] = {
        "rule": f"highest worst AUC over the selection parts of {', '.join(judges)} (parts with at least "
        f"{MIN_PER_CLASS} melanomas and {MIN_PER_CLASS} benign; HAM10000 left out: version 3 memorised it); "
        "ties: highest mean AUC",
        "chosen": chosen,
        "best_share_per_candidate": [
            max(
                (r for r in rows if (r["epoch"], r["views"]) == key and r["share"] > 0),
                key=lambda r: min(r["auc"][j] for j in judges),
            )
            for key in sorted(candidates)
        ],
        "full_grid": str(args.grid_out),
        "command": command_line(),
    }
    args.grid_out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    write_card(card_path, card)


if __name__ == "__main__":
    main()
