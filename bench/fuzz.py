"""A longer fuzz run of decode + preprocess than CI's: hypothesis for a given number of minutes.

    python -m bench.fuzz [--minutes 5]

Inputs are random bytes and mutations (truncations, byte flips, header edits) of real JPEG,
PNG, GIF, TIFF and BMP files. Every input must either decode to an RGB array that
preprocesses to the model size, or raise InvalidImageError; anything else is a bug and is
printed with the failing input saved under /tmp.
"""

from __future__ import annotations

import argparse
import io
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bench.load import FIXTURE
from lesion.errors import InvalidImageError
from lesion.preprocessing import decode_image, resize_for_model


def _seeds() -> list[bytes]:
    image = Image.open(FIXTURE).convert("RGB").resize((96, 72))
    seeds = []
    for fmt in ("JPEG", "PNG", "GIF", "TIFF", "BMP", "WEBP"):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        seeds.append(buffer.getvalue())
    return seeds


SEEDS = _seeds()


def mutate(seed: bytes, cut: int, edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(seed[: max(1, cut)])
    for position, value in edits:
        data[position % len(data)] = value
    return bytes(data)


inputs = st.one_of(
    st.binary(max_size=8192),
    st.builds(
        mutate,
        st.sampled_from(SEEDS),
        st.integers(1, max(map(len, SEEDS))),
        st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=24),
    ),
)


def check(data: bytes) -> None:
    try:
        decoded = decode_image(data)
    except InvalidImageError:
        return
    assert resize_for_model(decoded.rgb, 224).shape == (224, 224, 3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + 60 * args.minutes
    rounds = examples = 0
    while time.monotonic() < deadline:
        counted = settings(max_examples=2000, deadline=None, database=None, suppress_health_check=list(HealthCheck))(
            given(inputs)(check)
        )
        counted()
        rounds += 1
        examples += 2000
    print(f"fuzzed decode + preprocess with about {examples} inputs in {args.minutes} min: no unexpected failure")


if __name__ == "__main__":
    main()
