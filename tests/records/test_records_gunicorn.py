"""Nothing lost under gunicorn: concurrent clients, and a worker SIGKILLed in the middle of saving a visit."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import requests
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bench.server import ready_server
from records.crypto import PhotoCipher
from records.db import make_engine
from records.models import AuditEvent, Photo, Visit
from records.service import photo_context
from tests.records.conftest import PASSWORD, PHOTO, add_user

CLIENTS = 8
VISITS = 200


def small_photo() -> bytes:
    """The fixture photo at 160 px: the models still see a lesion, each analysis is quick."""
    with Image.open(PHOTO) as image:
        image = image.convert("RGB")
        image.thumbnail((160, 160))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _server_env(url: str, key: str, **extra: str) -> dict[str, str]:
    return {"LESION_RECORDS_KEY": key, "DATABASE_URL": url, "GUNICORN_MAX_REQUESTS": "0", **extra}


def _token(base: str, email: str) -> dict[str, str]:
    response = requests.post(f"{base}/api/v1/records/tokens", json={"email": email, "password": PASSWORD}, timeout=30)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _lesion(base: str, headers: dict[str, str], code: str) -> int:
    patient = requests.post(f"{base}/api/v1/records/patients", json={"code": code}, headers=headers, timeout=30)
    lesion = requests.post(
        f"{base}/api/v1/records/patients/{patient.json()['id']}/lesions",
        json={"site": "posterior torso"},
        headers=headers,
        timeout=30,
    )
    assert lesion.status_code == 201, lesion.text
    return lesion.json()["id"]


def _post_visit(
    base: str, headers: dict[str, str], lesion: int, data: bytes, day: int, timeout: float = 120, http=requests
):
    """Add a visit on the ``day``-th day of 2026 (28-day months)."""
    date = f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}"
    files = {"image": ("photo.jpg", data, "image/jpeg")}
    return http.post(
        f"{base}/api/v1/records/lesions/{lesion}/visits",
        files=files,
        data={"date": date},
        headers=headers,
        timeout=timeout,
    )


@contextlib.contextmanager
def _slow_upload(port: int, headers: dict[str, str], lesion: int) -> Iterator[None]:
    """A client that has sent half of a visit's photo and waits (holding no database lock meanwhile)."""
    body = b'--b\r\nContent-Disposition: form-data; name="date"\r\n\r\n2026-12-01\r\n--b\r\n'
    body += b'Content-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n' + b"x" * 5000
    head = (
        f"POST /api/v1/records/lesions/{lesion}/visits HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {headers['Authorization']}\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {len(body) + 100_000}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
        slow.sendall(head.encode() + body)
        time.sleep(0.5)
        yield


def test_eight_concurrent_clients_add_exactly_200_visits(database_url, records_key) -> None:
    add_user(database_url, "load@a.example", "Clinic A")
    data = small_photo()
    with ready_server(workers=2, **_server_env(database_url, records_key)) as server:
        headers = _token(server.url, "load@a.example")
        lesions = [_lesion(server.url, headers, f"C-{client}") for client in range(CLIENTS)]

        def client(number: int) -> list[int]:
            answers = []
            with requests.Session() as http:
                for day in range(VISITS // CLIENTS):
                    response = _post_visit(server.url, headers, lesions[number], data, day, http=http)
                    answers.append(response.status_code)
            return answers

        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [status for answers in pool.map(client, range(CLIENTS)) for status in answers]
        assert statuses == [201] * VISITS, server.output()[-3000:]
        timelines = [
            requests.get(f"{server.url}/api/v1/records/lesions/{lesion}", headers=headers, timeout=30).json()
            for lesion in lesions
        ]
        with _slow_upload(server.port, headers, lesions[0]):
            started = time.monotonic()
            other = requests.post(
                f"{server.url}/api/v1/records/patients", json={"code": "W"}, headers=headers, timeout=60
            )
            assert other.status_code == 201 and time.monotonic() - started < 10  # not stuck behind the slow upload
    assert [len(timeline["visits"]) for timeline in timelines] == [VISITS // CLIENTS] * CLIENTS
    engine = make_engine(database_url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Visit)) == VISITS
        assert session.scalar(select(func.count()).select_from(Photo)) == VISITS
    engine.dispose()


def test_a_worker_killed_while_saving_leaves_no_half_written_visit(rapp, alice, database_url, records_key) -> None:
    data = small_photo()
    lesion = alice.lesion(alice.patient())
    earlier = [alice.visit(lesion, data, date=f"2026-0{month}-01").get_json()["id"] for month in (1, 2, 3)]
    add_user(database_url, "kill@a.example", "Clinic A")
    env = _server_env(database_url, records_key, LESION_RECORDS_TEST_PAUSE_BEFORE_COMMIT="60")
    with ready_server(workers=1, **env) as server:
        headers = _token(server.url, "kill@a.example")
        answer: list[object] = []

        def save() -> None:
            try:
                answer.append(_post_visit(server.url, headers, lesion, data, 120, timeout=90).status_code)
            except requests.RequestException as error:
                answer.append(error)

        thread = threading.Thread(target=save)
        thread.start()
        deadline = time.monotonic() + 90
        while "wrote a visit, not committed" not in server.output():
            assert time.monotonic() < deadline and thread.is_alive(), server.output()[-3000:]
            time.sleep(0.05)
        pids = server.worker_pids()
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGKILL)
        thread.join(60)
        assert answer and answer[0] != 201
    engine = make_engine(database_url)
    cipher = PhotoCipher.from_setting(records_key)
    with Session(engine) as session:
        assert list(session.scalars(select(Visit.id).order_by(Visit.id))) == earlier
        photos = {photo.visit_id: photo.sealed for photo in session.scalars(select(Photo))}
        assert sorted(photos) == earlier
        assert all(cipher.open(photos[visit], photo_context(visit)) == data for visit in earlier)
        created = session.scalars(select(AuditEvent.target).where(AuditEvent.action == "create"))
        assert sorted(target for target in created if target.startswith("visit")) == [f"visit {v}" for v in earlier]
    engine.dispose()
    # The database is still usable: the next visit saves and is compared with the last intact one.
    response = alice.visit(lesion, data, date="2026-04-01")
    assert response.status_code == 201 and response.get_json()["change"] is not None
