"""The one preprocessing path: bytes or file -> oriented RGB -> model-sized uint8 array.

Training, the batch CLI and the web app all call these functions, so a model never sees
pixels prepared differently from how it was trained. Scaling to [-1, 1] lives inside the
saved models (a ``Rescaling`` layer), so the arrays handed to a model are plain RGB in
[0, 255].
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lesion.errors import UnprocessableImageError, UnsupportedImageError

#: Smallest side, in pixels, of an image we agree to analyse.
MIN_SIDE = 32
#: Largest image, in pixels (width x height), we agree to decode.
MAX_PIXELS = 50_000_000
#: File suffixes the batch CLI reads.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


@dataclass(frozen=True)
class DecodedImage:
    """An oriented RGB image and the full size the mask must be returned at."""

    rgb: np.ndarray
    #: (width, height) of the full image after EXIF orientation; ``rgb`` may be smaller
    #: when the decoder was allowed to downscale (JPEG draft mode).
    size: tuple[int, int]


def decode_image(
    source: bytes | str | Path,
    *,
    max_pixels: int = MAX_PIXELS,
    min_side: int = MIN_SIDE,
    draft_side: int | None = None,
) -> DecodedImage:
    """Decode bytes or a file into an EXIF-oriented 8-bit RGB image.

    Args:
        source: encoded image bytes, or a path to an image file.
        max_pixels: refuse images with more pixels than this (checked before decoding, so
            decompression bombs never allocate their declared size).
        min_side: refuse images whose shorter side is smaller than this.
        draft_side: if given, JPEGs may be decoded at a reduced scale whose sides stay at
            least this large; ``size`` still reports the full size.

    Raises:
        UnsupportedImageError: the bytes are not a readable image.
        UnprocessableImageError: the image decodes but is too small or too large.
    """
    what = f"File {Path(source).name}" if isinstance(source, (str, Path)) else "The uploaded file"
    if isinstance(source, bytes):
        if not source:
            raise UnsupportedImageError(f"{what} is empty.")
        stream: io.BytesIO | str | Path = io.BytesIO(source)
    else:
        stream = source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                return _decode_opened(image, max_pixels, min_side, draft_side)
    except (UnsupportedImageError, UnprocessableImageError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UnprocessableImageError(f"{what} declares too many pixels to analyse.") from error
    except UnidentifiedImageError as error:
        raise UnsupportedImageError(f"{what} is not an image in a supported format.") from error
    except FileNotFoundError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, TypeError, IndexError) as error:
        # Pillow reports truncated and corrupt data through several exception types.
        raise UnsupportedImageError(f"{what} is corrupt or truncated.") from error


def _decode_opened(image: Image.Image, max_pixels: int, min_side: int, draft_side: int | None) -> DecodedImage:
    width, height = image.size
    if width * height > max_pixels:
        raise UnprocessableImageError(f"The image has {width}x{height} pixels; the limit is {max_pixels:,} pixels.")
    if min(width, height) < min_side:
        raise UnprocessableImageError(f"The image is {width}x{height} pixels; each side must be at least {min_side}.")
    # Multi-frame files (GIF, TIFF) are analysed on their first frame.
    image.seek(0)
    if draft_side is not None and image.format == "JPEG":
        image.draft("RGB", (draft_side, draft_side))
    oriented = ImageOps.exif_transpose(image)
    full_size = _oriented_size(image, (width, height))
    return DecodedImage(rgb=_to_rgb_array(oriented), size=full_size)


def _oriented_size(image: Image.Image, size: tuple[int, int]) -> tuple[int, int]:
    """Return the full (width, height) after EXIF orientation, whatever draft mode did."""
    try:
        orientation = image.getexif().get(0x0112, 1)
    except Exception:
        orientation = 1
    if orientation in (5, 6, 7, 8):
        return size[1], size[0]
    return size


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to a contiguous uint8 RGB array."""
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if values.max(initial=0) > 255 else 255.0
        grey = np.clip(values * (255.0 / peak), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if image.mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Flatten transparency onto white so hidden pixels do not leak into the model.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def resize_for_model(rgb: np.ndarray, side: int) -> np.ndarray:
    """Resize an RGB image to ``side`` x ``side`` (aspect not kept, as in ISIC training data)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"Expected an HxWx3 RGB array. Received shape {rgb.shape}.")
    if side <= 0:
        raise ValueError(f"Expected a positive side. Received side={side}.")
    height, width = rgb.shape[:2]
    # Area averaging when shrinking avoids aliasing; linear when enlarging small images.
    interpolation = cv2.INTER_AREA if width >= side and height >= side else cv2.INTER_LINEAR
    return cv2.resize(rgb, (side, side), interpolation=interpolation)


def prepare_image(source: bytes | str | Path, side: int, **limits: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode ``source`` and return (model-sized uint8 RGB, full oriented (width, height))."""
    decoded = decode_image(source, draft_side=2 * side, **limits)
    return resize_for_model(decoded.rgb, side), decoded.size
