"""The append-only audit trail: who did what, when, from which address (no route or command changes it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.models import AuditEvent, User

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_OUT = "sign_out"
TOKEN_ISSUED = "token_issued"
CREATE = "create"
READ_PHOTO = "read_photo"
EXPORT = "export"
REANALYSE = "reanalyse"
ERASE = "erase"
USER_CREATED = "user_created"
USER_DISABLED = "user_disabled"
KEY_ROTATED = "key_rotated"


@dataclass(frozen=True)
class Actor:
    """Who acts and from where: a signed-in user, or a command (``user`` None)."""

    user: User | None
    address: str = ""
    name: str = ""

    @property
    def label(self) -> str:
        return self.user.email if self.user is not None else self.name or "command line"


def record(
    session: Session,
    actor: Actor,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    clinic_id: int | None = None,
) -> AuditEvent:
    """Add one event to ``session`` (committed with the change it describes)."""
    user = actor.user
    event = AuditEvent(
        at=datetime.now(UTC),
        clinic_id=clinic_id if clinic_id is not None else (user.clinic_id if user is not None else None),
        user_id=user.id if user is not None else None,
        actor=actor.label,
        action=action,
        target=target,
        address=actor.address[:100],
        detail=detail or {},
    )
    session.add(event)
    return event


def events(session: Session, clinic_id: int, limit: int = 1000) -> list[AuditEvent]:
    """A clinic's events, newest first."""
    query = select(AuditEvent).where(AuditEvent.clinic_id == clinic_id).order_by(AuditEvent.id.desc()).limit(limit)
    return list(session.scalars(query))


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "address": event.address,
        "detail": event.detail,
    }
