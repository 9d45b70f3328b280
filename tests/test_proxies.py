"""How far the service trusts ``X-Forwarded-*`` headers (``LESION_PROXY_HOPS``)."""

from __future__ import annotations

import pytest
from flask import request

from app import create_app

FORWARDED = {"X-Forwarded-For": "203.0.113.7, 198.51.100.2", "X-Forwarded-Proto": "https"}
PROXY = {"REMOTE_ADDR": "10.1.2.3"}


def _seen(hops: int) -> tuple[str, str]:
    app = create_app({"TESTING": True, "LOAD_MODELS": False, "PROXY_HOPS": hops})
    app.add_url_rule("/seen", "seen", lambda: f"{request.remote_addr} {request.scheme}")
    return tuple(app.test_client().get("/seen", headers=FORWARDED, environ_base=PROXY).text.split())


def test_forwarded_headers_are_ignored_by_default() -> None:
    assert _seen(0) == ("10.1.2.3", "http")  # anyone can send these headers


def test_the_nearest_trusted_proxies_give_the_client() -> None:
    assert _seen(1) == ("198.51.100.2", "https")  # one proxy: its view of the client
    assert _seen(2)[0] == "203.0.113.7"


def test_a_negative_hop_count_is_refused() -> None:
    with pytest.raises(ValueError, match="PROXY_HOPS"):
        create_app({"TESTING": True, "LOAD_MODELS": False, "PROXY_HOPS": -1})
