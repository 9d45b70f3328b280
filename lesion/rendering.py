"""The images the page and the API show for one analysed upload: mask PNG, display photo, overlay, heat map."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from lesion.analysis import DISPLAY_MAX_SIDE, UploadResult
from lesion.overlay import blend, display_size, encode_jpeg, encode_png, heatmap_rgba, overlay_rgba


def mask_png_base64(result: UploadResult) -> str:
    """The full-size 0/255 mask as base64 PNG (the API's ``mask_png``)."""
    return base64.b64encode(encode_png(result.analysis.mask)).decode("ascii")


def display_photo(result: UploadResult) -> np.ndarray:
    """The photo at display size (longest side at most ``DISPLAY_MAX_SIDE``)."""
    size = display_size(result.decoded.size, DISPLAY_MAX_SIDE)
    return cv2.resize(result.decoded.rgb, size, interpolation=cv2.INTER_AREA)


def display_images(result: UploadResult) -> tuple[bytes, bytes]:
    """(photo JPEG, overlay RGBA PNG) at display size, for the result page."""
    photo = display_photo(result)
    size = (photo.shape[1], photo.shape[0])
    return encode_jpeg(photo), encode_png(overlay_rgba(result.analysis.mask, size))


def explanation_layer(result: UploadResult) -> np.ndarray | None:
    """The classifier's activation heat map as an RGBA layer at display size, if it has one.

    None also for a photo the quality gate refused: the classifier gives it no probability, so
    where it looked would explain a score nobody is shown.
    """
    if result.analysis.activation is None or not result.analysis.in_distribution:
        return None
    size = display_size(result.decoded.size, DISPLAY_MAX_SIDE)
    return heatmap_rgba(result.analysis.activation, size)


def explanation_png_base64(result: UploadResult) -> str | None:
    """The photo at display size with the activation heat map blended over it, as base64 PNG."""
    layer = explanation_layer(result)
    if layer is None:
        return None
    return base64.b64encode(encode_png(blend(display_photo(result), layer))).decode("ascii")
