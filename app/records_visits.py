"""Visits with analysis: save a photo (analysed as the upload page does), compare with the visit before, re-analyse.

Flask-free in what it does (the request-reading lives in the blueprints); pages and API share it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from app.api import result_json
from lesion.analysis import UploadResult, analyse_upload
from lesion.change import ChangeResult, compare_uploads
from lesion.comparison import days_between
from lesion.inference import Predictor
from records import audit
from records.crypto import PhotoCipher
from records.models import Photo, Reanalysis, Visit
from records.repository import ClinicRecords
from records.service import media_type, open_photo, photo_context


@dataclass(frozen=True)
class SavedVisit:
    """A saved visit and its comparison with the visit before it (None for the first, or other skin)."""

    visit: Visit
    comparison: ChangeResult | None

    @property
    def change(self) -> dict[str, Any] | None:
        """As ``/api/v1/compare``'s ``change``: null unless the two photos show the same lesion."""
        if self.comparison is None or self.comparison.comparison.change is None:
            return None
        return self.comparison.comparison.change.as_dict()


def analysis_json(result: UploadResult, predictor: Predictor, total_ms: float) -> dict[str, Any]:
    """The analyse answer without images (no mask, no heat map), as stored with a visit."""
    return result_json(result, predictor, total_ms, with_mask=False)


def _analyse(data: bytes, predictor: Predictor, max_pixels: int, mm_per_px: float | None) -> tuple[UploadResult, dict]:
    started = time.perf_counter()
    result = analyse_upload(data, predictor, max_pixels, mm_per_px, for_display=True)
    return result, analysis_json(result, predictor, 1000 * (time.perf_counter() - started))


def compare_visits(before: UploadResult, after: UploadResult, before_date: date, after_date: date) -> ChangeResult:
    return compare_uploads(before, after, days=days_between(before_date, after_date))


def _previous(records: ClinicRecords, lesion_id: int, on: date) -> Visit | None:
    """The lesion's latest visit on or before ``on`` (a new visit goes after same-day ones)."""
    earlier = [visit for visit in records.visits(lesion_id) if visit.visit_date <= on]
    return earlier[-1] if earlier else None


def save_visit(
    records: ClinicRecords,
    cipher: PhotoCipher,
    actor: audit.Actor,
    lesion_id: int,
    data: bytes,
    visit_date: date,
    predictor: Predictor,
    max_pixels: int,
    mm_per_px: float | None = None,
    before_commit: Callable[[], None] | None = None,
    with_change: bool = True,
) -> SavedVisit:
    """Analyse ``data`` and save it as a visit of the lesion, with its photo sealed, in one transaction.

    An image the service cannot analyse raises :class:`lesion.errors.InvalidImageError` before
    anything is written. A photo the quality gate refuses is saved with its refusal, no probability.
    Without ``with_change`` (a page that shows the timeline next, which compares anew) the
    comparison with the visit before is left out: ``comparison`` is None.
    """
    session = records.session
    previous = _previous(records, lesion_id, visit_date)  # NotFoundError for another clinic's lesion
    previous = previous if with_change else None
    previous_photo = None if previous is None else open_photo(records, cipher, previous.id)[0]
    previous_scale = None if previous is None else previous.mm_per_px
    session.commit()  # no transaction stays open while the models run
    result, analysis = _analyse(data, predictor, max_pixels, mm_per_px)
    comparison = None
    if previous is not None and previous_photo is not None:
        before, _ = _analyse(previous_photo, predictor, max_pixels, previous_scale)
        comparison = compare_visits(before, result, previous.visit_date, visit_date)
    lesion = records.lesion(lesion_id)  # still there? (erased meanwhile -> NotFoundError)
    judged = analysis["malignant_probability"] is not None
    visit = Visit(
        lesion_id=lesion.id,
        visit_date=visit_date,
        mm_per_px=mm_per_px,
        analysis=analysis,
        refused=not result.analysis.in_distribution,
        probability=analysis["malignant_probability"] if judged else None,
        classifier_version=predictor.model_versions["classifier"],
        segmenter_version=predictor.model_versions["segmenter"],
        created_by=actor.user.id if actor.user is not None else None,
        created_at=datetime.now(UTC),
    )
    session.add(visit)
    session.flush()
    session.add(
        Photo(visit_id=visit.id, media_type=media_type(data), sealed=cipher.seal(data, photo_context(visit.id)))
    )
    audit.record(
        session, actor, audit.CREATE, f"visit {visit.id}", {"lesion": lesion.id, "date": visit_date.isoformat()}
    )
    session.flush()
    if before_commit is not None:
        before_commit()
    session.commit()
    return SavedVisit(visit, comparison)


def compare_with_previous(
    records: ClinicRecords, cipher: PhotoCipher, visit_id: int, predictor: Predictor, max_pixels: int
) -> tuple[ChangeResult, Visit] | None:
    """The visit compared with the one before it (registered as /compare does), and that visit; None if first.

    Both photos are analysed again with today's models (their outlines are not stored).
    """
    visit = records.visit(visit_id)
    previous = records.previous_visit(visit)
    if previous is None:
        return None
    photos = [open_photo(records, cipher, item.id)[0] for item in (previous, visit)]
    records.session.commit()
    before, _ = _analyse(photos[0], predictor, max_pixels, previous.mm_per_px)
    after, _ = _analyse(photos[1], predictor, max_pixels, visit.mm_per_px)
    return compare_visits(before, after, previous.visit_date, visit.visit_date), previous


def analyse_visit(
    records: ClinicRecords, cipher: PhotoCipher, visit_id: int, predictor: Predictor, max_pixels: int
) -> UploadResult:
    """The visit's photo analysed now (for drawing its outline on a page); nothing is stored."""
    visit = records.visit(visit_id)
    data, _ = open_photo(records, cipher, visit_id)
    records.session.commit()
    return _analyse(data, predictor, max_pixels, visit.mm_per_px)[0]


def reanalyse_visit(
    records: ClinicRecords,
    cipher: PhotoCipher,
    actor: audit.Actor,
    visit_id: int,
    predictor: Predictor,
    max_pixels: int,
) -> Reanalysis:
    """Analyse a visit's photo with today's models and keep the answer beside the original (audited)."""
    visit = records.visit(visit_id)
    data, _ = open_photo(records, cipher, visit_id)
    scale = visit.mm_per_px
    records.session.commit()
    result, analysis = _analyse(data, predictor, max_pixels, scale)
    visit = records.visit(visit_id)
    reanalysis = Reanalysis(
        visit_id=visit.id,
        analysis=analysis,
        refused=not result.analysis.in_distribution,
        probability=analysis["malignant_probability"],
        created_by=actor.user.id if actor.user is not None else None,
        created_at=datetime.now(UTC),
    )
    records.session.add(reanalysis)
    audit.record(records.session, actor, audit.REANALYSE, f"visit {visit.id}", {"model": analysis["model"]})
    records.session.commit()
    return reanalysis
