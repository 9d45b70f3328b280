"""gunicorn started as `make run` starts it, on a free loopback port."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import requests

from bench.server import ready_server, start_server
from tests.conftest import MODELS_DIR


@pytest.fixture(scope="module")
def server():
    with ready_server(workers=1) as running:
        yield running


def test_gunicorn_serves_the_api(server, lesion_path) -> None:
    assert requests.get(f"{server.url}/healthz", timeout=5).json() == {"status": "alive"}
    files = {"image": ("a.jpg", lesion_path.read_bytes(), "image/jpeg")}
    response = requests.post(f"{server.url}/api/v1/analyze", files=files, timeout=60)
    assert response.status_code == 200
    assert 0.0 <= response.json()["malignant_probability"] <= 1.0


def test_gunicorn_answers_bad_input_with_json(server) -> None:
    files = {"image": ("a.jpg", b"nope", "image/jpeg")}
    response = requests.post(f"{server.url}/api/v1/analyze", files=files, timeout=30)
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_image"


def test_access_log_has_one_line_per_request(server) -> None:
    requests.get(f"{server.url}/healthz?marker=access-log-check", timeout=5)
    # gunicorn writes the access line after the response has gone out: give it a moment.
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in server.output().splitlines() if "access-log-check" in line]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(lines) == 1 and " 200 " in lines[0]


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_refuses_to_start_without_a_sound_model(tmp_path: Path, damage: str) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models, ignore=shutil.ignore_patterns(".checkpoints"))
    if damage == "missing":
        (models / "classifier.keras").unlink()
    else:
        (models / "classifier.keras").write_bytes(b"garbage")
    running = start_server(workers=1, LESION_MODELS_DIR=str(models))
    code = running.process.wait(timeout=60)
    output = running.output()
    assert code != 0
    problem = [line for line in output.splitlines() if "cannot start" in line]
    assert len(problem) == 1 and "classifier.keras" in problem[0]
    assert "Traceback" not in output


def test_no_runtime_control_socket(server) -> None:
    # gunicorn >= 25.1 opens one in $HOME unless told not to: shared by every instance on a
    # host and unwritable under the container's read-only root.
    assert "control socket" not in server.output().lower()
