"""Faults against gunicorn as `make run` starts it: slow clients, killed workers, SIGTERM, a short soak.

The full-length runs (60 s at concurrency 16) live in ``bench/load.py``; these are bounded
versions that check behaviour, not speed.
"""

from __future__ import annotations

import pytest

from bench.load import FIXTURE, kill_worker_run, sigterm_drain_run, slow_client_run, soak
from bench.server import start_server

IMAGE = FIXTURE.read_bytes()


@pytest.fixture(scope="module")
def server():
    running = start_server(workers=2)
    try:
        running.wait_ready()
    except (RuntimeError, TimeoutError) as error:
        running.stop()
        pytest.fail(f"{error}: {running.output()[-2000:]}")
    yield running
    running.stop()


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


def test_sigterm_drains_the_request_in_flight() -> None:
    result = sigterm_drain_run(IMAGE)
    assert result["in_flight_answer"] == "HTTP/1.1 200 OK", result
    assert result["exit_code"] == 0
