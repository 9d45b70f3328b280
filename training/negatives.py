"""Photos that are not dermoscopy, from sources anyone can install, for fitting the quality gate.

Two kinds, as the gate reports them:
- ``skin_photo``: regular (clinical) close-ups of skin: smartphone photos of skin lesions
  (PAD-UFES-20, ``clinical_photos``, split by patient), face crops from installed portraits and
  rendered skin with a mole, hairs and pores under everyday light, with no dermoscope vignette.
- ``not_skin``: everything else: installed photos (scikit-image, scikit-learn and matplotlib
  samples, Debian's ``gnome-backgrounds`` and ``mate-backgrounds``), rendered text and
  screenshots, solid colours, gradients and noise.

Every photo is tagged with a ``group`` (the base photo or generator seed it came from); the
gate is fitted on some groups and scored on the others, so a held-out figure never sees a crop
of a photo it was fitted on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SKIN_PHOTO = "skin_photo"
NOT_SKIN = "not_skin"
#: Folders of installed wallpapers (Debian's gnome-backgrounds and mate-backgrounds).
WALLPAPER_DIRS = (Path("/usr/share/backgrounds"),)
_RASTER_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: scikit-image sample photos that ship with the package (no download).
SKIMAGE_PHOTOS = (
    "astronaut", "brick", "camera", "cat", "cell", "checkerboard", "clock", "coffee", "coins", "colorwheel",
    "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms", "moon",
    "page", "retina", "rocket", "text",
)  # fmt: skip
#: Installed photos of people (the face cascade also fires on cat fur and wallpaper patterns).
PORTRAITS = ("scikit-image/astronaut", "matplotlib/grace_hopper.jpg")
_FONT_NAMES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf")
_SKIN_TONES = np.array(
    [[255, 224, 196], [241, 194, 167], [224, 172, 140], [198, 134, 103], [161, 102, 72], [120, 76, 52], [88, 56, 40]],
    np.float32,
)


@dataclass(frozen=True)
class NegativeImage:
    """One non-dermoscopy photo (RGB uint8), its kind, where it came from and its split group."""

    rgb: np.ndarray
    kind: str
    source: str
    group: str


def as_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 from grey, RGBA or float images."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.clip(array * (255 if array.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])


def clinical_photos(folder: Path) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """The smartphone photos of skin lesions in ``folder`` (``labels.csv``, ``images/``) and each one's patient."""
    labels = Path(folder) / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels} does not exist")
    with labels.open(newline="") as handle:
        rows = sorted((row["image_id"], row["patient_id"]) for row in csv.DictReader(handle))
    paths = tuple(Path(folder) / "images" / f"{image}.jpg" for image, _ in rows)
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} listed photos are missing, e.g. {missing[0]}")
    return paths, tuple(patient for _, patient in rows)


def installed_photos(max_side: int = 1024) -> Iterator[tuple[str, str, np.ndarray]]:
    """(source, name, RGB) for every sample photo and wallpaper installed on this machine."""
    from skimage import data as skimage_data

    for name in SKIMAGE_PHOTOS:
        yield "scikit-image", name, as_rgb(getattr(skimage_data, name)())
    try:
        from sklearn.datasets import load_sample_images

        for index, photo in enumerate(load_sample_images().images):
            yield "scikit-learn", f"sample{index}", as_rgb(photo)
    except ImportError:
        pass
    import matplotlib.cbook

    for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png"):
        with Image.open(matplotlib.cbook.get_sample_data(name, asfileobj=False)) as image:
            yield "matplotlib", name, as_rgb(np.asarray(image.convert("RGB")))
    for path in installed_wallpapers():
        with Image.open(path) as image:
            image.draft("RGB", (max_side, max_side))
            image = image.convert("RGB")
            image.thumbnail((max_side, max_side))
            yield f"wallpaper:{path.parent.name}", path.stem, np.asarray(image)


def installed_wallpapers() -> list[Path]:
    """The raster wallpapers under ``WALLPAPER_DIRS`` (none when the Debian packages are missing)."""
    return [
        path
        for folder in WALLPAPER_DIRS
        if folder.is_dir()
        for path in sorted(folder.rglob("*"))
        if path.suffix.lower() in _RASTER_SUFFIXES
    ]


def face_crops(rgb: np.ndarray) -> list[np.ndarray]:
    """Close-ups of the skin of each face found (scikit-image's LBP frontal-face cascade)."""
    from skimage import data as skimage_data
    from skimage.feature import Cascade

    detector = Cascade(skimage_data.lbp_frontal_face_cascade_filename())
    faces = detector.detect_multi_scale(img=rgb, scale_factor=1.2, step_ratio=1, min_size=(60, 60), max_size=(600, 600))
    crops = []
    for face in faces:
        top, left, side = face["r"], face["c"], face["width"]
        crops.append(rgb[top + side // 8 : top + side, left + side // 8 : left + side - side // 8])
    return crops


def synthetic_skin(rng: np.random.Generator, side: int = 384) -> np.ndarray:
    """A clinical close-up: skin tone, uneven light, pores, maybe hairs and a mole; no vignette."""
    tone = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.9, 1.1, 3)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    light = 1 + rng.uniform(-0.25, 0.25) * (xx - 0.5) + rng.uniform(-0.25, 0.25) * (yy - 0.5)
    mottle = cv2.GaussianBlur(rng.normal(0, 1, (side, side)).astype(np.float32), (0, 0), side / 12)
    mottle /= max(float(np.abs(mottle).max()), 1e-6)
    skin = tone[None, None] * (light + 0.06 * mottle)[..., None]
    skin *= 1 + rng.normal(0, rng.uniform(0.01, 0.04), (side, side, 1))  # pores and sensor noise
    if rng.random() < 0.8:
        centre = rng.uniform(0.3, 0.7, 2) * side
        radius = rng.uniform(0.05, 0.25) * side
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        radii = radius * (1 + rng.uniform(-0.25, 0.25, 24))
        outline = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], -1)
        mole = np.zeros((side, side), np.float32)
        cv2.fillPoly(mole, [outline.astype(np.int32)], 1.0)
        mole = cv2.GaussianBlur(mole, (0, 0), radius * rng.uniform(0.05, 0.3))
        pigment = np.array([rng.uniform(60, 140), rng.uniform(35, 90), rng.uniform(20, 60)], np.float32)
        skin = skin * (1 - mole[..., None]) + pigment * mole[..., None]
    image = np.clip(skin, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(0, 12) if rng.random() < 0.5 else 0):
        start = rng.integers(0, side, 2)
        end = start + rng.integers(-side // 3, side // 3, 2)
        cv2.line(image, tuple(int(v) for v in start), tuple(int(v) for v in end), (40, 30, 25), 1, cv2.LINE_AA)
    return image


def _font(rng: np.random.Generator, size: int) -> ImageFont.ImageFont:
    for name in rng.permutation(_FONT_NAMES):
        try:
            return ImageFont.truetype(str(name), size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def rendered_text(rng: np.random.Generator, side: int = 512) -> np.ndarray:
    """A page or a screenshot: lines of text, and for screenshots panels and buttons."""
    background = tuple(int(v) for v in rng.integers(200, 256, 3)) if rng.random() < 0.7 else (30, 30, 36)
    ink = (20, 20, 20) if sum(background) > 300 else (220, 220, 220)
    image = Image.new("RGB", (side, side), background)
    draw = ImageDraw.Draw(image)
    words = ["lesion", "report", "patient", "image", "upload", "settings", "file", "the", "of", "and", "2026"]
    if rng.random() < 0.5:  # screenshot: a title bar and a few panels
        draw.rectangle([0, 0, side, 28], fill=tuple(int(v) for v in rng.integers(40, 120, 3)))
        for _ in range(rng.integers(1, 5)):
            x, y = rng.integers(0, side - 100, 2)
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            draw.rectangle([x, y, x + rng.integers(60, 200), y + rng.integers(20, 120)], fill=colour)
    size = int(rng.integers(10, 36))
    font = _font(rng, size)
    for y in range(36, side, int(size * 1.5)):
        draw.text((8, y), " ".join(rng.choice(words, 12)), fill=ink, font=font)
    return np.asarray(image)


def plain_pattern(rng: np.random.Generator, side: int = 256) -> np.ndarray:
    """A solid colour, a gradient or noise."""
    choice = rng.integers(3)
    if choice == 0:
        return np.full((side, side, 3), rng.integers(0, 256, 3), np.uint8)
    if choice == 1:
        ramp = np.linspace(0, 1, side, dtype=np.float32)[None, :, None]
        start, end = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        return np.broadcast_to(start + ramp * (end - start), (side, side, 3)).astype(np.uint8)
    noise = rng.normal(128, rng.uniform(10, 80), (side, side, 3))
    return np.clip(cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.3, 6)), 0, 255).astype(np.uint8)


def variant(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop, flip, blur, colour change and JPEG round trip of a photo."""
    height, width = rgb.shape[:2]
    scale = rng.uniform(0.3, 1.0)
    crop_h, crop_w = max(int(height * scale), 32), max(int(width * scale), 32)
    top, left = rng.integers(0, height - crop_h + 1), rng.integers(0, width - crop_w + 1)
    image = rgb[top : top + crop_h, left : left + crop_w]
    if rng.random() < 0.5:
        image = image[:, ::-1]
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 4))
    image = np.clip(image.astype(np.float32) * rng.uniform(0.8, 1.2, 3) + rng.uniform(-20, 20), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(image.astype(np.uint8)).save(buffer, "JPEG", quality=int(rng.integers(50, 95)))
    return np.asarray(Image.open(buffer).convert("RGB"))


def negative_corpus(seed: int = 0, variants_per_photo: int = 12, generated: int = 300) -> list[NegativeImage]:
    """The whole negative set: variants of installed photos and face crops, and generated images."""
    rng = np.random.default_rng(seed)
    corpus: list[NegativeImage] = []
    for source, name, rgb in installed_photos():
        group = f"{source}/{name}"
        corpus += [NegativeImage(rgb, NOT_SKIN, source, group)]
        corpus += [NegativeImage(variant(rgb, rng), NOT_SKIN, source, group) for _ in range(variants_per_photo)]
        for index, face in enumerate(face_crops(rgb) if group in PORTRAITS else []):
            corpus += [
                NegativeImage(variant(face, rng), SKIN_PHOTO, "face crops", f"{group}/face{index}")
                for _ in range(variants_per_photo)
            ]
    makers = (("synthetic skin", SKIN_PHOTO, synthetic_skin), ("text", NOT_SKIN, rendered_text))
    for source, kind, make in (*makers, ("patterns", NOT_SKIN, plain_pattern)):
        for index in range(generated):
            local = np.random.default_rng([seed, index, len(source)])
            corpus.append(NegativeImage(variant(make(local), local), kind, source, f"{source}/{index}"))
    return corpus
