"""The records pages for patients: the list with search, a patient's lesions, export and erasure.

Every page needs sign-in and shows only the signed-in user's clinic (another clinic's ids answer
404, through :func:`app.records_extension.clinic_records`); every form carries the CSRF token.
The lesion timeline and visits are :mod:`app.records_timeline`.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, request, url_for

from app.records_extension import actor, clinic_records, photo_cipher
from app.records_views import guard, page
from records import audit
from records.errors import InvalidRecordError
from records.service import erase_patient, export_patient_zip

bp = Blueprint("records_pages", __name__, url_prefix="/records")
bp.before_request(guard)
#: What must be ticked to erase a patient (the form's checkbox value).
CONFIRM_ERASE = "erase"


@bp.get("")
def patients():
    search = request.args.get("q", "")
    return page("records/patients.html", patients=clinic_records().patients(search), search=search)


@bp.post("/patients")
def create_patient():
    records = clinic_records()
    form = request.form
    try:
        patient = records.add_patient(form.get("code", ""), form.get("birth_year", ""), form.get("sex", ""))
    except InvalidRecordError as error:
        records.session.rollback()
        return page("records/patients.html", 400, patients=records.patients(), search="", error=str(error), form=form)
    audit.record(records.session, actor(), audit.CREATE, f"patient {patient.id}")
    records.session.commit()
    return redirect(url_for("records_pages.patient", patient_id=patient.id), code=303)


@bp.get("/patients/<int:patient_id>")
def patient(patient_id: int):
    return page("records/patient.html", patient=clinic_records().patient(patient_id))


@bp.post("/patients/<int:patient_id>/lesions")
def create_lesion(patient_id: int):
    records = clinic_records()
    try:
        lesion = records.add_lesion(patient_id, request.form.get("site", ""), request.form.get("label", ""))
    except InvalidRecordError as error:
        records.session.rollback()
        found = records.patient(patient_id)
        return page("records/patient.html", 400, patient=found, error=str(error), form=request.form)
    audit.record(records.session, actor(), audit.CREATE, f"lesion {lesion.id}")
    records.session.commit()
    return redirect(url_for("records_timeline.lesion", lesion_id=lesion.id), code=303)


@bp.post("/patients/<int:patient_id>/export")
def export(patient_id: int):
    data = export_patient_zip(clinic_records(), photo_cipher(), actor(), patient_id)
    # The file name is the record's id: the code is the clinic's own text, unfit for a header.
    disposition = f'attachment; filename="patient-{patient_id}.zip"'
    return Response(data, mimetype="application/zip", headers={"Content-Disposition": disposition})


@bp.get("/patients/<int:patient_id>/erase")
def confirm_erase(patient_id: int):
    return page("records/erase.html", patient=clinic_records().patient(patient_id))


@bp.post("/patients/<int:patient_id>/erase")
def erase(patient_id: int):
    records = clinic_records()
    found = records.patient(patient_id)
    if request.form.get("confirm") != CONFIRM_ERASE:
        error = "Tick the box to confirm: erasing cannot be undone."
        return page("records/erase.html", 400, patient=found, error=error)
    erase_patient(records, actor(), patient_id)
    flash("The patient and all their lesions, visits and photos were erased.")
    return redirect(url_for("records_pages.patients"), code=303)
