"""Hostile uploads: each gets a result or a JSON 4xx, never a 5xx, and the app keeps answering."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lesion.errors import InvalidImageError
from lesion.preprocessing import decode_image
from tests.conftest import ISIC_FIXTURES
from tests.hostile_corpus import hostile_inputs

CORPUS = hostile_inputs(ISIC_FIXTURES / "images" / "ISIC_0012099.jpg")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_upload(client, name: str) -> None:
    data, filename, expectation = CORPUS[name]
    response = client.post(
        "/api/v1/analyze", data={"image": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    assert response.is_json
    body = response.get_json()
    if expectation == "ok":
        assert response.status_code == 200, body
    elif expectation == "4xx":
        assert 400 <= response.status_code < 500 and body["error"]["message"]
    if response.status_code >= 400:
        assert "Traceback" not in body["error"]["message"] and "/" not in body["error"]["message"]
    assert client.get("/healthz").status_code == 200


_JPEG = (ISIC_FIXTURES / "images" / "ISIC_0012099.jpg").read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=4096),
        st.builds(
            lambda cut, flips: _mutate(_JPEG, cut, flips),
            st.integers(min_value=0, max_value=len(_JPEG)),
            st.lists(st.tuples(st.integers(0, len(_JPEG) - 1), st.integers(0, 255)), max_size=12),
        ),
    )
)
def test_decode_never_fails_unexpectedly(data: bytes) -> None:
    try:
        decoded = decode_image(data)
    except InvalidImageError:
        return
    assert decoded.rgb.ndim == 3 and decoded.rgb.shape[2] == 3


def _mutate(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    mutated = bytearray(data[: max(cut, 1)])
    for position, value in flips:
        if position < len(mutated):
            mutated[position] = value
    return bytes(mutated)
