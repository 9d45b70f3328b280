"""Start gunicorn exactly as `make run` does, on a free loopback port, and inspect its workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    started: float
    log: Path

    def output(self) -> str:
        """What gunicorn has printed so far (access and error log)."""
        return self.log.read_text(errors="replace")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        """PIDs of the gunicorn workers (children of the master)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def rss_mb(self, pid: int) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def wait_ready(self, timeout: float = 120) -> float:
        """Wait for /readyz = 200; return seconds since the process started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - self.started
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise TimeoutError("gunicorn did not become ready")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextlib.contextmanager
def ready_server(workers: int | None = None, **env: str) -> Iterator[Server]:
    """A started, ready gunicorn that is stopped afterwards; errors carry gunicorn's output."""
    server = start_server(workers, **env)
    try:
        try:
            server.wait_ready()
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{error}: {server.output()[-2000:]}") from error
        yield server
    finally:
        server.stop()


def start_server(workers: int | None = None, **env: str) -> Server:
    """Run the `make run` command (gunicorn with gunicorn.conf.py) bound to loopback."""
    port = free_port()
    environment = {**os.environ, "PORT": str(port), **env}
    if workers is not None:
        environment["WEB_CONCURRENCY"] = str(workers)
    # A file, not a pipe: a full pipe would block gunicorn's access log under load.
    log = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
    with log.open("w") as sink:
        process = subprocess.Popen(
            [GUNICORN, "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
            cwd=ROOT,
            env=environment,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Server(process, port, time.monotonic(), log)
