"""The Dockerfile against the repository (tests/test_container.py builds and runs it)."""

from __future__ import annotations

import json
import re
import shlex

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line[len(name) + 1 :].strip() for line in joined.splitlines() if line.startswith(f"{name} ")]


def test_every_copied_path_exists_and_is_not_ignored() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    copies = [c for c in _instructions("COPY") if not c.startswith("--from=")]
    assert copies
    for instruction in copies:
        for source in shlex.split(instruction)[:-1]:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
            assert f"!{source}" in ignored, f".dockerignore leaves {source} out of the build context"


def test_command_is_the_one_make_run_uses() -> None:
    command = json.loads(_instructions("CMD")[0])
    makefile = (ROOT / "Makefile").read_text()
    run_recipe = re.search(r"^run:.*\n\t(.+)$", makefile, re.MULTILINE).group(1)
    assert " ".join(command[1:]) in run_recipe and command[0] == "gunicorn"


def test_image_basics() -> None:
    assert DOCKERFILE.startswith("#") and "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE
    assert _instructions("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]  # multi-stage
    assert _instructions("USER") == ["10001:10001"]
    assert "/healthz" in _instructions("HEALTHCHECK")[0]
    assert "requirements-dev" not in DOCKERFILE  # runtime dependencies only
    serving = (ROOT / "requirements-serve.txt").read_text()
    assert "tensorflow" not in serving and "ai-edge-litert" in serving
