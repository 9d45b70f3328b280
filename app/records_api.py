"""The records JSON API under /api/v1/records, with per-user Bearer tokens."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from flask import Blueprint, Response, current_app, g, jsonify, request

from app.records_extension import (
    actor,
    client_address,
    clinic_records,
    db_session,
    photo_cipher,
    require_records,
    signed_in_user,
)
from app.records_visits import save_visit
from app.uploads import read_scale, read_upload, ready_predictor
from records import accounts, audit
from records.errors import InvalidRecordError
from records.repository import parse_date
from records.service import erase_patient, lesion_json, patient_json, read_photo, visit_json

bp = Blueprint("records_api", __name__, url_prefix="/api/v1/records")
NOT_READY = "The models are not loaded yet."
#: Config key: a callable run after a visit is written and before it is committed (fault tests).
BEFORE_COMMIT = "RECORDS_BEFORE_COMMIT"
#: Config key (LESION_RECORDS_TEST_PAUSE_BEFORE_COMMIT): seconds a worker waits there, so a test can kill it
#: mid-save. For fault tests only; unset in any real deployment.
TEST_PAUSE = "RECORDS_TEST_PAUSE_BEFORE_COMMIT"
log = logging.getLogger(__name__)


class UnauthorizedError(Exception):
    """No valid Bearer token (missing, unknown, or its user disabled)."""

    code = "unauthorized"


@bp.before_request
def _authenticate() -> None:
    require_records()
    if request.endpoint == "records_api.tokens":
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    user = accounts.token_user(db_session(), token.strip()) if scheme.lower() == "bearer" and token else None
    db_session().commit()  # end the read: no transaction is held while a request is served
    if user is None:
        raise UnauthorizedError("A valid API token is required: Authorization: Bearer TOKEN.")
    g.records_user = user


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidRecordError("The request body must be a JSON object.")
    return body


@bp.post("/tokens")
def tokens():
    body = _json_body()
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        raise InvalidRecordError("email and password are required strings.")
    database = db_session()
    user = accounts.authenticate(database, email, password, client_address())
    if user is None:
        database.commit()
        raise UnauthorizedError("Wrong email or password, or the account is locked or disabled.")
    token = accounts.issue_token(database, user, client_address())
    database.commit()
    return jsonify(token=token), 201


@bp.post("/patients")
def create_patient():
    body = _json_body()
    records = clinic_records()
    patient = records.add_patient(body.get("code"), body.get("birth_year"), body.get("sex"))
    audit.record(records.session, actor(), audit.CREATE, f"patient {patient.id}")
    records.session.commit()
    return jsonify(patient_json(patient)), 201


@bp.get("/patients")
def list_patients():
    records = clinic_records()
    search = request.args.get("q", "")
    return jsonify(patients=[patient_json(patient) for patient in records.patients(search)])


@bp.get("/patients/<int:patient_id>")
def get_patient(patient_id: int):
    patient = clinic_records().patient(patient_id)
    return jsonify(patient=patient_json(patient), lesions=[lesion_json(lesion) for lesion in patient.lesions])


@bp.delete("/patients/<int:patient_id>")
def delete_patient(patient_id: int):
    erase_patient(clinic_records(), actor(), patient_id)
    return Response(status=204)


@bp.post("/patients/<int:patient_id>/lesions")
def create_lesion(patient_id: int):
    body = _json_body()
    records = clinic_records()
    lesion = records.add_lesion(patient_id, body.get("site"), body.get("label"))
    audit.record(records.session, actor(), audit.CREATE, f"lesion {lesion.id}")
    records.session.commit()
    return jsonify(lesion_json(lesion)), 201


@bp.get("/lesions/<int:lesion_id>")
def get_lesion(lesion_id: int):
    lesion = clinic_records().lesion(lesion_id)
    return jsonify(lesion=lesion_json(lesion), visits=[visit_json(visit) for visit in lesion.visits])


@bp.post("/lesions/<int:lesion_id>/visits")
def create_visit(lesion_id: int):
    records = clinic_records()
    records.lesion(lesion_id)  # 404 before anything is read or analysed
    records.session.commit()  # no transaction (SQLite: no write lock) while a slow client sends the photo
    predictor = ready_predictor(NOT_READY)
    visit_date = parse_date(request.values.get("date"))
    scale = read_scale(request.values)
    data = read_upload(request.files)
    saved = save_visit(
        records,
        photo_cipher(),
        actor(),
        lesion_id,
        data,
        visit_date,
        predictor,
        current_app.config["MAX_IMAGE_PIXELS"],
        scale,
        before_commit=_before_commit(),
    )
    return jsonify({**visit_json(saved.visit), "change": saved.change}), 201


def _before_commit() -> Callable[[], None] | None:
    pause = float(current_app.config.get(TEST_PAUSE) or 0)
    if not pause:
        return current_app.config.get(BEFORE_COMMIT)

    def wait() -> None:
        log.warning("fault test: worker %d wrote a visit, not committed; pausing %.0f s", os.getpid(), pause)
        time.sleep(pause)

    return wait


@bp.get("/visits/<int:visit_id>")
def get_visit(visit_id: int):
    return jsonify(visit_json(clinic_records().visit(visit_id)))


@bp.get("/visits/<int:visit_id>/image")
def visit_image(visit_id: int):
    data, kind = read_photo(clinic_records(), photo_cipher(), actor(), visit_id)
    return Response(data, mimetype=kind, headers={"Content-Disposition": f'inline; filename="visit-{visit_id}"'})


@bp.get("/audit")
def audit_events():
    user = signed_in_user()
    if not user.is_admin:
        # Not a 403: the trail is simply not there for a non-admin.
        return jsonify(error={"code": "not_found", "message": "Not found."}), 404
    return jsonify(events=[audit.event_json(event) for event in audit.events(db_session(), user.clinic_id)])
