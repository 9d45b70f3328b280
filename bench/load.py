"""Load and fault runs against gunicorn as `make run` starts it (loopback only, bounded).

    python -m bench.load [--seconds 60] [--concurrency 16]

Runs, in order: a soak at the given concurrency (zero 5xx expected, p50/p95/p99, worker RSS
before and after), a slow client sending its body byte by byte while others are served, a
worker killed with SIGKILL under load, workers recycled every few requests (max_requests)
under load, and SIGTERM while a request is in flight. Writes
bench/LOAD_RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import requests

from bench.server import ROOT, Server, start_server

FIXTURE = ROOT / "tests" / "fixtures" / "isic" / "images" / "ISIC_0012099.jpg"


def post_image(url: str, data: bytes, timeout: float = 60) -> tuple[int, float]:
    """POST one image; return (status or 0 on a connection error, seconds)."""
    started = time.perf_counter()
    try:
        status = requests.post(
            f"{url}/api/v1/analyze", files={"image": ("a.jpg", data, "image/jpeg")}, timeout=timeout
        ).status_code
    except requests.RequestException:
        status = 0
    return status, time.perf_counter() - started


def soak(server: Server, seconds: float, concurrency: int, data: bytes) -> dict:
    """Send requests from ``concurrency`` clients for ``seconds``; count statuses and latencies."""
    deadline = time.monotonic() + seconds
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < deadline:
            outcome = post_image(server.url, data)
            with lock:
                results.append(outcome)

    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(client)
    latencies = sorted(seconds for _, seconds in results)
    statuses = Counter(status for status, _ in results)
    return {
        "requests": len(results),
        "statuses": dict(statuses),
        "server_errors": sum(n for status, n in statuses.items() if status >= 500 or status == 0),
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "throughput_rps": len(results) / seconds,
    }


def slow_client_run(server: Server, data: bytes, byte_interval: float = 0.05, body_bytes: int = 120) -> dict:
    """A client trickles a multipart body byte by byte; others must be served meanwhile."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="s.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + b"x" * body_bytes
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    finished = threading.Event()
    slow_status: list[str] = []

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
            sock.sendall(head)
            for byte in body:
                sock.sendall(bytes([byte]))
                time.sleep(byte_interval)
            slow_status.append(sock.recv(64).decode(errors="replace").split("\r\n")[0])
        finished.set()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    time.sleep(0.5)
    served_during = []
    while not finished.is_set() and len(served_during) < 50:
        served_during.append(post_image(server.url, data))
    thread.join(timeout=120)
    return {
        "slow_client_seconds": round(len(body) * byte_interval, 1),
        "slow_client_answer": slow_status[0] if slow_status else "none",
        "served_while_slow": sum(1 for status, _ in served_during if status == 200),
        "failed_while_slow": sum(1 for status, _ in served_during if status != 200),
        "max_ms_while_slow": round(1000 * max((s for _, s in served_during), default=0), 1),
    }


def kill_worker_run(server: Server, data: bytes, requests_after: int = 20) -> dict:
    """SIGKILL one worker while clients are busy; the next requests must succeed."""
    victim = server.worker_pids()[0]
    with ThreadPoolExecutor(4) as pool:
        in_flight = [pool.submit(post_image, server.url, data) for _ in range(8)]
        time.sleep(0.2)
        os.kill(victim, signal.SIGKILL)
        during = [future.result() for future in in_flight]
    deadline = time.monotonic() + 60
    while victim in server.worker_pids() or len(server.worker_pids()) < 1:
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    after = [post_image(server.url, data) for _ in range(requests_after)]
    return {
        "killed_worker": victim,
        "workers_after": server.worker_pids(),
        "failed_during_kill": sum(1 for status, _ in during if status != 200),
        "ok_after_kill": sum(1 for status, _ in after if status == 200),
        "requests_after_kill": requests_after,
    }


def recycle_run(data: bytes, requests_total: int = 200, max_requests: int = 5, concurrency: int = 4) -> dict:
    """Recycle workers every ``max_requests`` requests (no jitter) under load; none may be dropped."""
    server = start_server(GUNICORN_MAX_REQUESTS=str(max_requests), GUNICORN_MAX_REQUESTS_JITTER="0")
    try:
        server.wait_ready()
        with ThreadPoolExecutor(concurrency) as pool:
            outcomes = list(pool.map(lambda _: post_image(server.url, data), range(requests_total)))
    finally:
        server.stop()
    statuses = Counter(status for status, _ in outcomes)
    return {
        "requests": requests_total,
        "concurrency": concurrency,
        "max_requests": max_requests,
        "recycles": server.output().count("Autorestarting worker"),
        "statuses": dict(statuses),
        "failed": requests_total - statuses.get(200, 0),
    }


def sigterm_drain_run(data: bytes) -> dict:
    """SIGTERM the master while a request's body is still arriving; it must still be answered."""
    server = start_server(workers=1)
    server.wait_ready()
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Length: {len(body)}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        sock.sendall(body[len(body) // 2 :])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    exit_code = server.process.wait(timeout=60)
    return {"in_flight_answer": answer.split(b"\r\n", 1)[0].decode(errors="replace"), "exit_code": exit_code}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "LOAD_RESULTS.md")
    args = parser.parse_args(argv)
    data = FIXTURE.read_bytes()
    # Worker recycling (max_requests) is switched off so a leak would show in the same workers.
    server = start_server(GUNICORN_MAX_REQUESTS="0")
    try:
        ready = server.wait_ready()
        for _ in range(5):
            post_image(server.url, data)
        rss_before = {pid: server.rss_mb(pid) for pid in server.worker_pids()}
        soaked = soak(server, args.seconds, args.concurrency, data)
        rss_after = {pid: server.rss_mb(pid) for pid in server.worker_pids()}
        slow = slow_client_run(server, data)
        killed = kill_worker_run(server, data)
    finally:
        server.stop()
    recycled = recycle_run(data, requests_total=1000)
    drained = sigterm_drain_run(data)
    survivors = [pid for pid in rss_before if pid in rss_after]
    growth = max((rss_after[pid] / rss_before[pid] - 1 for pid in survivors), default=float("nan"))
    lines = [
        "# Load and fault results",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"date {date.today().isoformat()}; gunicorn as `make run` starts it (WEB_CONCURRENCY default), "
        f"loopback only; image {FIXTURE.name} (256x256 JPEG).",
        "",
        f"Ready {ready:.1f} s after start.",
        "",
        f"## Soak: {args.seconds:.0f} s at concurrency {args.concurrency}",
        "",
        f"- requests: {soaked['requests']} ({soaked['throughput_rps']:.1f}/s), statuses {soaked['statuses']}",
        f"- 5xx or connection errors: {soaked['server_errors']}",
        f"- latency p50 {soaked['p50_ms']:.0f} ms, p95 {soaked['p95_ms']:.0f} ms, p99 {soaked['p99_ms']:.0f} ms",
        f"- worker RSS before (MB): {_fmt(rss_before)}; after: {_fmt(rss_after)}; largest growth {100 * growth:.1f}% "
        f"(same {len(survivors)} workers; recycling by max_requests switched off for this run)",
        "",
        "## Slow client",
        "",
        f"- a client sent its body one byte every 50 ms for {slow['slow_client_seconds']} s "
        f"(answered `{slow['slow_client_answer']}`)",
        f"- meanwhile {slow['served_while_slow']} other requests were answered 200 "
        f"({slow['failed_while_slow']} failed), slowest {slow['max_ms_while_slow']} ms",
        "",
        "## Worker killed with SIGKILL under load",
        "",
        f"- in-flight requests that failed: {killed['failed_during_kill']} of 8",
        f"- requests after the kill answered 200: {killed['ok_after_kill']} of {killed['requests_after_kill']}; "
        f"workers before/after: {killed['killed_worker']} -> {killed['workers_after']}",
        "",
        f"## Worker recycling: a worker restarts every {recycled['max_requests']} requests",
        "",
        f"- {recycled['requests']} requests at concurrency {recycled['concurrency']}, "
        f"{recycled['recycles']} worker restarts: statuses {recycled['statuses']}, "
        f"{recycled['failed']} failed or reset",
        "",
        "## SIGTERM with a request in flight",
        "",
        f"- the in-flight request got `{drained['in_flight_answer']}`; gunicorn exited with {drained['exit_code']}",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _fmt(rss: dict[int, float]) -> str:
    return ", ".join(f"{value:.0f}" for value in rss.values())


if __name__ == "__main__":
    main()
