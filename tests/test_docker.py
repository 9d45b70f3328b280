"""No Docker engine runs here: check the Dockerfile against the repository instead."""

from __future__ import annotations

import json
import re
import shlex

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line[len(name) + 1 :].strip() for line in joined.splitlines() if line.startswith(f"{name} ")]


def test_every_copied_path_exists() -> None:
    copies = _instructions("COPY")
    assert copies
    for instruction in copies:
        sources = shlex.split(instruction)[:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"


def test_command_is_the_one_make_run_uses() -> None:
    command = json.loads(_instructions("CMD")[0])
    makefile = (ROOT / "Makefile").read_text()
    run_recipe = re.search(r"^run:.*\n\t(.+)$", makefile, re.MULTILINE).group(1)
    assert " ".join(command[1:]) in run_recipe and command[0] == "gunicorn"


def test_image_basics() -> None:
    assert DOCKERFILE.startswith("#") and "FROM python:3.11-slim" in DOCKERFILE
    assert _instructions("USER") == ["lesion"]
    assert "/healthz" in _instructions("HEALTHCHECK")[0]
    assert "requirements-dev" not in DOCKERFILE  # runtime dependencies only
