"""gunicorn started as `make run` starts it, on a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import MODELS_DIR, ROOT

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(port: int, **env: str) -> subprocess.Popen:
    environment = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "1", **env}
    # The same command as `make run`, bound to loopback only for the test.
    return subprocess.Popen(
        [GUNICORN, "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    process = _start(port)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail(f"gunicorn did not become ready: {process.communicate()[0][-2000:]}")
    yield base, process
    process.terminate()
    process.wait(timeout=30)


def test_gunicorn_serves_the_api(server, lesion_path) -> None:
    base, _ = server
    assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "alive"}
    response = requests.post(
        f"{base}/api/v1/analyze", files={"image": ("a.jpg", lesion_path.read_bytes(), "image/jpeg")}, timeout=60
    )
    assert response.status_code == 200
    assert 0.0 <= response.json()["malignant_probability"] <= 1.0


def test_gunicorn_answers_bad_input_with_json(server) -> None:
    base, _ = server
    response = requests.post(f"{base}/api/v1/analyze", files={"image": ("a.jpg", b"nope", "image/jpeg")}, timeout=30)
    assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_image"


def _copy_models(tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(MODELS_DIR, target, ignore=shutil.ignore_patterns(".checkpoints"))
    return target


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_refuses_to_start_without_a_sound_model(tmp_path: Path, damage: str) -> None:
    models = _copy_models(tmp_path)
    if damage == "missing":
        (models / "classifier.keras").unlink()
    else:
        (models / "classifier.keras").write_bytes(b"garbage")
    process = _start(_free_port(), LESION_MODELS_DIR=str(models))
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    problem = [line for line in output.splitlines() if "cannot start" in line]
    assert len(problem) == 1 and "classifier.keras" in problem[0]
    assert "Traceback" not in output
