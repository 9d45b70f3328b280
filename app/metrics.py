"""Prometheus metrics: requests by status, per-stage latency histograms, model versions.

Under gunicorn the metrics live in ``PROMETHEUS_MULTIPROC_DIR`` (set by gunicorn.conf.py)
so that ``GET /metrics`` counts every worker; otherwise in a registry of the app's own.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

EXTENSION_KEY = "lesion_metrics"
#: Seconds; covers a few ms (decode of a small JPEG) to several s (a 12 MP photo on a busy box).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class ServiceMetrics:
    registry: CollectorRegistry | None
    requests: Counter
    latency: Histogram
    stages: Histogram
    model_info: Gauge


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def init_app(app: Flask) -> None:
    """Create the metrics and the request hooks, and register ``GET /metrics``."""
    # In multiprocess mode values go to files and are collected at scrape time instead.
    registry = None if _multiprocess() else CollectorRegistry()
    metrics = ServiceMetrics(
        registry=registry,
        requests=Counter(
            "lesion_http_requests_total",
            "HTTP requests by endpoint and status",
            ["endpoint", "method", "status"],
            registry=registry,
        ),
        latency=Histogram(
            "lesion_http_request_duration_seconds",
            "Request latency by endpoint",
            ["endpoint"],
            buckets=BUCKETS,
            registry=registry,
        ),
        stages=Histogram(
            "lesion_stage_duration_seconds", "Analysis latency by stage", ["stage"], buckets=BUCKETS, registry=registry
        ),
        model_info=Gauge(
            "lesion_model_info",
            "Loaded model versions (value 1)",
            ["model", "version", "runtime"],
            registry=registry,
            multiprocess_mode="max",
        ),
    )
    app.extensions[EXTENSION_KEY] = metrics
    predictor = app.extensions.get("lesion_predictor")
    if predictor is not None:
        for loaded in (predictor.classifier, predictor.segmenter):
            metrics.model_info.labels(loaded.card.name, loaded.card.version, loaded.runtime).set(1)
    app.before_request(_start_timer)
    app.after_request(_count_request)
    app.add_url_rule("/metrics", "metrics", _metrics_view)


def observe_stages(timing_ms: dict[str, float]) -> None:
    """Record the per-stage timings of one analysis."""
    stages = current_app.extensions[EXTENSION_KEY].stages
    for stage, milliseconds in timing_ms.items():
        stages.labels(stage).observe(milliseconds / 1000)


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def _count_request(response: Response) -> Response:
    metrics: ServiceMetrics = current_app.extensions[EXTENSION_KEY]
    endpoint = request.endpoint or "unmatched"
    metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
    if "request_started" in g:
        metrics.latency.labels(endpoint).observe(time.perf_counter() - g.request_started)
    return response


def _metrics_view() -> Response:
    metrics: ServiceMetrics = current_app.extensions[EXTENSION_KEY]
    if metrics.registry is None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = metrics.registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
