"""Record-keeping steps the pages and the API share: photos out, JSON views, export and erasure (all audited)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from records import audit
from records.crypto import PhotoCipher
from records.models import Lesion, Patient, Reanalysis, Visit
from records.repository import ClinicRecords

#: File-type signatures of the photo formats the service accepts, for the stored media type.
SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"BM", "image/bmp", "bmp"),
    (b"II*\x00", "image/tiff", "tif"),
    (b"MM\x00*", "image/tiff", "tif"),
    (b"GIF8", "image/gif", "gif"),
)


def media_type(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind, _ in SIGNATURES if data.startswith(magic)), "application/octet-stream")


def extension(kind: str) -> str:
    return {"image/webp": "webp"}.get(kind) or next((ext for _, k, ext in SIGNATURES if k == kind), "bin")


def photo_context(visit_id: int) -> str:
    """What a visit's sealed photo is bound to (so it cannot be swapped onto another visit)."""
    return f"visit:{visit_id}"


def open_photo(records: ClinicRecords, cipher: PhotoCipher, visit_id: int) -> tuple[bytes, str]:
    """A visit's photo bytes and media type, not audited (for analysis and comparison)."""
    photo = records.sealed_photo(visit_id)
    return cipher.open(photo.sealed, photo_context(visit_id)), photo.media_type


def read_photo(records: ClinicRecords, cipher: PhotoCipher, actor: audit.Actor, visit_id: int) -> tuple[bytes, str]:
    """A visit's photo, byte for byte as uploaded, for someone to see (audited and committed)."""
    data, kind = open_photo(records, cipher, visit_id)
    audit.record(records.session, actor, audit.READ_PHOTO, f"visit {visit_id}")
    records.session.commit()
    return data, kind


def patient_json(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.id,
        "code": patient.code,
        "birth_year": patient.birth_year,
        "sex": patient.sex,
        "created_at": patient.created_at.isoformat(),
    }


def lesion_json(lesion: Lesion) -> dict[str, Any]:
    return {
        "id": lesion.id,
        "patient_id": lesion.patient_id,
        "site": lesion.site,
        "label": lesion.label,
        "created_at": lesion.created_at.isoformat(),
    }


def reanalysis_json(reanalysis: Reanalysis) -> dict[str, Any]:
    return {
        "id": reanalysis.id,
        "analysis": reanalysis.analysis,
        "refused": reanalysis.refused,
        "malignant_probability": reanalysis.probability,
        "created_at": reanalysis.created_at.isoformat(),
    }


def visit_json(visit: Visit) -> dict[str, Any]:
    return {
        "id": visit.id,
        "lesion_id": visit.lesion_id,
        "date": visit.visit_date.isoformat(),
        "mm_per_px": visit.mm_per_px,
        "analysis": visit.analysis,
        "refused": visit.refused,
        "malignant_probability": visit.probability,
        "model": {"classifier": visit.classifier_version, "segmenter": visit.segmenter_version},
        "reanalyses": [reanalysis_json(item) for item in visit.reanalyses],
        "image_url": f"/api/v1/records/visits/{visit.id}/image",
        "created_at": visit.created_at.isoformat(),
    }


def export_patient_zip(records: ClinicRecords, cipher: PhotoCipher, actor: audit.Actor, patient_id: int) -> bytes:
    """A zip of ``patient.json`` (patient, lesions, visits with every analysis) and each visit's photo."""
    patient = records.patient(patient_id)
    document: dict[str, Any] = {"patient": patient_json(patient), "lesions": []}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for lesion in patient.lesions:
            visits = []
            for visit in lesion.visits:
                data, kind = open_photo(records, cipher, visit.id)
                name = f"photos/visit-{visit.id}.{extension(kind)}"
                archive.writestr(name, data)
                visits.append({**visit_json(visit), "photo": name})
            document["lesions"].append({**lesion_json(lesion), "visits": visits})
        archive.writestr("patient.json", json.dumps(document, indent=2, ensure_ascii=False))
    audit.record(records.session, actor, audit.EXPORT, f"patient {patient.id}", {"code": patient.code})
    records.session.commit()
    return buffer.getvalue()


def erase_patient(records: ClinicRecords, actor: audit.Actor, patient_id: int) -> None:
    """Hard-delete a patient with every lesion, visit and photo; the audit entry keeps only the code."""
    code = records.erase_patient(patient_id)
    audit.record(records.session, actor, audit.ERASE, f"patient {patient_id}", {"code": code})
    records.session.commit()
