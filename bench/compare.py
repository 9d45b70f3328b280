"""Speed of a comparison of two 12 MP photos: in process by stage, and end to end through gunicorn.

    python -m bench.compare [--repeats 5] [--requests 10]

Prints a Markdown table; ``make bench`` (bench/run.py) writes the same figures to bench/RESULTS.md.
The target: POST /api/v1/compare with two 12 MP photos answers in under 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np
import requests

from bench.server import ROOT, ready_server
from lesion.analysis import DISPLAY_MAX_SIDE, analyse_upload
from lesion.change import compare_uploads, overlay_png_base64
from lesion.inference import Predictor
from lesion.runtimes import use_worker_threads

FIXTURE = ROOT / "tests" / "fixtures" / "isic" / "images" / "ISIC_0012151.jpg"
#: Seconds a comparison of two 12 MP photos may take end to end.
TARGET_S = 3.0


def make_pair(width: int = 4000, height: int = 3000) -> tuple[bytes, bytes]:
    """Two JPEGs of about 12 MP: the fixture enlarged, then the same skin turned 20°, 0.9x closer, darker."""
    rng = np.random.default_rng(0)
    photo = cv2.resize(cv2.imread(str(FIXTURE)), (width, height), interpolation=cv2.INTER_CUBIC)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 20, 1 / 0.9)
    moved = cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    moved = (moved.astype(np.float32) * 0.9).astype(np.uint8)

    def jpeg(bgr: np.ndarray) -> bytes:
        grain = rng.integers(-6, 7, bgr.shape, dtype=np.int16)  # sensor-like grain, realistic file size
        noisy = np.clip(bgr.astype(np.int16) + grain, 0, 255).astype(np.uint8)
        return cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()

    return jpeg(photo), jpeg(moved)


def in_process(predictor: Predictor, pair: tuple[bytes, bytes], repeats: int) -> dict[str, float]:
    """Median ms of each stage of the API's path (both analyses, registration, comparison, overlay)."""
    samples: dict[str, list[float]] = {}
    for run in range(repeats + 1):
        stages: dict[str, float] = {}
        started = time.perf_counter()
        results = []
        for name, data in zip(("before", "after"), pair, strict=True):
            begun = time.perf_counter()
            results.append(analyse_upload(data, predictor, 50_000_000, for_display=True))
            stages[f"analyse {name}"] = 1000 * (time.perf_counter() - begun)
        change = compare_uploads(*results)
        begun = time.perf_counter()
        overlay_png_base64(change, DISPLAY_MAX_SIDE)
        stages |= {"register": change.timing_ms["register"], "compare": change.timing_ms["compare"]}
        stages["overlay PNG"] = 1000 * (time.perf_counter() - begun)
        stages["total"] = 1000 * (time.perf_counter() - started)
        if not change.same_lesion:
            raise RuntimeError(f"the benchmark pair did not register: {change.comparison.message}")
        if run == 0:
            continue  # the first run warms up
        for stage, ms in stages.items():
            samples.setdefault(stage, []).append(ms)
    return {stage: statistics.median(values) for stage, values in samples.items()}


def end_to_end(pair: tuple[bytes, bytes], requests_count: int) -> tuple[float, float]:
    """(p50, max) seconds of POST /api/v1/compare through gunicorn, after two warm-up requests."""
    files = {"before": ("before.jpg", pair[0], "image/jpeg"), "after": ("after.jpg", pair[1], "image/jpeg")}
    times = []
    with ready_server() as server:
        for index in range(requests_count + 2):
            started = time.perf_counter()
            response = requests.post(f"{server.url}/api/v1/compare", files=files, timeout=120)
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or not response.json()["same_lesion"]:
                raise RuntimeError(f"POST /api/v1/compare answered {response.status_code}: {response.text[:300]}")
            if index >= 2:
                times.append(elapsed)
    return statistics.median(times), max(times)


def markdown(stages: dict[str, float], e2e: tuple[float, float], sizes: tuple[int, int]) -> list[str]:
    """The results section: stages, end to end, and the target."""
    p50, worst = e2e
    lines = [
        f"## Comparison of two 12 MP photos ({sizes[0] / 1e6:.1f} + {sizes[1] / 1e6:.1f} MB JPEG)",
        "",
        "| stage (in process) | median ms |",
        "|---|---|",
        *(f"| {stage} | {ms:.0f} |" for stage, ms in stages.items()),
        "",
        f"End to end, POST /api/v1/compare through gunicorn: p50 {p50:.2f} s, max {worst:.2f} s.",
        "",
        "| target | met | measured |",
        "|---|---|---|",
        f"| comparison of two 12 MP photos < {TARGET_S:.0f} s end to end | {'yes' if p50 < TARGET_S else '**no**'} "
        f"| p50 {p50:.2f} s on {os.cpu_count()} cores |",
    ]
    return lines


def measure(predictor: Predictor, repeats: int = 5, requests_count: int = 10) -> list[str]:
    """Run both measurements and return their Markdown section."""
    pair = make_pair()
    return markdown(
        in_process(predictor, pair, repeats), end_to_end(pair, requests_count), (len(pair[0]), len(pair[1]))
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args(argv)
    use_worker_threads()  # as in a gunicorn worker
    print("\n".join(measure(Predictor.from_directory(ROOT / "models"), args.repeats, args.requests)))


if __name__ == "__main__":
    main()
