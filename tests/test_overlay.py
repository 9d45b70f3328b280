from __future__ import annotations

import cv2
import numpy as np

from lesion.overlay import LESION_RGB, data_uri, display_size, encode_png, overlay_rgba


def test_overlay_fills_and_outlines_the_lesion_only() -> None:
    mask = np.zeros((100, 100), dtype=np.uint8)
    mask[30:70, 30:70] = 255
    layer = overlay_rgba(mask, (100, 100), fill_alpha=90, line_px=2)
    assert layer.shape == (100, 100, 4)
    assert tuple(layer[50, 50]) == (*LESION_RGB, 90)  # inside: translucent fill
    assert layer[30, 50, 3] == 255  # on the outline: opaque
    assert layer[5, 5, 3] == 0  # skin: fully transparent


def test_overlay_is_resized_to_the_display_size() -> None:
    mask = np.full((400, 600), 255, dtype=np.uint8)
    assert overlay_rgba(mask, (300, 200)).shape == (200, 300, 4)


def test_display_size_never_enlarges() -> None:
    assert display_size((4000, 3000), 1000) == (1000, 750)
    assert display_size((300, 200), 1000) == (300, 200)


def test_png_round_trip_keeps_values() -> None:
    mask = np.zeros((7, 9), dtype=np.uint8)
    mask[2:4, 3:6] = 255
    decoded = cv2.imdecode(np.frombuffer(encode_png(mask), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, mask)
    assert data_uri(b"\x89PNG", "image/png").startswith("data:image/png;base64,")


def test_heatmap_is_transparent_where_activation_is_not_positive() -> None:
    from lesion.overlay import blend, heatmap_rgba

    activation = np.full((8, 8), -1.0, dtype=np.float32)
    activation[2:6, 2:6] = 3.0
    layer = heatmap_rgba(activation, (64, 64))
    assert layer.shape == (64, 64, 4)
    assert layer[32, 32, 3] > 100 and layer[0, 0, 3] == 0
    photo = np.full((64, 64, 3), 100, dtype=np.uint8)
    np.testing.assert_array_equal(blend(photo, layer)[0, 0], [100, 100, 100])
