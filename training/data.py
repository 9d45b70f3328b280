"""ISIC folder reading and the tf.data pipelines (decode once, cache uint8, augment)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from lesion.preprocessing import decode_image, prepare_image, resize_for_model


@dataclass(frozen=True)
class IsicSplit:
    """The files and labels of one ISIC split folder (``images/``, ``masks/``, ``labels.csv``)."""

    image_ids: tuple[str, ...]
    image_paths: tuple[Path, ...]
    mask_paths: tuple[Path, ...]
    melanoma: np.ndarray
    keratosis: np.ndarray

    def __len__(self) -> int:
        return len(self.image_ids)

    def subset(self, index: np.ndarray) -> IsicSplit:
        """The images at ``index`` (positions), in that order."""
        return IsicSplit(
            tuple(self.image_ids[i] for i in index),
            tuple(self.image_paths[i] for i in index),
            tuple(self.mask_paths[i] for i in index),
            self.melanoma[index],
            self.keratosis[index],
        )


def read_split(folder: Path) -> IsicSplit:
    """List an ISIC split folder, checking that every labelled image and mask exists."""
    folder = Path(folder)
    labels_path = folder / "labels.csv"
    if not labels_path.is_file():
        raise FileNotFoundError(f"{labels_path} does not exist; expected an ISIC split folder")
    with labels_path.open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: row["image_id"])
    ids = tuple(row["image_id"] for row in rows)
    images = tuple(folder / "images" / f"{image_id}.jpg" for image_id in ids)
    masks = tuple(folder / "masks" / f"{image_id}_segmentation.png" for image_id in ids)
    missing = [str(path) for path in images + masks if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} files listed in {labels_path} are missing, e.g. {missing[0]}")
    melanoma = np.array([int(float(row["melanoma"])) for row in rows], dtype=np.float32)
    keratosis = np.array([int(float(row.get("seborrheic_keratosis") or 0)) for row in rows], dtype=np.float32)
    return IsicSplit(ids, images, masks, melanoma, keratosis)


def load_mask(path: Path, side: int | None = None) -> np.ndarray:
    """Read a 0/255 lesion mask as a uint8 array, optionally resized to ``side``."""
    grey = decode_image(path, min_side=1).rgb[..., 0]
    if side is not None:
        grey = resize_for_model(np.repeat(grey[..., None], 3, axis=2), side)[..., 0]
    return np.where(grey > 127, 255, 0).astype(np.uint8)


def _model_images(paths: tuple[Path, ...], side: int) -> tf.data.Dataset:
    """Stream images from disk through the shared preprocessing (cached after one pass)."""

    def read(path: tf.Tensor) -> np.ndarray:
        return prepare_image(path.numpy().decode(), side)[0]

    def load(path: tf.Tensor) -> tf.Tensor:
        image = tf.py_function(read, [path], tf.uint8)
        image.set_shape((side, side, 3))
        return image

    names = tf.data.Dataset.from_tensor_slices([str(path) for path in paths])
    return names.map(load, num_parallel_calls=tf.data.AUTOTUNE)


def model_inputs(paths: Sequence[Path], side: int) -> np.ndarray:
    """Image files as one uint8 NHWC array, through the shared preprocessing."""
    return np.stack([image.numpy() for image in _model_images(tuple(paths), side)])


def _model_masks(paths: tuple[Path, ...], side: int) -> tf.data.Dataset:
    def read(path: tf.Tensor) -> np.ndarray:
        return load_mask(Path(path.numpy().decode()), side)[..., None]

    def load(path: tf.Tensor) -> tf.Tensor:
        mask = tf.py_function(read, [path], tf.uint8)
        mask.set_shape((side, side, 1))
        return mask

    names = tf.data.Dataset.from_tensor_slices([str(path) for path in paths])
    return names.map(load, num_parallel_calls=tf.data.AUTOTUNE)


def _affine_matrix(side: int, max_degrees: float, scale_range: tuple[float, float], shift: float) -> tf.Tensor:
    """A random rotation/scale/shift about the centre, as the 8 projective parameters."""
    angle = tf.random.uniform((), -max_degrees, max_degrees) * math.pi / 180.0
    scale = tf.random.uniform((), *scale_range)
    shift_xy = tf.random.uniform((2,), -shift, shift) * side
    centre = (side - 1) / 2.0
    # Output pixel -> input pixel: x_in = A (x_out - c) / s + c + t
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    offset_x = centre - cos * centre + sin * centre + shift_xy[0]
    offset_y = centre - sin * centre - cos * centre + shift_xy[1]
    return tf.stack([cos, -sin, offset_x, sin, cos, offset_y, 0.0, 0.0])


def _transform(image: tf.Tensor, matrix: tf.Tensor, interpolation: str) -> tf.Tensor:
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=matrix[None],
        output_shape=tf.shape(image)[:2],
        fill_value=0.0,
        interpolation=interpolation,
        fill_mode="REFLECT",
    )[0]


def augment(
    image: tf.Tensor, mask: tf.Tensor | None = None, *, other_clinics: bool = False
) -> tuple[tf.Tensor, tf.Tensor | None]:
    """Dermoscopy augmentation: flips, 90° turns, small affine, colour jitter.

    Dermoscopy has no canonical orientation, so every flip and turn is label-preserving.
    The mask (if any) gets exactly the same geometric transform as the image. With
    ``other_clinics``, also what differs between clinics: wider scale, a colour cast (per-channel
    gain, as another camera's white balance) and resolution loss.
    """
    side = image.shape[0]
    image = tf.cast(image, tf.float32)
    stacked = image if mask is None else tf.concat([image, tf.cast(mask, tf.float32)], axis=-1)
    stacked = tf.cond(tf.random.uniform(()) < 0.5, lambda: tf.reverse(stacked, [1]), lambda: stacked)
    stacked = tf.image.rot90(stacked, tf.random.uniform((), 0, 4, dtype=tf.int32))
    scales = (0.75, 1.35) if other_clinics else (0.85, 1.25)
    matrix = _affine_matrix(side, max_degrees=20.0, scale_range=scales, shift=0.06)
    stacked = _transform(stacked, matrix, "BILINEAR")
    image = stacked[..., :3]
    if other_clinics:
        image = resolution_jitter(image * tf.random.uniform((1, 1, 3), 0.85, 1.15))
    image = tf.image.random_brightness(image, 0.12 * 255)
    image = tf.image.random_contrast(image, 0.8, 1.2)
    image = tf.image.random_saturation(image, 0.8, 1.2)
    image = tf.image.random_hue(image, 0.03)
    image = tf.clip_by_value(image, 0.0, 255.0)
    if mask is None:
        return image, None
    return image, tf.cast(stacked[..., 3:] > 127.5, tf.float32)


def resolution_jitter(image: tf.Tensor, smallest: float = 0.55, chance: float = 0.5) -> tf.Tensor:
    """Sometimes shrink the image to a random fraction of its side and enlarge it back.

    ISIC 2017 images arrive at 256 px and HAM10000 at 200x150: blurring some of each makes the
    model see detail at every scale it will meet, rather than learning which clinic a photo is from.
    """
    side = image.shape[0]

    def degrade() -> tf.Tensor:
        small = tf.cast(tf.round(side * tf.random.uniform((), smallest, 1.0)), tf.int32)
        shrunk = tf.image.resize(image, (small, small), method="area")
        return tf.image.resize(shrunk, (side, side), method="bilinear")

    return tf.cond(tf.random.uniform(()) < chance, degrade, lambda: image)


def segmentation_dataset(
    split: IsicSplit, side: int, batch_size: int, *, training: bool, seed: int, other_clinics: bool = False
) -> tf.data.Dataset:
    """Batches of (RGB float in [0, 255], mask 0/1 float) at ``side``; ``other_clinics`` as in ``augment``."""
    pairs = tf.data.Dataset.zip(_model_images(split.image_paths, side), _model_masks(split.mask_paths, side)).cache()
    if training:
        pairs = pairs.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
        pairs = pairs.map(lambda x, m: augment(x, m, other_clinics=other_clinics), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        pairs = pairs.map(lambda x, m: (tf.cast(x, tf.float32), tf.cast(m > 127, tf.float32)))
    return pairs.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def mixed_classification_dataset(
    sources: Sequence[tuple[Sequence[Path], np.ndarray, float]], side: int, batch_size: int, *, seed: int
) -> tf.data.Dataset:
    """Endless augmented batches of (RGB float in [0, 255], melanoma, weight) drawn from several sources.

    Each source is ``(paths, melanoma labels, share)``: a batch holds about ``share`` of its images
    from that source, whatever its size, so a big second clinic cannot swamp the first. The weights
    balance the two classes over the mixture (mean weight 1).
    """
    shares = np.array([share for _, _, share in sources], dtype=np.float64)
    if len(sources) == 0 or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"Need at least one source with a positive share. Received shares={shares.tolist()}")
    shares = shares / shares.sum()
    positive = float(sum(share * np.mean(labels) for (_, labels, _), share in zip(sources, shares, strict=True)))
    positive = min(max(positive, 1e-3), 1 - 1e-3)
    streams = []
    for index, (paths, labels, _) in enumerate(sources):
        labels = np.asarray(labels, np.float32)
        weights = np.where(labels > 0.5, 0.5 / positive, 0.5 / (1 - positive)).astype(np.float32)
        images = _model_images(tuple(paths), side).cache()
        pairs = tf.data.Dataset.zip(images, tf.data.Dataset.from_tensor_slices((labels, weights)))
        streams.append(pairs.shuffle(len(labels), seed=seed + index, reshuffle_each_iteration=True).repeat())
    mixed = tf.data.Dataset.sample_from_datasets(streams, weights=shares.tolist(), seed=seed)
    mixed = mixed.map(lambda x, t: (resolution_jitter(augment(x)[0]), *t), num_parallel_calls=tf.data.AUTOTUNE)
    return mixed.batch(batch_size).prefetch(tf.data.AUTOTUNE)
