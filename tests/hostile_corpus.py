"""Generate the hostile-upload corpus in memory (no binary blobs from elsewhere).

Each entry maps a name to ``(bytes, filename, expectation)`` where expectation is
``"ok"`` (must analyse), ``"4xx"`` (must be refused with a JSON 4xx), or ``"any"``
(either, but never a 5xx).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image

from tests.conftest import encode, with_exif_orientation


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def jpeg_bomb(side: int = 60_000) -> bytes:
    """A small JPEG whose frame header (SOF0) claims ``side`` x ``side`` pixels."""
    data = bytearray(encode(Image.new("RGB", (64, 64), (120, 80, 60)), "JPEG"))
    index = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, index + 5, side, side)
    return bytes(data)


def corrupt_exif_jpeg(image: Image.Image) -> bytes:
    """A JPEG whose APP1 EXIF block is garbage after its header."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = bytearray(encode(image, "JPEG", exif=exif.tobytes()))
    start = data.find(b"Exif\x00\x00") + 6
    data[start : start + 24] = b"\xde\xad\xbe\xef" * 6
    return bytes(data)


def hostile_inputs(lesion_path: Path) -> dict[str, tuple[bytes, str, str]]:
    """The corpus, built from one real lesion photo."""
    with Image.open(lesion_path) as opened:
        lesion = opened.convert("RGB")
    jpeg, png = encode(lesion, "JPEG"), encode(lesion, "PNG")
    frames = [lesion, lesion.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    corpus: dict[str, tuple[bytes, str, str]] = {
        "zero-bytes": (b"", "empty.jpg", "4xx"),
        "truncated-jpeg": (jpeg[: len(jpeg) // 3], "cut.jpg", "any"),
        "truncated-png": (png[: len(png) // 3], "cut.png", "4xx"),
        "png-named-jpg": (png, "photo.jpg", "ok"),
        "text-named-png": (b"just some text\n" * 20, "photo.png", "4xx"),
        "html-named-jpg": (b"<!doctype html><html><body><script>alert(1)</script></body></html>", "x.jpg", "4xx"),
        "svg": (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="900"><circle r="4"/></svg>',
            "x.svg",
            "4xx",
        ),
        "png-bomb": (png_bomb(), "bomb.png", "4xx"),
        "jpeg-bomb": (jpeg_bomb(), "bomb.jpg", "4xx"),
        "animated-gif": (encode(frames[0], "GIF", save_all=True, append_images=frames[1:]), "anim.gif", "ok"),
        "multi-page-tiff": (encode(frames[0], "TIFF", save_all=True, append_images=frames[1:]), "pages.tif", "ok"),
        "cmyk-jpeg": (encode(lesion.convert("CMYK"), "JPEG"), "cmyk.jpg", "ok"),
        "16-bit-png": (encode(lesion.convert("L").convert("I;16"), "PNG"), "deep.png", "ok"),
        "palette-png": (encode(lesion.convert("P"), "PNG"), "palette.png", "ok"),
        "alpha-png": (encode(lesion.convert("RGBA"), "PNG"), "alpha.png", "ok"),
        "1x1": (encode(Image.new("RGB", (1, 1)), "PNG"), "dot.png", "4xx"),
        "10000x10": (encode(Image.new("RGB", (10000, 10)), "PNG"), "sliver.png", "4xx"),
        "corrupt-exif": (corrupt_exif_jpeg(lesion), "exif.jpg", "any"),
        "random-bytes": (bytes((i * 7919) % 251 for i in range(5000)), "noise.jpg", "4xx"),
    }
    for orientation in range(1, 9):
        corpus[f"exif-orientation-{orientation}"] = (with_exif_orientation(lesion, orientation), "o.jpg", "ok")
    return corpus


if __name__ == "__main__":
    # Write the corpus to a folder for manual poking: python -m tests.hostile_corpus OUT_DIR
    import sys

    from tests.conftest import ISIC_FIXTURES

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, (data, filename, _) in hostile_inputs(ISIC_FIXTURES / "images" / "ISIC_0012099.jpg").items():
        (out / f"{name}{Path(filename).suffix}").write_bytes(data)
    print(f"wrote {len(list(out.iterdir()))} files to {out}")
