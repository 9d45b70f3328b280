from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lesion.errors import UnprocessableImageError, UnsupportedImageError
from lesion.preprocessing import decode_image, prepare_image, resize_for_model
from tests.conftest import encode, with_exif_orientation


def _gradient(width: int = 120, height: int = 80) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1))


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGB", "PNG"),
        ("RGB", "JPEG"),
        ("L", "PNG"),
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("CMYK", "JPEG"),
        ("1", "PNG"),
        ("RGB", "BMP"),
        ("RGB", "TIFF"),
        ("I;16", "PNG"),
        ("RGB", "GIF"),
    ],
)
def test_every_colour_mode_becomes_uint8_rgb(mode: str, fmt: str) -> None:
    image = _gradient()
    converted = image.convert("L").convert("I;16") if mode == "I;16" else image.convert(mode)
    decoded = decode_image(encode(converted, fmt))
    assert decoded.rgb.dtype == np.uint8
    assert decoded.rgb.shape == (80, 120, 3)
    assert decoded.size == (120, 80)


def test_sixteen_bit_uses_the_full_range() -> None:
    values = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    decoded = decode_image(encode(Image.fromarray(values), "PNG"))
    assert decoded.rgb.min() == 0 and decoded.rgb.max() == 255
    assert 100 < decoded.rgb.mean() < 155


def test_transparent_pixels_are_flattened_on_white() -> None:
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)  # black, fully transparent
    decoded = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert (decoded.rgb == 255).all()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    upright = _gradient(96, 64)
    decoded = decode_image(with_exif_orientation(upright, orientation))
    assert decoded.size == (96, 64)
    assert decoded.rgb.shape == (64, 96, 3)
    # The upright gradient is dark on the left, bright on the right in the red channel.
    assert np.abs(decoded.rgb.astype(int) - np.asarray(upright).astype(int)).mean() < 6


def test_multi_frame_images_use_the_first_frame() -> None:
    frames = [Image.new("RGB", (50, 50), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buffer)
    assert decoded.rgb[0, 0, 0] > 200 and decoded.rgb[0, 0, 2] < 50


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", bytes(range(256)) * 8],
    ids=["empty", "text", "svg", "random-bytes"],
)
def test_non_images_are_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedImageError):
        decode_image(data)


def test_truncated_jpeg_is_unsupported() -> None:
    data = encode(_gradient(400, 300), "JPEG")
    with pytest.raises(UnsupportedImageError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2])


def test_tiny_images_are_unprocessable() -> None:
    with pytest.raises(UnprocessableImageError, match="at least 32"):
        decode_image(encode(Image.new("RGB", (10000, 10)), "PNG"))


def test_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = encode(Image.new("1", (12000, 6000)), "PNG")  # 72 MP declared, a few kB on disk
    assert len(bomb) < 200_000
    with pytest.raises(UnprocessableImageError):
        decode_image(bomb)


def test_jpeg_draft_decodes_smaller_but_reports_full_size() -> None:
    data = encode(_gradient(2000, 1600), "JPEG")
    decoded = decode_image(data, draft_side=448)
    assert decoded.size == (2000, 1600)
    assert 448 <= min(decoded.rgb.shape[:2]) < 1600


def test_resize_for_model_gives_square_uint8() -> None:
    resized = resize_for_model(np.asarray(_gradient(300, 100)), 64)
    assert resized.shape == (64, 64, 3) and resized.dtype == np.uint8
    with pytest.raises(ValueError, match="Received shape"):
        resize_for_model(np.zeros((10, 10)), 64)


def test_prepare_image_matches_manual_pipeline(lesion_path) -> None:
    prepared, size = prepare_image(lesion_path, 224)
    manual = resize_for_model(decode_image(lesion_path).rgb, 224)
    assert size == (256, 256)
    np.testing.assert_array_equal(prepared, manual)
