"""The records schema: clinics and their users, patients -> lesions -> visits, sealed photos, the audit trail."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

#: ISIC's anatomical sites, the only values a lesion's ``site`` takes.
SITES = (
    "head/neck",
    "upper extremity",
    "lower extremity",
    "anterior torso",
    "posterior torso",
    "lateral torso",
    "palms/soles",
    "oral/genital",
)
SEXES = ("female", "male", "other")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A moment stored in UTC and read back as an aware datetime on SQLite too (which drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("records store aware datetimes only")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict] = {datetime: UTCDateTime}


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column()

    clinic: Mapped[Clinic] = relationship()


class SignInSession(Base):
    """A signed-in browser: the cookie holds ``token``'s plain value, the database its SHA-256."""

    __tablename__ = "sign_in_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column()

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A per-user API token, stored as its SHA-256 (the token itself is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column()

    user: Mapped[User] = relationship()


class Patient(Base):
    __tablename__ = "patients"
    #: The code can be long (any text); uniqueness is kept on its SHA-256, which every index can hold.
    __table_args__ = (UniqueConstraint("clinic_id", "code_key", name="uq_patients_clinic_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    code: Mapped[str] = mapped_column(Text)
    code_key: Mapped[str] = mapped_column(String(64))
    birth_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sex: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column()

    lesions: Mapped[list[Lesion]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", passive_deletes=True, order_by="Lesion.id"
    )


class Lesion(Base):
    __tablename__ = "lesions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    site: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column()

    patient: Mapped[Patient] = relationship(back_populates="lesions")
    visits: Mapped[list[Visit]] = relationship(
        back_populates="lesion",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(Visit.visit_date, Visit.id)",
    )


class Visit(Base):
    """One photo of a lesion on a date, with the analysis the service gave for it then."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesion_id: Mapped[int] = mapped_column(ForeignKey("lesions.id", ondelete="CASCADE"), index=True)
    visit_date: Mapped[date] = mapped_column(Date)
    mm_per_px: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The analyse answer without images (quality, probability or null, band, lesion, model versions).
    analysis: Mapped[dict] = mapped_column(JSON)
    #: True when the photo-kind gate refused the photo (then no probability is stored).
    refused: Mapped[bool] = mapped_column(Boolean, default=False)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    classifier_version: Mapped[str] = mapped_column(String(200))
    segmenter_version: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column()

    lesion: Mapped[Lesion] = relationship(back_populates="visits")
    photo: Mapped[Photo] = relationship(
        back_populates="visit", cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )
    reanalyses: Mapped[list[Reanalysis]] = relationship(
        back_populates="visit", cascade="all, delete-orphan", passive_deletes=True, order_by="Reanalysis.id"
    )


class Photo(Base):
    """A visit's photo, sealed (AES-GCM); the plain bytes never reach the database."""

    __tablename__ = "photos"

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    sealed: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))

    visit: Mapped[Visit] = relationship(back_populates="photo")


class Reanalysis(Base):
    """A visit analysed again with later models; the visit keeps its original answer."""

    __tablename__ = "reanalyses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    analysis: Mapped[dict] = mapped_column(JSON)
    refused: Mapped[bool] = mapped_column(Boolean, default=False)
    probability: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column()

    visit: Mapped[Visit] = relationship(back_populates="reanalyses")


class AuditEvent(Base):
    """Who did what, when, from where. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    #: No foreign keys: an event outlives the user, patient or clinic it names.
    clinic_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
