"""Faults against gunicorn as `make run` starts it: slow clients, killed workers, SIGTERM, a short soak.

The full-length runs (60 s at concurrency 16) live in ``bench/load.py``; these are bounded
versions that check behaviour, not speed.
"""

from __future__ import annotations

import re

import pytest
import requests

from bench.load import FIXTURE, kill_worker_run, recycle_run, sigterm_drain_run, slow_client_run, soak
from bench.server import ready_server

IMAGE = FIXTURE.read_bytes()


@pytest.fixture(scope="module")
def server():
    with ready_server(workers=2) as running:
        yield running


def test_short_soak_has_no_server_errors(server) -> None:
    result = soak(server, seconds=8, concurrency=6, data=IMAGE)
    assert result["requests"] > 0 and result["server_errors"] == 0, result


def test_slow_client_does_not_stall_others(server) -> None:
    result = slow_client_run(server, IMAGE, byte_interval=0.05, body_bytes=40)
    assert result["served_while_slow"] >= 3 and result["failed_while_slow"] == 0, result
    assert result["slow_client_answer"].startswith("HTTP/1.1 4"), result


def test_killed_worker_is_replaced(server) -> None:
    result = kill_worker_run(server, IMAGE, requests_after=6)
    assert result["ok_after_kill"] == result["requests_after_kill"], result
    assert result["killed_worker"] not in result["workers_after"] and len(result["workers_after"]) == 2


def test_recycled_workers_drop_no_request() -> None:
    result = recycle_run(IMAGE, requests_total=120, max_requests=3)
    assert result["recycles"] >= 10, result
    assert result["failed"] == 0, result


def test_sigterm_drains_the_request_in_flight() -> None:
    result = sigterm_drain_run(IMAGE)
    assert result["in_flight_answer"] == "HTTP/1.1 200 OK", result
    assert result["exit_code"] == 0


def test_metrics_count_every_worker(server) -> None:
    before = _analyze_count(requests.get(f"{server.url}/metrics", timeout=10).text)
    for _ in range(6):
        requests.post(f"{server.url}/api/v1/analyze", files={"image": ("a.jpg", IMAGE, "image/jpeg")}, timeout=60)
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert _analyze_count(text) - before == 6
    assert re.search(r'lesion_model_info\{model="segmenter",runtime="\w+",version="[^"]+"\} 1\.0', text)


def _analyze_count(text: str) -> float:
    pattern = r'lesion_http_requests_total\{endpoint="api.analyze",method="POST",status="200"\} ([0-9.e+]+)'
    return sum(float(value) for value in re.findall(pattern, text))
