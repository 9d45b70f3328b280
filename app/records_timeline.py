"""The records pages for one lesion: its timeline, new visits, re-analysis, the printable report, the images.

Photos reach the browser only through :func:`photo` (signed in, own clinic, audited, never cached);
outlines are drawn from the photo analysed again, as nothing but the photo and its answer is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, redirect, request, url_for

from app.records_extension import actor, clinic_records, photo_cipher
from app.records_views import (
    FORM_ERRORS,
    NOT_READY,
    answers,
    change_view,
    error_status,
    guard,
    max_pixels,
    page,
    threshold_meaning,
)
from app.records_visits import analyse_visit, compare_with_previous, reanalyse_visit, save_visit
from app.uploads import read_scale, read_upload, ready_predictor
from lesion.analysis import DISPLAY_MAX_SIDE
from lesion.overlay import display_size, encode_png, overlay_rgba
from records import audit
from records.repository import parse_date
from records.service import read_photo

bp = Blueprint("records_timeline", __name__, url_prefix="/records")
bp.before_request(guard)


def _comparison(visit_id: int | None) -> dict | None:
    """The visit compared with the one before it, or None for a first visit (or none at all)."""
    if visit_id is None:
        return None
    records = clinic_records()
    compared = compare_with_previous(records, photo_cipher(), visit_id, ready_predictor(NOT_READY), max_pixels())
    if compared is None:
        return None
    pair, previous = compared
    view = change_view(pair, previous, records.visit(visit_id))
    if view["overlay_uri"] is not None:
        # The overlay is drawn on the earlier photo: showing it is a read of that photo.
        audit.record(records.session, actor(), audit.READ_PHOTO, f"visit {previous.id}", {"view": "comparison"})
        records.session.commit()
    return view


def _timeline(lesion_id: int, status: int = 200, **context):
    records = clinic_records()
    lesion = records.lesion(lesion_id)
    visits = list(lesion.visits)
    comparison = _comparison(visits[-1].id if visits else None)
    lesion = records.lesion(lesion_id)  # the comparison ended the read; load it again for the page
    return page(
        "records/lesion.html",
        status,
        lesion=lesion,
        patient=lesion.patient,
        visits=[(visit, answers(visit)) for visit in lesion.visits],
        comparison=comparison,
        threshold_meaning=threshold_meaning(),
        today=datetime.now(UTC).date().isoformat(),
        **context,
    )


@bp.get("/lesions/<int:lesion_id>")
def lesion(lesion_id: int):
    return _timeline(lesion_id)


@bp.post("/lesions/<int:lesion_id>/visits")
def add_visit(lesion_id: int):
    records = clinic_records()
    records.lesion(lesion_id)  # 404 before anything is read or analysed
    predictor = ready_predictor(NOT_READY)
    try:
        visit_date = parse_date(request.form.get("date"))
        scale = read_scale(request.form)
        data = read_upload(request.files)
        # The timeline after the redirect compares the newest visits itself.
        saved = save_visit(
            records,
            photo_cipher(),
            actor(),
            lesion_id,
            data,
            visit_date,
            predictor,
            max_pixels(),
            scale,
            with_change=False,
        )
    except FORM_ERRORS as error:
        records.session.rollback()
        return _timeline(lesion_id, error_status(error), error=str(error), form=request.form)
    target = url_for("records_timeline.lesion", lesion_id=lesion_id, _anchor=f"visit-{saved.visit.id}")
    return redirect(target, code=303)


@bp.post("/visits/<int:visit_id>/reanalyse")
def reanalyse(visit_id: int):
    records = clinic_records()
    visit = records.visit(visit_id)
    lesion_id = visit.lesion_id
    reanalyse_visit(records, photo_cipher(), actor(), visit_id, ready_predictor(NOT_READY), max_pixels())
    return redirect(url_for("records_timeline.lesion", lesion_id=lesion_id, _anchor=f"visit-{visit_id}"), code=303)


@bp.get("/visits/<int:visit_id>/report")
def report(visit_id: int):
    records = clinic_records()
    visit = records.visit(visit_id)
    comparison = _comparison(visit_id)
    visit = records.visit(visit_id)
    return page(
        "records/report.html",
        visit=visit,
        answer=answers(visit)[-1],
        original=answers(visit)[0],
        lesion=visit.lesion,
        patient=visit.lesion.patient,
        comparison=comparison,
        threshold_meaning=threshold_meaning(),
        printed=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


@bp.get("/visits/<int:visit_id>/photo")
def photo(visit_id: int):
    data, kind = read_photo(clinic_records(), photo_cipher(), actor(), visit_id)
    return Response(data, mimetype=kind, headers={"Content-Disposition": f'inline; filename="visit-{visit_id}"'})


@bp.get("/visits/<int:visit_id>/outline.png")
def outline(visit_id: int):
    """The lesion outline of the visit's photo as a transparent layer, drawn over the photo on the pages."""
    result = analyse_visit(clinic_records(), photo_cipher(), visit_id, ready_predictor(NOT_READY), max_pixels())
    layer = overlay_rgba(result.analysis.mask, display_size(result.decoded.size, DISPLAY_MAX_SIDE))
    return Response(encode_png(layer), mimetype="image/png")
