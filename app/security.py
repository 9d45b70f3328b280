"""Security headers on every response, and how far proxies in front of the service are trusted."""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

#: Inline images are data: URIs (uploads are never stored); scripts and styles are ours only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
    trust_proxies(app, int(app.config.get("PROXY_HOPS", 0)))


def trust_proxies(app: Flask, hops: int) -> None:
    """Take the client's address and scheme from the ``hops`` proxies in front (``LESION_PROXY_HOPS``).

    With 0 (the default) ``X-Forwarded-*`` headers are ignored: anyone could send them. Behind one
    reverse proxy or Ingress that sets them, 1 makes the audit trail record the client, not the proxy.
    """
    if hops < 0:
        raise ValueError(f"LESION_PROXY_HOPS must be 0 or more. Received {hops}")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def add_security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response
