"""Records fixtures: a database per test on SQLite and on a real PostgreSQL server, the app with records on."""

from __future__ import annotations

import base64
import io
import itertools
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app import create_app
from app.inference_extension import EXTENSION_KEY as PREDICTOR_KEY
from records import accounts
from records.db import make_engine, migrate, session_factory
from tests.conftest import ISIC_FIXTURES
from tests.records.postgres import Server, server_bin

BACKENDS = ("sqlite", "postgresql")
PASSWORD = "correct horse battery staple"
PHOTO = ISIC_FIXTURES / "images" / "ISIC_0012099.jpg"
_names = itertools.count()


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Server]:
    """One throwaway PostgreSQL server for the session; missing binaries fail in CI, skip elsewhere."""
    bin_dir = server_bin()
    if bin_dir is None:
        message = "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    server = Server(bin_dir).start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, migrated database: SQLite in tmp_path, or a new database on the PostgreSQL server (dropped after)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
        migrate(url)
        yield url
        return
    server, name = request.getfixturevalue("postgres"), f"records_{os.getpid()}_{next(_names)}"
    url = server.create_database(name)
    migrate(url)
    yield url
    server.drop_database(name)


@pytest.fixture()
def records_key() -> str:
    return new_key()


def records_app(app, url: str, key: str, **config):
    """An app with records on, sharing the session app's loaded models."""
    made = create_app({"TESTING": True, "LOAD_MODELS": False, "RECORDS_KEY": key, "DATABASE_URL": url, **config})
    made.extensions[PREDICTOR_KEY] = app.extensions[PREDICTOR_KEY]
    return made


@pytest.fixture()
def rapp(app, database_url: str, records_key: str):
    made = records_app(app, database_url, records_key)
    yield made
    made.extensions["lesion_records"].engine.dispose()


@pytest.fixture()
def rclient(rapp):
    return rapp.test_client()


def add_user(url: str, email: str, clinic: str, admin: bool = False) -> None:
    engine = make_engine(url)
    with session_factory(engine)() as session:
        accounts.create_user(session, email, PASSWORD, clinic, admin)
        session.commit()
    engine.dispose()


@dataclass
class Clinician:
    """A signed-up user of a clinic with an API token, and helpers that call the records API."""

    client: object
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, path: str, **json) -> object:
        return self.client.post(f"/api/v1/records{path}", json=json, headers=self.headers)

    def get(self, path: str) -> object:
        return self.client.get(f"/api/v1/records{path}", headers=self.headers)

    def delete(self, path: str) -> object:
        return self.client.delete(f"/api/v1/records{path}", headers=self.headers)

    def patient(self, code: str = "P-001", **fields) -> int:
        response = self.post("/patients", code=code, **fields)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def lesion(self, patient_id: int, site: str = "anterior torso", label: str = "") -> int:
        response = self.post(f"/patients/{patient_id}/lesions", site=site, label=label)
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def visit(self, lesion_id: int, data: bytes, date: str = "2026-01-05", **fields):
        form = {"image": (io.BytesIO(data), "photo.jpg"), "date": date, **fields}
        return self.client.post(
            f"/api/v1/records/lesions/{lesion_id}/visits",
            data=form,
            headers=self.headers,
            content_type="multipart/form-data",
        )


def sign_up(client, url: str, email: str, clinic: str, admin: bool = False) -> Clinician:
    add_user(url, email, clinic, admin)
    response = client.post("/api/v1/records/tokens", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.get_json()
    return Clinician(client, email, response.get_json()["token"])


@pytest.fixture()
def alice(rclient, database_url) -> Clinician:
    """An admin of clinic A."""
    return sign_up(rclient, database_url, "alice@a.example", "Clinic A", admin=True)


@pytest.fixture()
def bob(rclient, database_url) -> Clinician:
    """A clinician of clinic B."""
    return sign_up(rclient, database_url, "bob@b.example", "Clinic B")


@pytest.fixture(scope="session")
def photo() -> bytes:
    return PHOTO.read_bytes()
