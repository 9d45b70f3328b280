"""Self-train the segmenter on other clinics' photos: the teacher's confident outlines as extra masks.

Example:
    python -m training.self_train_segmenter --data ../shared/data/isic2017 --ham ../shared/data/ham10000 \
        --isic2020 ../shared/data/isic2020 --archive ../shared/data/isic_archive

The teacher (the segmenter in ``--teacher``, by default the one ``make train-segmenter`` wrote)
outlines photos without masks from the HAM10000 fit part, the ISIC 2020 fit and selection
patients and the ISIC archive extra (``training.pseudo_masks``). The student starts from the
teacher's weights and trains a fixed number of epochs on all ISIC ``train/`` masks plus the
confident pseudo-masks, with the other-clinic augmentation (colour cast, wider scale,
resolution loss); its last weights are kept, so ISIC ``val/`` chooses nothing. The flip views
served are chosen on the ISIC ``train/`` selection part (which the teacher was fitted on: the
comparison is between views of one model, not a score to report).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np

from lesion.model_card import read_card, write_card
from training.callbacks import ProgressBar, ValidationCheckpoint
from training.cli import HAM10000, existing_dir, run_record, start_run, training_parser, write_history
from training.data import IsicSplit, segmentation_dataset
from training.pseudo_masks import unlabelled_sources, write_pseudo_masks
from training.splits import split_isic
from training.train_segmenter import compile_for, mask_scorer

ISIC_2020 = {"name": "ISIC 2020 challenge data (photos only, no labels used)", "licence": "CC BY-NC 4.0"}
ISIC_ARCHIVE = {"name": "ISIC archive (photos only, no labels used)", "licence": "CC-0 or CC BY (per image)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = training_parser(__doc__.splitlines()[0], image_size=224, epochs=8, out="models/segmenter.keras")
    parser.add_argument("--ham", type=existing_dir, default=None, help="HAM10000 folder (photos of its fit part)")
    parser.add_argument("--isic2020", type=existing_dir, default=None, help="ISIC 2020 folder (fit + selection)")
    parser.add_argument("--archive", type=existing_dir, default=None, help="ISIC archive extra folder")
    parser.add_argument("--teacher", type=Path, default=Path("models/segmenter.keras"), help="segmenter + card")
    parser.add_argument("--per-source", type=int, default=1000, help="candidate photos judged per source")
    parser.add_argument("--keep-share", type=float, default=1.0, help="share of confident photos kept")
    parser.add_argument("--learning-rate", type=float, default=3e-4, help="peak learning rate of the student")
    parser.add_argument(
        "--pseudo-dir", type=Path, default=Path("models/.checkpoints/pseudo-masks"), help="where masks are written"
    )
    args = parser.parse_args(argv)
    if args.ham is None and args.isic2020 is None and args.archive is None:
        parser.error("give at least one of --ham, --isic2020, --archive")
    if not 0 < args.keep_share <= 1:
        parser.error("--keep-share must be in (0, 1]")
    return args


def concatenate(first: IsicSplit, second: IsicSplit) -> IsicSplit:
    """Two mask splits as one."""
    return IsicSplit(
        first.image_ids + second.image_ids,
        first.image_paths + second.image_paths,
        first.mask_paths + second.mask_paths,
        np.concatenate([first.melanoma, second.melanoma]),
        np.concatenate([first.keratosis, second.keratosis]),
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    train, val = start_run(args)
    teacher_card = read_card(args.teacher.with_suffix(".json")).raw
    teacher = keras.models.load_model(args.teacher, compile=False)
    sources = unlabelled_sources(args.ham, args.isic2020, args.archive, args.per_source)
    if args.limit:
        sources = {name: paths[: args.limit] for name, paths in sources.items()}
    pseudo, counts = write_pseudo_masks(teacher, sources, args.pseudo_dir, args.image_size, args.keep_share)
    print(f"pseudo-masks: {counts}")
    _, select = split_isic(train)
    mixture = concatenate(train, pseudo)
    steps = int(np.ceil(len(mixture) / args.batch_size))
    data = segmentation_dataset(
        mixture, args.image_size, args.batch_size, training=True, seed=args.seed, other_clinics=True
    )
    score = mask_scorer(select, args.image_size)
    student = teacher  # starts from the teacher's weights; the teacher's verdicts are already on disk
    compile_for(student, args.learning_rate, args.epochs, steps)
    checkpoint_dir = args.out.parent / ".checkpoints"
    # Scores every epoch for the record (and saves every epoch's weights); it chooses nothing.
    log = ValidationCheckpoint(
        score, "jaccard", checkpoint_dir / "student-best-on-selection.keras", checkpoint_dir, "student"
    )
    student.fit(data, epochs=args.epochs, verbose=0, callbacks=[ProgressBar(args.epochs, steps, "U-Net student"), log])
    views = {count: score(student, count) for count in (1, 2, 3)}
    chosen_views = max(views, key=lambda count: (round(views[count]["jaccard"], 3), -count))
    student.save(args.out)  # uncompiled: no optimizer state in the shipped file
    write_history(args.out, log.history)
    card = dict(teacher_card)
    record = run_record(args, train, val)
    card.update(
        version=f"{record['date']}-unet-mobilenetv2-{args.image_size}-self-trained",
        file=args.out.name,
        test_time_views=chosen_views,
        augmentation="flips, 90-degree turns, affine, colour jitter; other clinics: scale 0.75-1.35, colour cast, "
        "resolution loss",
        training_data=[*teacher_card["training_data"], *_unlabelled_entries(args)],
        selection={
            "teacher": teacher_card.get("selection") or teacher_card.get("validation", {}).get("selection"),
            "student": f"{args.epochs} epochs from the teacher's weights on all {len(train)} train/ masks and "
            f"{len(pseudo)} pseudo-masks, peak learning rate {args.learning_rate:g}; the last weights are kept "
            "(chosen on nothing)",
            "test_time_views": f"{chosen_views}, the best mean Jaccard of 1-3 flip views on the ISIC train/ selection "
            f"part ({len(select)} images; the teacher was fitted on them): "
            + ", ".join(f"{count}: {scores['jaccard']:.4f}" for count, scores in views.items()),
        },
        pseudo_masks={
            "teacher": teacher_card["version"],
            "rule": "three flip views agree (IoU >= 0.93), uncertain pixels (0.1-0.9) <= 35% of the lesion's, "
            f"lesion 2-90% of the frame; the most confident {args.keep_share:.0%} of those kept",
            "sources": counts,
        },
    )
    card["data"] = dict(record["data"], parts={"train_masks": len(train), "pseudo_masks": len(pseudo)})
    card["training"] = dict(
        record["training"],
        teacher_command=teacher_card["training"]["command"],
        teacher_epochs=teacher_card["training"]["epochs"],
    )
    card["training"].pop("backbone_weights", None)  # the student builds no backbone: it is the teacher's
    card["date"] = record["date"]
    for stale in ("validation", "tflite"):
        card.pop(stale, None)  # training.evaluate and export_tflite write these for the new weights
    write_card(args.out.with_suffix(".json"), card)
    print(f"wrote {args.out} and its card; views on the selection part: {views}")


def _unlabelled_entries(args: argparse.Namespace) -> list[dict[str, str]]:
    entries = []
    if args.ham is not None:
        entries.append(dict(HAM10000, name="HAM10000 (photos only, no labels used)"))
    if args.isic2020 is not None:
        entries.append(ISIC_2020)
    if args.archive is not None:
        entries.append(ISIC_ARCHIVE)
    return entries


if __name__ == "__main__":
    main()
