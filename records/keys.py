"""Re-encrypt every photo under a new key, in one transaction: all photos move to the new key or none."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from records import audit
from records.crypto import PhotoCipher
from records.models import Photo
from records.service import photo_context


def rotate_key(session: Session, old: PhotoCipher, new: PhotoCipher) -> int:
    """Open each photo with ``old``, seal it with ``new``; commit; return how many photos moved."""
    visit_ids = list(session.scalars(select(Photo.visit_id).order_by(Photo.visit_id)))
    for visit_id in visit_ids:
        photo = session.get(Photo, visit_id)
        assert photo is not None
        context = photo_context(visit_id)
        photo.sealed = new.seal(old.open(photo.sealed, context), context)
        session.flush()
        session.expunge(photo)
    audit.record(session, audit.Actor(None, name="command line"), audit.KEY_ROTATED, "", {"photos": len(visit_ids)})
    session.commit()
    return len(visit_ids)
