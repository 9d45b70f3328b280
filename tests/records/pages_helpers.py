"""Driving the records pages through Flask's test client: sign in, read the CSRF token, post forms."""

from __future__ import annotations

import html
import io
import re

from tests.records.conftest import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
LOCATION = re.compile(r"/records/(?:patients|lesions|visits)/(\d+)")


def csrf_token(page: str) -> str:
    found = TOKEN.search(page)
    assert found, "the page has no CSRF token"
    return html.unescape(found.group(1))


def sign_in(client, email: str) -> None:
    """Sign an existing user in through the sign-in page."""
    token = csrf_token(client.get("/records/signin").get_data(as_text=True))
    response = client.post("/records/signin", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]


def post(client, path: str, data: dict | None = None, **kwargs):
    """POST a records form with the session's CSRF token."""
    token = csrf_token(client.get("/records").get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def created_id(response) -> int:
    """The id in the page a creating form redirected to."""
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return int(LOCATION.search(response.headers["Location"]).group(1))


def new_patient(client, code: str = "P-001", **fields) -> int:
    return created_id(post(client, "/records/patients", {"code": code, **fields}))


def new_lesion(client, patient_id: int, site: str = "posterior torso", label: str = "") -> int:
    return created_id(post(client, f"/records/patients/{patient_id}/lesions", {"site": site, "label": label}))


def new_visit(client, lesion_id: int, data: bytes, date: str, **fields):
    form = {"image": (io.BytesIO(data), "photo.jpg"), "date": date, **fields}
    return post(client, f"/records/lesions/{lesion_id}/visits", form, content_type="multipart/form-data")
