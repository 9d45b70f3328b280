"""Storage: photos encrypted at rest, the audit trail append-only, backup/restore, key rotation, migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from records.backup import backup, restore
from records.crypto import PhotoCipher
from records.db import ROOT, current_revision, head_revision, make_engine, migrate
from records.errors import RecordsKeyError
from records.models import Base, Photo
from records.service import photo_context
from tests.records.conftest import new_key, records_app, sign_up

#: A run this long from the photo anywhere in the database files would mean a plaintext copy.
RUN = 32


def photo_runs(photo: bytes, count: int = 96) -> list[bytes]:
    """``count`` runs of the photo spread over it, the start and end included."""
    step = max(1, (len(photo) - RUN) // (count - 1))
    return [photo[offset : offset + RUN] for offset in range(0, len(photo) - RUN + 1, step)][:count]


def database_files(url: str, postgres, since: float) -> list[Path]:
    """The files that hold the database's data: SQLite's file and WAL; PostgreSQL's database folder and WAL."""
    if url.startswith("sqlite"):
        path = Path(url.split("///", 1)[1])
        return [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    postgres.checkpoint()
    folder = postgres.database_dir(url.rsplit("/", 1)[1])
    # Only WAL segments written during this test (the server is shared by the whole session).
    wal = [p for p in (postgres.data / "pg_wal").iterdir() if p.is_file() and p.stat().st_mtime >= since]
    return [p for p in folder.rglob("*") if p.is_file()] + wal


def test_the_database_holds_no_run_of_the_photo(request, alice, database_url, photo) -> None:
    since = time.time() - 1
    visit = alice.visit(alice.lesion(alice.patient()), photo).get_json()["id"]
    assert alice.get(f"/visits/{visit}/image").data == photo
    postgres = request.getfixturevalue("postgres") if database_url.startswith("postgresql") else None
    files = database_files(database_url, postgres, since)
    engine = make_engine(database_url)
    with Session(engine) as session:
        sealed = session.get(Photo, visit).sealed
    engine.dispose()
    runs, sealed_runs = photo_runs(photo), photo_runs(sealed)
    raws = [path.read_bytes() for path in files]
    # The control: the scan sees the sealed photo where it lies, so it would see a plain one.
    assert sum(run in raw for run in sealed_runs for raw in raws) > len(sealed_runs) // 2
    for path, raw in zip(files, raws, strict=True):
        found = [offset for offset, run in enumerate(runs) if run in raw]
        assert not found, f"{path} holds plain runs of the photo"


def test_the_sealed_photo_is_bound_to_its_key_and_visit(alice, database_url, records_key, photo) -> None:
    visit = alice.visit(alice.lesion(alice.patient()), photo).get_json()["id"]
    engine = make_engine(database_url)
    with Session(engine) as session:
        sealed = session.get(Photo, visit).sealed
    engine.dispose()
    cipher = PhotoCipher.from_setting(records_key)
    assert cipher.open(sealed, photo_context(visit)) == photo
    with pytest.raises(RecordsKeyError):
        cipher.open(sealed, photo_context(visit + 1))
    with pytest.raises(RecordsKeyError):
        PhotoCipher.from_setting(new_key()).open(sealed, photo_context(visit))
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(RecordsKeyError):
        cipher.open(tampered, photo_context(visit))


@pytest.mark.parametrize("key", ["", "not base64 !!", "c2hvcnQ=", "A" * 44])
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(RecordsKeyError):
        PhotoCipher.from_setting(key)


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"]
)
def test_the_audit_trail_refuses_changes(alice, database_url, statement: str) -> None:
    alice.patient()
    engine = make_engine(database_url)
    with engine.connect() as connection:
        before = connection.execute(text("SELECT id, actor FROM audit_events ORDER BY id")).all()
    assert before
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id, actor FROM audit_events ORDER BY id")).all() == before
    engine.dispose()


def _snapshot(client) -> dict:
    """Everything a clinician sees of their records, photos included."""
    patients = client.get("/patients").get_json()["patients"]
    lesions = {}
    for patient in patients:
        for lesion in client.get(f"/patients/{patient['id']}").get_json()["lesions"]:
            timeline = client.get(f"/lesions/{lesion['id']}").get_json()
            photos = [client.get(f"/visits/{visit['id']}/image").data for visit in timeline["visits"]]
            lesions[lesion["id"]] = (timeline, photos)
    return {"patients": patients, "lesions": lesions}


def _fresh_url(request, database_url: str, tmp_path: Path, name: str) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / name}"
    return request.getfixturevalue("postgres").create_database(f"{name}_{tmp_path.name[-20:]}".lower())


def test_backup_to_a_fresh_database_restores_the_same_records(
    request, app, alice, database_url, records_key, tmp_path, photo
) -> None:
    lesion = alice.lesion(alice.patient("B-1", birth_year=1961, sex="female"), label="left shoulder")
    alice.visit(lesion, photo, date="2026-01-02")
    alice.visit(lesion, photo, date="2026-03-04", mm_per_px="0.05")
    before = _snapshot(alice)
    copy = backup(database_url, tmp_path / "records.backup")
    assert copy.stat().st_size > 0
    fresh = _fresh_url(request, database_url, tmp_path, "restored")
    restore(fresh, copy)
    restored_app = records_app(app, fresh, records_key)
    alice.client = restored_app.test_client()
    assert _snapshot(alice) == before
    assert current_revision(make_engine(fresh)) == head_revision()
    restored_app.extensions["lesion_records"].engine.dispose()


def test_rotating_the_key_re_encrypts_every_photo(app, alice, database_url, records_key, photo) -> None:
    lesion = alice.lesion(alice.patient())
    visits = [alice.visit(lesion, photo, date=f"2026-0{month}-01").get_json()["id"] for month in (1, 2)]
    old_key, new = records_key, new_key()
    rotated = records_app(app, database_url, old_key)
    result = rotated.test_cli_runner().invoke(args=["records", "rotate-key"], input=new + "\n")
    assert result.exit_code == 0 and "re-encrypted 2 photos" in result.output, result.output
    engine = make_engine(database_url)
    with Session(engine) as session:
        for visit in visits:
            sealed = session.get(Photo, visit).sealed
            assert PhotoCipher.from_setting(new).open(sealed, photo_context(visit)) == photo
            with pytest.raises(RecordsKeyError):
                PhotoCipher.from_setting(old_key).open(sealed, photo_context(visit))
    engine.dispose()
    alice.client = records_app(app, database_url, new).test_client()
    assert all(alice.get(f"/visits/{visit}/image").data == photo for visit in visits)


def test_a_wrong_new_key_changes_nothing(app, alice, database_url, records_key, photo) -> None:
    visit = alice.visit(alice.lesion(alice.patient()), photo).get_json()["id"]
    result = records_app(app, database_url, records_key).test_cli_runner().invoke(
        args=["records", "rotate-key"], input="too short\n"
    )
    assert result.exit_code != 0
    assert alice.get(f"/visits/{visit}/image").data == photo


def test_the_migration_builds_exactly_the_models(database_url) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_make_migrate_brings_an_empty_database_up_to_date(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    completed = subprocess.run(
        [sys.executable, "-m", "records", "migrate"],
        cwd=ROOT,
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert current_revision(make_engine(url)) == head_revision() == migrate(url)


def test_create_user_reads_the_password_from_stdin(rapp, rclient, database_url) -> None:
    runner = rapp.test_cli_runner()
    args = ["records", "create-user", "Eve@C.example", "--clinic", "Clinic C", "--admin"]
    result = runner.invoke(args=args, input="a long enough password\n")
    assert result.exit_code == 0, result.output
    token = rclient.post(
        "/api/v1/records/tokens", json={"email": "eve@c.example", "password": "a long enough password"}
    )
    assert token.status_code == 201
    again = runner.invoke(args=args, input="a long enough password\n")
    assert again.exit_code != 0 and "exists already" in again.output
    short = runner.invoke(args=["records", "create-user", "f@c.example", "--clinic", "C"], input="short\n")
    assert short.exit_code != 0


def test_users_of_one_clinic_share_its_records(rclient, alice, database_url) -> None:
    patient = alice.patient("SHARED")
    colleague = sign_up(rclient, database_url, "amy@a.example", "Clinic A")
    assert colleague.get(f"/patients/{patient}").status_code == 200


def test_make_backup_and_restore_commands(request, alice, database_url, tmp_path, photo) -> None:
    """`python -m records backup FILE` (what `make backup` runs) and `restore FILE`, on the real URL."""
    visit = alice.visit(alice.lesion(alice.patient("CLI-1")), photo).get_json()["id"]
    fresh = _fresh_url(request, database_url, tmp_path, "cli_restored")

    def run(url: str, *args: str) -> subprocess.CompletedProcess:
        environment = {"DATABASE_URL": url, "PATH": os.environ["PATH"]}
        return subprocess.run(
            [sys.executable, "-m", "records", *args], cwd=ROOT, env=environment, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip

    copy = tmp_path / "nested" / "records.backup"
    assert run(database_url, "backup", str(copy)).returncode == 0 and copy.stat().st_size > 0
    restored = run(fresh, "restore", str(copy))
    assert restored.returncode == 0, restored.stderr
    engine = make_engine(fresh)
    with Session(engine) as session:
        assert session.get(Photo, visit) is not None
    engine.dispose()
    missing = run(fresh, "restore", str(tmp_path / "no-such.backup"))
    assert missing.returncode == 1 and "no backup file" in missing.stderr
