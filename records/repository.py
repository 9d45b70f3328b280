"""Every query of a clinic's records goes through :class:`ClinicRecords`, so no caller can forget the filter."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from records.errors import InvalidRecordError, NotFoundError
from records.models import SEXES, SITES, Lesion, Patient, Photo, Visit

MAX_TEXT = 20_000
#: Birth years a record can hold.
FIRST_BIRTH_YEAR = 1880


def _text(value: Any, field: str, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidRecordError(f"{field} must be a string.")
    if required and not value.strip():
        raise InvalidRecordError(f"{field} is required.")
    if len(value) > MAX_TEXT:
        raise InvalidRecordError(f"{field} is longer than {MAX_TEXT} characters.")
    if "\x00" in value:
        raise InvalidRecordError(f"{field} contains a NUL character.")
    return value


def check_birth_year(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not re.fullmatch(r"\d{4}", str(value).strip()):
        raise InvalidRecordError("birth_year must be a year written with four digits.")
    year = int(value)
    if not FIRST_BIRTH_YEAR <= year <= datetime.now(UTC).year:
        raise InvalidRecordError(f"birth_year must be between {FIRST_BIRTH_YEAR} and this year.")
    return year


def check_sex(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if value not in SEXES:
        raise InvalidRecordError(f"sex must be one of {', '.join(SEXES)}.")
    return value


def check_site(value: Any) -> str:
    if value not in SITES:
        raise InvalidRecordError(f"site must be one of {', '.join(SITES)}.")
    return value


class ClinicRecords:
    """One clinic's patients, lesions and visits. A record of another clinic raises :class:`NotFoundError`."""

    def __init__(self, session: Session, clinic_id: int) -> None:
        self.session = session
        self.clinic_id = clinic_id

    def patients(self, search: str = "", limit: int = 500) -> list[Patient]:
        """The clinic's patients by code; ``search`` keeps codes containing it (case-insensitive)."""
        query = select(Patient).where(Patient.clinic_id == self.clinic_id)
        if search:
            escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(Patient.code).like(f"%{escaped}%", escape="\\"))
        return list(self.session.scalars(query.order_by(Patient.code, Patient.id).limit(limit)))

    def patient(self, patient_id: int) -> Patient:
        found = self.session.scalar(
            select(Patient).where(Patient.id == patient_id, Patient.clinic_id == self.clinic_id)
        )
        if found is None:
            raise NotFoundError(f"No patient {patient_id}.")
        return found

    def add_patient(self, code: Any, birth_year: Any = None, sex: Any = None) -> Patient:
        code = _text(code, "code", required=True)
        key = hashlib.sha256(code.encode()).hexdigest()
        taken = select(Patient.id).where(Patient.clinic_id == self.clinic_id, Patient.code_key == key)
        if self.session.scalar(taken) is not None:
            raise InvalidRecordError("A patient with this code exists already.")
        patient = Patient(
            clinic_id=self.clinic_id,
            code=code,
            code_key=key,
            birth_year=check_birth_year(birth_year),
            sex=check_sex(sex),
            created_at=datetime.now(UTC),
        )
        self.session.add(patient)
        self.session.flush()
        return patient

    def lesion(self, lesion_id: int) -> Lesion:
        found = self.session.scalar(
            select(Lesion)
            .join(Patient)
            .where(Lesion.id == lesion_id, Patient.clinic_id == self.clinic_id)
            .options(selectinload(Lesion.visits))
        )
        if found is None:
            raise NotFoundError(f"No lesion {lesion_id}.")
        return found

    def add_lesion(self, patient_id: int, site: Any, label: Any = "") -> Lesion:
        patient = self.patient(patient_id)
        lesion = Lesion(
            patient_id=patient.id, site=check_site(site), label=_text(label, "label"), created_at=datetime.now(UTC)
        )
        self.session.add(lesion)
        self.session.flush()
        return lesion

    def visit(self, visit_id: int) -> Visit:
        found = self.session.scalar(
            select(Visit).join(Lesion).join(Patient).where(Visit.id == visit_id, Patient.clinic_id == self.clinic_id)
        )
        if found is None:
            raise NotFoundError(f"No visit {visit_id}.")
        return found

    def visits(self, lesion_id: int) -> list[Visit]:
        """A lesion's visits in date order (ties by the order they were saved)."""
        return list(self.lesion(lesion_id).visits)

    def previous_visit(self, visit: Visit) -> Visit | None:
        """The visit of the same lesion just before ``visit`` in date order, or None."""
        earlier = [v for v in self.visits(visit.lesion_id) if (v.visit_date, v.id) < (visit.visit_date, visit.id)]
        return earlier[-1] if earlier else None

    def sealed_photo(self, visit_id: int) -> Photo:
        """The visit's sealed photo row (the caller opens it with the cipher)."""
        visit = self.visit(visit_id)
        photo = self.session.get(Photo, visit.id)
        if photo is None:
            raise NotFoundError(f"No photo for visit {visit_id}.")
        return photo

    def erase_patient(self, patient_id: int) -> str:
        """Delete a patient and everything of theirs (lesions, visits, photos); return the code."""
        patient = self.patient(patient_id)
        code = patient.code
        self.session.delete(patient)
        self.session.flush()
        return code


def visit_count(session: Session) -> int:
    """All visits in the database (every clinic): for checks and tests."""
    return session.scalar(select(func.count()).select_from(Visit)) or 0


def parse_date(value: Any, field: str = "date") -> date:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRecordError(f"{field} is required, written YYYY-MM-DD.")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRecordError(f"{field} must be a date written YYYY-MM-DD.") from None
