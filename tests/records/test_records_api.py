"""The records API: isolation between clinics, tokens, hostile text, photos, erasure (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from records.db import make_engine
from records.repository import visit_count
from tests.conftest import FIXTURES, encode
from tests.records.conftest import PASSWORD, records_app, sign_up

HOSTILE = [
    "Robert'); DROP TABLE patients;--",
    "' OR '1'='1",
    "<script>alert(1)</script>",
    "\u202e" + "Ωμέγα 名前 🧬 \u200b" * 700,  # over 10 kB of UTF-8, a right-to-left override, zero-width spaces
]


def _count(url: str) -> int:
    from sqlalchemy.orm import Session

    engine = make_engine(url)
    with Session(engine) as session:
        count = visit_count(session)
    engine.dispose()
    return count


def test_a_visit_round_trips_byte_for_byte(alice, photo) -> None:
    lesion = alice.lesion(alice.patient())
    response = alice.visit(lesion, photo, mm_per_px="0.05")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["date"] == "2026-01-05" and body["change"] is None
    assert body["analysis"]["malignant_probability"] is not None and "mask_png" not in body["analysis"]
    assert body["analysis"]["lesion"]["diameter_mm"] is not None
    stored = alice.get(f"/visits/{body['id']}").get_json()
    assert stored["created_at"].endswith("+00:00") and stored["analysis"] == body["analysis"]
    image = alice.get(f"/visits/{body['id']}/image")
    assert image.status_code == 200 and image.data == photo and image.mimetype == "image/jpeg"


def test_the_second_visit_is_compared_with_the_first(alice, photo) -> None:
    lesion = alice.lesion(alice.patient())
    first = alice.visit(lesion, photo, date="2026-01-05").get_json()
    second = alice.visit(lesion, photo, date="2026-07-05")
    assert second.status_code == 201
    change = second.get_json()["change"]
    assert change is not None and change["days"] == 181 and change["area_ratio"] == pytest.approx(1.0, abs=0.05)
    timeline = alice.get(f"/lesions/{lesion}").get_json()
    assert [visit["id"] for visit in timeline["visits"]] == [first["id"], second.get_json()["id"]]


def test_a_refused_photo_is_stored_with_its_refusal(alice) -> None:
    phone = (FIXTURES / "clinical" / "PAT_1180_651_559.jpg").read_bytes()
    lesion = alice.lesion(alice.patient())
    body = alice.visit(lesion, phone).get_json()
    assert body["refused"] is True and body["malignant_probability"] is None
    assert body["analysis"]["malignant_probability"] is None and body["analysis"]["risk_band"] is None
    assert body["analysis"]["quality"]["message"]
    assert alice.get(f"/visits/{body['id']}/image").data == phone


@pytest.mark.parametrize(
    ("data", "fields", "status"),
    [
        (b"not an image", {}, 415),
        (b"", {}, 400),
        ("tiny", {}, 422),
        ("photo", {"date": "05/01/2026"}, 400),
        ("photo", {"date": ""}, 400),
        ("photo", {"mm_per_px": "-1"}, 400),
    ],
)
def test_bad_photos_leave_no_visit(alice, database_url, photo, data, fields, status) -> None:
    lesion = alice.lesion(alice.patient())
    data = {"tiny": encode(Image.new("RGB", (16, 16)), "PNG"), "photo": photo}.get(data, data)
    response = alice.visit(lesion, data, **fields)
    assert response.status_code == status
    assert set(response.get_json()["error"]) == {"code", "message"}
    assert _count(database_url) == 0
    assert alice.get(f"/lesions/{lesion}").get_json()["visits"] == []


def test_another_clinics_records_are_not_found(alice, bob, photo) -> None:
    patient = alice.patient()
    lesion = alice.lesion(patient)
    visit = alice.visit(lesion, photo).get_json()["id"]
    for path in (f"/patients/{patient}", f"/lesions/{lesion}", f"/visits/{visit}", f"/visits/{visit}/image"):
        response = bob.get(path)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found", path
        assert alice.get(path).status_code == 200, path
    assert bob.post(f"/patients/{patient}/lesions", site="head/neck").status_code == 404
    assert bob.visit(lesion, photo).status_code == 404
    assert bob.delete(f"/patients/{patient}").status_code == 404
    assert bob.get("/patients").get_json() == {"patients": []}
    # The answer for another clinic's record is the one for a record that does not exist.
    assert bob.get(f"/lesions/{lesion}").get_json() == bob.get("/lesions/999999").get_json()
    assert alice.get(f"/lesions/{lesion}").get_json()["visits"][0]["id"] == visit


def test_the_audit_trail_is_for_the_clinics_admins(alice, bob, rclient, database_url, photo) -> None:
    visit = alice.visit(alice.lesion(alice.patient()), photo).get_json()["id"]
    alice.get(f"/visits/{visit}/image")
    events = alice.get("/audit").get_json()["events"]
    actions = [event["action"] for event in events]
    assert {"token_issued", "create", "read_photo"} <= set(actions)
    read = next(event for event in events if event["action"] == "read_photo")
    assert read["target"] == f"visit {visit}" and read["address"] == "127.0.0.1" and read["at"].endswith("+00:00")
    assert all(event["actor"] in ("alice@a.example", "command line") for event in events)
    # Clinic B's user sees nothing of clinic A's trail: a non-admin gets 404, B's admin only B's events.
    assert bob.get("/audit").status_code == 404
    carol = sign_up(rclient, database_url, "carol@b.example", "Clinic B", admin=True)
    trail = carol.get("/audit").get_json()["events"]
    assert trail and all("a.example" not in event["actor"] + event["target"] for event in trail)


def test_without_a_valid_token_the_api_answers_401(alice, rclient, rapp, database_url) -> None:
    assert rclient.get("/api/v1/records/patients").status_code == 401
    wrong = rclient.get("/api/v1/records/patients", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "unauthorized"
    assert alice.get("/patients").status_code == 200
    runner = rapp.test_cli_runner()
    result = runner.invoke(args=["records", "disable-user", "alice@a.example"])
    assert result.exit_code == 0, result.output
    assert alice.get("/patients").status_code == 401
    refused = rclient.post("/api/v1/records/tokens", json={"email": "alice@a.example", "password": PASSWORD})
    assert refused.status_code == 401


def test_five_wrong_passwords_lock_the_token_route(alice, rclient) -> None:
    for _ in range(5):
        wrong = rclient.post("/api/v1/records/tokens", json={"email": "alice@a.example", "password": "wrong wrong"})
        assert wrong.status_code == 401
    right = rclient.post("/api/v1/records/tokens", json={"email": "alice@a.example", "password": PASSWORD})
    assert right.status_code == 401
    assert alice.get("/patients").status_code == 200  # a token issued before keeps working
    failures = [event for event in alice.get("/audit").get_json()["events"] if event["action"] == "sign_in_failed"]
    reasons = [event["detail"]["reason"] for event in reversed(failures)]
    assert reasons == ["wrong password"] * 4 + ["wrong password; locked for 15 minutes", "locked"]
    assert all(event["address"] == "127.0.0.1" and event["actor"] == "alice@a.example" for event in failures)


@pytest.mark.parametrize("text", HOSTILE, ids=["sql", "sql-or", "script", "unicode-10k"])
def test_hostile_text_is_stored_intact(alice, text: str) -> None:
    response = alice.post("/patients", code=text)
    assert response.status_code == 201
    patient = response.get_json()["id"]
    assert alice.get(f"/patients/{patient}").get_json()["patient"]["code"] == text
    lesion = alice.lesion(patient, label=text)
    assert alice.get(f"/lesions/{lesion}").get_json()["lesion"]["label"] == text
    assert [item["code"] for item in alice.get("/patients").get_json()["patients"]] == [text]
    assert alice.post("/patients", code=text).status_code == 400  # codes are unique in a clinic


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": ""},
        {"code": 5},
        {"code": "x", "birth_year": 1700},
        {"code": "x", "birth_year": "19x0"},
        {"code": "x", "sex": "yes"},
    ],
)
def test_invalid_patients_are_refused(alice, body) -> None:
    response = alice.post("/patients", **body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_parameter"


def test_invalid_lesion_site_is_refused(alice) -> None:
    response = alice.post(f"/patients/{alice.patient()}/lesions", site="elbow")
    assert response.status_code == 400 and "site" in response.get_json()["error"]["message"]


def test_erasing_a_patient_removes_everything(alice, database_url, photo) -> None:
    patient = alice.patient("ERASE-ME")
    lesion = alice.lesion(patient)
    visit = alice.visit(lesion, photo).get_json()["id"]
    assert alice.delete(f"/patients/{patient}").status_code == 204
    for path in (f"/patients/{patient}", f"/lesions/{lesion}", f"/visits/{visit}/image"):
        assert alice.get(path).status_code == 404
    assert _count(database_url) == 0
    erasure = [event for event in alice.get("/audit").get_json()["events"] if event["action"] == "erase"]
    assert erasure[0]["detail"] == {"code": "ERASE-ME"}


def test_export_zip_holds_the_json_and_photos(rapp, alice, photo) -> None:
    from sqlalchemy import select

    from app.records_extension import db_session, photo_cipher
    from records import audit
    from records.models import User
    from records.repository import ClinicRecords
    from records.service import export_patient_zip

    patient = alice.patient()
    alice.visit(alice.lesion(patient), photo)
    with rapp.app_context():
        user = db_session().scalar(select(User).where(User.email == alice.email))
        records = ClinicRecords(db_session(), user.clinic_id)
        data = export_patient_zip(records, photo_cipher(), audit.Actor(user), patient)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert "patient.json" in names
        photos = [name for name in names if name.startswith("photos/")]
        assert len(photos) == 1 and archive.read(photos[0]) == photo


@pytest.mark.parametrize("key", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_records_are_off_without_a_key(app, tmp_path, key) -> None:
    from app import create_app

    config = {"TESTING": True, "LOAD_MODELS": False, "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    made = create_app(config if key is None else {**config, "RECORDS_KEY": key})
    assert made.config.get("RECORDS_KEY") == key  # None: not in the environment either
    client = made.test_client()
    assert client.get("/api/v1/records/patients").status_code == 404
    assert client.get("/records/signin").status_code == 404
    assert client.post("/api/v1/records/tokens", json={}).status_code == 404
    assert client.post("/records/signin", data={}).status_code == 404
    assert client.get("/").status_code == 200 and not (tmp_path / "unused.sqlite3").exists()


def test_a_schema_behind_makes_records_unavailable(app, tmp_path, caplog) -> None:
    from tests.records.conftest import new_key

    with caplog.at_level("ERROR"):
        behind = records_app(app, f"sqlite:///{tmp_path / 'empty.sqlite3'}", new_key())
    lines = [record.getMessage() for record in caplog.records if "records unavailable" in record.getMessage()]
    assert len(lines) == 1 and "make migrate" in lines[0]
    response = behind.test_client().get("/api/v1/records/patients")
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "records_unavailable"
    # The anonymous service is untouched.
    assert behind.test_client().get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("url", "key", "reason"),
    [
        ("postgresql+psycopg://nobody@127.0.0.1:1/records", None, "cannot reach the records database"),
        ("sqlite:////proc/no-such-folder/records.sqlite3", None, "cannot reach the records database"),
        ("sqlite:///:memory:", "not a key", "LESION_RECORDS_KEY"),
    ],
    ids=["server-down", "unwritable", "bad-key"],
)
def test_an_unusable_setup_makes_records_unavailable_not_the_app(app, caplog, url, key, reason) -> None:
    from tests.records.conftest import new_key

    with caplog.at_level("ERROR"):
        broken = records_app(app, url, key or new_key())
    lines = [record.getMessage() for record in caplog.records if "records unavailable" in record.getMessage()]
    assert len(lines) == 1 and reason in lines[0]
    client = broken.test_client()
    assert client.get("/api/v1/records/patients").status_code == 503
    assert client.get("/records/signin").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_the_anonymous_api_stores_nothing_with_records_on(alice, rclient, database_url, photo) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from records.models import AuditEvent

    engine = make_engine(database_url)
    with Session(engine) as session:
        events = session.scalar(select(func.count()).select_from(AuditEvent))
    for path in ("/api/v1/analyze", "/api/v1/compare"):
        form = {"image": (io.BytesIO(photo), "a.jpg")}
        if path.endswith("compare"):
            form = {"before": (io.BytesIO(photo), "a.jpg"), "after": (io.BytesIO(photo), "b.jpg")}
        response = rclient.post(path, data=form, content_type="multipart/form-data", headers=alice.headers)
        assert response.status_code == 200 and "Set-Cookie" not in response.headers
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == events
    engine.dispose()
    assert _count(database_url) == 0
