"""Render the lesion mask over the photo (translucent fill + contour) and encode images."""

from __future__ import annotations

import base64

import cv2
import numpy as np

#: Fill and outline colour of the lesion overlay (RGB): a saturated cyan that stands out
#: on skin tones and dermoscopy's brown/black/blue lesion colours.
LESION_RGB = (0, 229, 255)


def display_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """Shrink (width, height) so the longer side is at most ``max_side``; never enlarge."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def overlay_rgba(mask: np.ndarray, size: tuple[int, int], fill_alpha: int = 90, line_px: int = 3) -> np.ndarray:
    """A transparent RGBA layer of ``size`` with the lesion filled and outlined.

    Args:
        mask: HxW 0/255 lesion mask (any size; it is resized with nearest-neighbour).
        size: (width, height) of the layer, normally the displayed photo's size.
        fill_alpha: opacity (0-255) of the fill; the outline is opaque.
        line_px: outline thickness in pixels.
    """
    if mask.ndim != 2:
        raise ValueError(f"Expected an HxW mask. Received shape {mask.shape}")
    if not 0 <= fill_alpha <= 255:
        raise ValueError(f"fill_alpha must be in [0, 255]. Received fill_alpha={fill_alpha}")
    small = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    layer = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    inside = small > 127
    layer[inside] = (*LESION_RGB, fill_alpha)
    contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(layer, contours, -1, (*LESION_RGB, 255), thickness=line_px, lineType=cv2.LINE_AA)
    return layer


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of a grey (HxW), RGB or RGBA uint8 array."""
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    ok, buffer = cv2.imencode(".png", array)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buffer.tobytes()


def encode_jpeg(rgb: np.ndarray, quality: int = 88) -> bytes:
    """JPEG bytes of an RGB uint8 array."""
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def data_uri(data: bytes, mime: str) -> str:
    """An inline ``data:`` URI, so uploads never need to be stored to be shown."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def heatmap_rgba(activation: np.ndarray, size: tuple[int, int], max_alpha: int = 170) -> np.ndarray:
    """A transparent RGBA layer of ``size`` showing where the class activation is positive.

    The map is clipped at zero (Grad-CAM's ReLU), scaled to its maximum, upsampled smoothly
    and coloured with the JET colour map; opacity follows intensity so cold areas stay clear.
    """
    if activation.ndim != 2:
        raise ValueError(f"Expected an HxW activation map. Received shape {activation.shape}")
    positive = np.maximum(activation.astype(np.float32), 0.0)
    peak = float(positive.max())
    scaled = positive / peak if peak > 0 else positive
    smooth = np.clip(cv2.resize(scaled, size, interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
    colours = cv2.applyColorMap((smooth * 255).astype(np.uint8), cv2.COLORMAP_JET)
    layer = np.dstack([cv2.cvtColor(colours, cv2.COLOR_BGR2RGB), (smooth * max_alpha).astype(np.uint8)])
    return layer


def blend(rgb: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Composite an RGBA layer over an RGB image of the same size."""
    alpha = layer[..., 3:4].astype(np.float32) / 255.0
    return (rgb.astype(np.float32) * (1 - alpha) + layer[..., :3].astype(np.float32) * alpha).astype(np.uint8)
