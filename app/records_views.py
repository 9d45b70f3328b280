"""What the records pages share: the sign-in guard, form errors, and visits and changes as the templates show them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.error_handlers import STATUS_FOR_CODE
from app.inference_extension import get_predictor
from app.records_extension import require_records
from app.uploads import InvalidParameterError, MissingUploadError
from lesion.analysis import DISPLAY_MAX_SIDE, NOT_A_DIAGNOSIS
from lesion.change import ChangeResult, change_rows, overlay_image
from lesion.comparison import LesionChange
from lesion.errors import InvalidImageError, UnprocessableImageError
from lesion.overlay import data_uri, encode_png
from records.errors import InvalidRecordError
from records.models import SEXES, SITES, Visit

#: The newest visit is flagged when its lesion's area grew by more than this factor...
AREA_GROWTH_FLAG = 1.2
#: ...or when a dermoscopic colour appeared (``LesionChange.colours_added``).
NOT_READY = "The models are still loading; try again in a moment."
#: Errors a records form can cause; the page is shown again with the message.
FORM_ERRORS = (InvalidRecordError, InvalidImageError, MissingUploadError, InvalidParameterError)


def guard() -> Response | None:
    """Every records page: 404 when records are off, the sign-in page when nobody is signed in."""
    require_records()
    if not current_user.is_authenticated:
        return redirect(url_for("records_auth.signin", next=request.full_path.rstrip("?")), code=303)
    return None


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """A records page with what every one of them shows: the disclaimer, the sites and sexes."""
    return render_template(template, disclaimer=NOT_A_DIAGNOSIS, sites=SITES, sexes=SEXES, **context), status


def error_status(error: Exception) -> int:
    """The status a form error answers with: the upload contract's for photos, else 400."""
    if isinstance(error, InvalidImageError):
        fallback = 422 if isinstance(error, UnprocessableImageError) else 415
        return STATUS_FOR_CODE.get(getattr(error, "code", ""), fallback)
    return 400


def max_pixels() -> int:
    return current_app.config["MAX_IMAGE_PIXELS"]


def threshold_meaning() -> str:
    predictor = get_predictor()
    return "" if predictor is None else predictor.classifier.card.raw.get("threshold_meaning", "")


@dataclass(frozen=True)
class Answer:
    """One analysis of a visit's photo as stored (the original, or a re-analysis) and when it was made."""

    analysis: dict[str, Any]
    made: str
    original: bool

    @property
    def models(self) -> dict[str, str]:
        return self.analysis.get("model", {})

    @property
    def probability(self) -> float | None:
        return self.analysis.get("malignant_probability")


def answers(visit: Visit) -> list[Answer]:
    """The visit's original answer, then every re-analysis, oldest first."""
    made = [Answer(visit.analysis, visit.created_at.date().isoformat(), True)]
    made += [Answer(item.analysis, item.created_at.date().isoformat(), False) for item in visit.reanalyses]
    return made


def flags(change: LesionChange) -> list[str]:
    """Why a change deserves a closer look, in plain words: the area grew by over 20%, a colour appeared."""
    found = []
    if change.area_ratio > AREA_GROWTH_FLAG:
        found.append(
            f"The area grew by {(change.area_ratio - 1) * 100:.0f}% since the visit before "
            f"(more than {(AREA_GROWTH_FLAG - 1) * 100:.0f}%)."
        )
    if change.colours_added:
        found.append(f"A colour appeared: {', '.join(change.colours_added)}.")
    return found


def change_view(pair: ChangeResult, previous: Visit, newest: Visit) -> dict[str, Any]:
    """The comparison of the newest visit with the one before, as ``records/_change.html`` shows it."""
    change = pair.comparison.change
    registered = pair.registration.same_lesion
    overlay = data_uri(encode_png(overlay_image(pair, DISPLAY_MAX_SIDE)), "image/png") if registered else None
    return {
        "previous": previous,
        "newest": newest,
        "change": change,
        "rows": [] if change is None else change_rows(change),
        "flags": [] if change is None else flags(change),
        "message": pair.comparison.message,
        "registration": pair.registration,
        "overlay_uri": overlay,
    }
