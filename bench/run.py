"""Speed benchmark: per-stage timings in process, end to end through gunicorn, seed reference.

    python -m bench.run [--repeats 30] [--seconds 15] [--baseline-rev 5d53557]

Writes bench/RESULTS.md. Figures are measured together in one run so ratios are meaningful;
``--baseline-rev`` also serves the models committed at that git revision, in the same run, to
compare end-to-end latency with them. The last section is bench/compare.py's: a comparison of
two 12 MP photos (``python -m bench.compare`` measures it alone).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from bench.compare import measure as measure_comparison
from bench.load import FIXTURE, post_image
from bench.server import ROOT, start_server
from lesion.analysis import UploadResult
from lesion.inference import Predictor
from lesion.measurements import measure_lesion_fast
from lesion.overlay import encode_png
from lesion.postprocessing import mask_from_probability
from lesion.preprocessing import decode_image, resize_for_model
from lesion.rendering import display_images, explanation_png_base64
from lesion.runtimes import THREADS_VARIABLE, use_worker_threads

RESULTS = ROOT / "bench" / "RESULTS.md"
#: End-to-end p50 budget for a 256 px photo through gunicorn (issue 20: version 3 with its Xception member).
P50_BUDGET_MS = 100.0


def make_inputs() -> dict[str, bytes]:
    """The ISIC fixture at 256 px, and JPEG photos of about 0.4 and 12 megapixels made from it."""
    lesion = Image.open(FIXTURE).convert("RGB")
    noise = np.random.default_rng(0)

    def photo(width: int, height: int) -> bytes:
        pixels = np.asarray(lesion.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
        grain = noise.integers(-6, 7, pixels.shape, dtype=np.int16)  # sensor-like grain, realistic file size
        buffer = io.BytesIO()
        Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=90)
        return buffer.getvalue()

    return {"isic-256px": FIXTURE.read_bytes(), "photo-0.4MP": photo(768, 576), "photo-12MP": photo(4000, 3000)}


def timed(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, p95) milliseconds of ``function`` after one warm-up call."""
    function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(1000 * (time.perf_counter() - started))
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.95 * len(samples)))]


def stage_timings(predictor: Predictor, data: bytes, repeats: int) -> dict[str, tuple[float, float]]:
    side = max(predictor.classifier.card.input_size, predictor.segmenter.card.input_size)
    draft = 2 * side  # as the API decodes (the page also asks for DISPLAY_MAX_SIDE)
    decoded = decode_image(data, draft_side=draft)
    sizes = (predictor.classifier.card.input_size, predictor.segmenter.card.input_size)
    batches = {s: resize_for_model(decoded.rgb, s)[None] for s in set(sizes)}
    probability_map = predictor.segmenter.predict(batches[sizes[1]])[0]
    mask = mask_from_probability(probability_map, decoded.size, predictor.segmenter.card.threshold)
    result = predictor.analyze(decoded)

    upload = UploadResult(decoded, result, measure_lesion_fast(mask), {})
    features = predictor.classifier.predict_all(batches[sizes[0]])[1]
    stages = {
        "decode": timed(lambda: decode_image(data, draft_side=draft), repeats),
        "preprocess": timed(lambda: [resize_for_model(decoded.rgb, s) for s in set(sizes)], repeats),
        "classifier": timed(lambda: predictor.classifier.predict(batches[sizes[0]]), repeats),
        "segmenter": timed(lambda: predictor.segmenter.predict(batches[sizes[1]]), repeats),
        "mask post-processing": timed(
            lambda: mask_from_probability(probability_map, decoded.size, predictor.segmenter.card.threshold), repeats
        ),
        "measurements": timed(lambda: measure_lesion_fast(mask, decoded.rgb), repeats),
        "mask PNG (API)": timed(lambda: encode_png(mask), repeats),
        "photo + overlay (page)": timed(lambda: display_images(upload), repeats),
        "Grad-CAM explanation PNG (?explain=1)": timed(lambda: explanation_png_base64(upload), repeats),
    }
    for member, _ in predictor.members:  # a classifier member's own pass on the same model-sized batch
        stages[f"classifier member {member.card.name} ({member.card.test_time_views} views)"] = timed(
            lambda member=member: member.predict(batches[sizes[0]]), repeats
        )
    if predictor.gate is not None:  # its features come from the classifier's pass; this is the gate's own cost
        gate = predictor.gate
        stages["quality gate (on the classifier's features)"] = timed(
            lambda: gate.kinds(gate.probabilities(gate.inputs(features, batches[sizes[0]]))), repeats
        )
    return stages


def reference_timings(predictor: Predictor, repeats: int) -> dict[str, tuple[float, float]]:
    """Plain Keras ``model.predict`` on our models, and the seed's reference models."""
    import keras

    from bench.reference_models import reference_cnn, reference_unet

    models_dir = ROOT / "models"
    ours = {
        name: keras.models.load_model(models_dir / f"{name}.keras", compile=False)
        for name in ("classifier", "segmenter")
    }
    cnn, unet = reference_cnn(224), reference_unet(224)
    inputs = {name: np.zeros((1, *model.input_shape[1:]), np.float32) for name, model in ours.items()}
    seed_input = np.zeros((1, 224, 224, 3), np.float32)
    return {
        "classifier, Keras model.predict": timed(
            lambda: ours["classifier"].predict(inputs["classifier"], verbose=0), repeats
        ),
        "segmenter, Keras model.predict": timed(
            lambda: ours["segmenter"].predict(inputs["segmenter"], verbose=0), repeats
        ),
        "seed CNN (3 conv + Dense 512), model.predict": timed(lambda: cnn.predict(seed_input, verbose=0), repeats),
        "seed U-Net (64 filters, 224 px), model.predict": timed(
            lambda: unet.predict(seed_input, verbose=0), max(5, repeats // 3)
        ),
    }


def baseline_models(revision: str, into: Path) -> Path:
    """The ``models/`` folder as committed at a git revision, unpacked under ``into``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "models"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "models"


def latency(server_url: str, data: bytes, samples: int) -> tuple[float, float]:
    """(p50, p95) ms of POST /api/analyze after three warm-up requests."""
    for _ in range(3):
        post_image(server_url, data)
    times = sorted(1000 * post_image(server_url, data)[1] for _ in range(samples))
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def baseline_latency(models: Path, data: bytes) -> tuple[float, float]:
    server = start_server(LESION_MODELS_DIR=str(models))
    try:
        server.wait_ready()
        return latency(server.url, data, 40)
    finally:
        server.stop()


def end_to_end(inputs: dict[str, bytes], seconds: float) -> dict:
    server = start_server()
    try:
        ready = server.wait_ready()
        results: dict = {"ready_s": ready, "latency": {}, "throughput": {}}
        for name, data in inputs.items():
            results["latency"][name] = latency(server.url, data, 40 if name == "isic-256px" else 20)
        results["rss_mb"] = [server.rss_mb(pid) for pid in server.worker_pids()]  # warm workers
        for concurrency in (1, 2, 4, 8):
            deadline = time.monotonic() + seconds
            counts = []

            def client(deadline: float = deadline, counts: list = counts) -> None:
                while time.monotonic() < deadline:
                    counts.append(post_image(server.url, inputs["isic-256px"])[0])

            with ThreadPoolExecutor(concurrency) as pool:
                for _ in range(concurrency):
                    pool.submit(client)
            results["throughput"][concurrency] = (len(counts) / seconds, sum(1 for c in counts if c != 200))
        results["workers"] = len(results["rss_mb"])
        return results
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=15, help="per concurrency level")
    parser.add_argument("--baseline-rev", default=None, help="git revision whose models/ to compare end to end")
    args = parser.parse_args(argv)
    inputs = make_inputs()
    # The same inference threads as a gunicorn worker (gunicorn.conf.py), so ratios are fair.
    use_worker_threads()
    predictor = Predictor.from_directory(ROOT / "models")
    stages = {
        name: stage_timings(predictor, data, args.repeats if "12MP" not in name else 10)
        for name, data in inputs.items()
    }
    reference = reference_timings(predictor, args.repeats)
    e2e = end_to_end(inputs, args.seconds)
    if args.baseline_rev:
        with tempfile.TemporaryDirectory() as folder:
            models = baseline_models(args.baseline_rev, Path(folder))
            e2e["baseline"] = (args.baseline_rev, baseline_latency(models, inputs["isic-256px"]))
    write_results(stages, reference, e2e, predictor, measure_comparison(predictor))


def write_results(stages: dict, reference: dict, e2e: dict, predictor: Predictor, comparison: list[str]) -> None:
    names = list(stages)
    forward = stages["isic-256px"]["classifier"][0] + stages["isic-256px"]["segmenter"][0]
    seed = (
        reference["seed CNN (3 conv + Dense 512), model.predict"][0]
        + reference["seed U-Net (64 filters, 224 px), model.predict"][0]
    )
    p50_256 = e2e["latency"]["isic-256px"][0]
    p50_12mp = e2e["latency"]["photo-12MP"][0]
    rate = e2e["throughput"]
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}; Python "
        f"{platform.python_version()}; {datetime.now().isoformat(timespec='minutes')}; "
        f"runtime: classifier {predictor.classifier.runtime}, segmenter {predictor.segmenter.runtime}, "
        f"{os.environ[THREADS_VARIABLE]} inference thread(s) as in a gunicorn worker; "
        f"classifier views {predictor.classifier.card.test_time_views}.",
        "",
        "## In-process stages (ms, median / p95)",
        "",
        "| stage | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for stage in stages[names[0]]:
        lines.append(
            f"| {stage} | " + " | ".join(f"{stages[n][stage][0]:.1f} / {stages[n][stage][1]:.1f}" for n in names) + " |"
        )
    lines += [
        "",
        "## Reference paths on the same machine (ms, median / p95, one image)",
        "",
        "| path | time |",
        "|---|---|",
    ]
    lines += [f"| {name} | {median:.1f} / {p95:.1f} |" for name, (median, p95) in reference.items()]
    lines += [
        "",
        f"## End to end through gunicorn (`make run`'s command, {e2e['workers']} workers)",
        "",
        f"Ready (`/readyz` = 200) {e2e['ready_s']:.1f} s after the process started. "
        f"Worker RSS after the latency runs: {', '.join(f'{r:.0f}' for r in e2e['rss_mb'])} MB.",
        "",
        "| input | p50 ms | p95 ms |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {p50:.1f} | {p95:.1f} |" for name, (p50, p95) in e2e["latency"].items()]
    if "baseline" in e2e:
        revision, (base_p50, base_p95) = e2e["baseline"]
        lines += [f"| isic-256px, models of {revision} (same run) | {base_p50:.1f} | {base_p95:.1f} |"]
    lines += ["", "| concurrency | requests/s | non-200 |", "|---|---|---|"]
    lines += [f"| {c} | {r:.2f} | {bad} |" for c, (r, bad) in rate.items()]
    threads = int(os.environ[THREADS_VARIABLE])
    # With one thread per worker a lone request leaves a core idle, so concurrency must add it;
    # with two, a lone request already uses both cores and concurrency must only not cost.
    scaling = 1.7 if threads == 1 else 1.0
    checks = [
        (
            "end-to-end p50 (256 px) <= 1.5x the two models' forward time",
            p50_256 <= 1.5 * forward,
            f"{p50_256:.1f} ms vs {forward:.1f} ms forward ({p50_256 / forward:.2f}x)",
        ),
        (
            "end to end >= 10x faster than the seed reference path",
            seed >= 10 * p50_256,
            f"seed {seed:.0f} ms vs {p50_256:.1f} ms ({seed / p50_256:.1f}x)",
        ),
        (
            f"throughput at concurrency 4 >= {scaling}x concurrency 1 ({threads} inference thread(s) per worker)",
            rate[4][0] >= scaling * rate[1][0],
            f"{rate[4][0]:.2f} vs {rate[1][0]:.2f} req/s ({rate[4][0] / rate[1][0]:.2f}x)",
        ),
        (
            "12 MP p50 <= 3x the 256 px p50",
            p50_12mp <= 3 * p50_256,
            f"{p50_12mp:.1f} vs {p50_256:.1f} ms ({p50_12mp / p50_256:.2f}x)",
        ),
        *(
            [
                (
                    f"end-to-end p50 (256 px) within {P50_BUDGET_MS:.0f} ms, beside the models of {e2e['baseline'][0]}",
                    p50_256 <= P50_BUDGET_MS,
                    f"{p50_256:.1f} ms vs {e2e['baseline'][1][0]:.1f} ms in the same run",
                )
            ]
            if "baseline" in e2e
            else []
        ),
        ("each worker <= 500 MB RSS", max(e2e["rss_mb"]) <= 500, f"max {max(e2e['rss_mb']):.0f} MB"),
        ("ready <= 10 s after start", e2e["ready_s"] <= 10, f"{e2e['ready_s']:.1f} s"),
    ]
    lines += ["", "## Targets", "", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {detail} |" for name, ok, detail in checks]
    lines += ["", *comparison]
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
