"""The container image, built and run with podman (``make container-test``).

Skipped, with the reason, where podman is not installed or cannot run a container here.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import ISIC_FIXTURES, ROOT

pytestmark = pytest.mark.container
PODMAN = str(ROOT / "deploy" / "podman.sh")
TAG = "localhost/lesion:test"
#: 632 MB measured 2026-12-06: patient records added 49 MB (SQLAlchemy 18, cryptography 15, psycopg's
#: bundled libpq 10, Alembic, Flask-Login/WTF); the rest is LiteRT, OpenCV, NumPy and the TFLite models.
MAX_IMAGE_BYTES = 650 * 1000 * 1000
FIXTURE = ISIC_FIXTURES / "images" / "ISIC_0012151.jpg"


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=check)


def _cannot_run_containers() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman runc mmdebstrap)"
    probe = subprocess.run([PODMAN, "info"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return f"podman cannot run here: {probe.stderr.strip().splitlines()[-1:]}"
    return None


@pytest.fixture(scope="module")
def image() -> str:
    reason = _cannot_run_containers()
    if reason:
        pytest.skip(reason)
    build = subprocess.run(
        ["bash", str(ROOT / "deploy" / "build-image.sh")],
        env={"TAG": TAG, "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return TAG


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


@pytest.fixture(scope="module")
def running(image: str) -> Iterator[tuple[str, int]]:
    """A container of the image, ready; yields (container name, port)."""
    name, port = f"lesion-test-{uuid.uuid4().hex[:8]}", _free_port()
    podman("run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}", image)
    try:
        deadline = time.monotonic() + 120
        while _get(f"http://127.0.0.1:{port}/readyz") != 200:
            state = podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
            assert state == "true", podman("logs", name, check=False).stderr[-3000:]
            assert time.monotonic() < deadline, "not ready within 120 s"
            time.sleep(0.5)
        yield name, port
    finally:
        podman("rm", "-f", name, check=False)


def test_image_is_small_and_has_no_tensorflow(image: str) -> None:
    size = int(podman("image", "inspect", image, "--format", "{{.Size}}").stdout)
    assert size <= MAX_IMAGE_BYTES, f"image is {size / 1e6:.0f} MB"
    probe = podman(
        "run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c",
        "import importlib.util as u; print(u.find_spec('tensorflow') is None, u.find_spec('keras') is None)",
    )  # fmt: skip
    assert probe.stdout.split() == ["True", "True"]


def test_runs_as_non_root(running: tuple[str, int]) -> None:
    name, _ = running
    assert podman("exec", name, "id", "-u").stdout.strip() not in ("", "0")


def test_analyzes_an_upload(running: tuple[str, int]) -> None:
    _, port = running
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + FIXTURE.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/analyze",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    assert 0.0 <= answer["malignant_probability"] <= 1.0 and answer["quality"]["kind"] == "dermoscopy"
    assert answer["mask_png"]


def test_healthcheck_passes(running: tuple[str, int]) -> None:
    name, _ = running
    check = podman("healthcheck", "run", name, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_sigterm_stops_it_cleanly(image: str) -> None:
    name, port = f"lesion-stop-{uuid.uuid4().hex[:8]}", _free_port()
    podman("run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}", image)
    try:
        deadline = time.monotonic() + 120
        while _get(f"http://127.0.0.1:{port}/readyz") != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        podman("kill", "--signal", "TERM", name)
        podman("wait", name, timeout=60)
        assert podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        podman("rm", "-f", name, check=False)


def test_missing_model_gives_one_line(image: str) -> None:
    result = podman("run", "--rm", "--network", "none", "-e", "LESION_MODELS_DIR=/nowhere", image, check=False)
    assert result.returncode != 0
    errors = [line for line in (result.stdout + result.stderr).splitlines() if "cannot start" in line]
    assert len(errors) == 1 and "/nowhere/classifier.json" in errors[0], result.stdout + result.stderr
