"""Turn domain errors and HTTP errors into JSON (API) or the page (HTML); never a trace."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from app.uploads import InvalidParameterError, MissingUploadError, ModelsNotReadyError
from lesion.errors import InvalidImageError, UnprocessableImageError

log = logging.getLogger(__name__)

STATUS_FOR_CODE = {
    "missing_image": 400,
    "invalid_parameter": 400,
    "unsupported_image": 415,
    "unprocessable_image": 422,
}


def init_app(app: Flask) -> None:
    app.register_error_handler(MissingUploadError, _domain_error)
    app.register_error_handler(InvalidParameterError, _domain_error)
    app.register_error_handler(InvalidImageError, _domain_error)
    app.register_error_handler(ModelsNotReadyError, _not_ready)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def error_response(status: int, code: str, message: str) -> tuple[Response | str, int]:
    """JSON for API clients, the upload page with the message for browsers."""
    if request.path.startswith("/api/") or not request.accept_mimetypes.accept_html:
        return jsonify(error={"code": code, "message": message}), status
    # A failed comparison shows its own form again, anything else the upload page.
    page = "compare.html" if request.path.rstrip("/") == "/compare" else "index.html"
    return render_template(page, error=message), status


def _domain_error(error: InvalidImageError | MissingUploadError | InvalidParameterError) -> tuple[Response | str, int]:
    code = getattr(error, "code", "invalid_image")
    status = STATUS_FOR_CODE.get(code, 422 if isinstance(error, UnprocessableImageError) else 415)
    return error_response(status, code, str(error))


def _not_ready(error: ModelsNotReadyError) -> tuple[Response | str, int]:
    return error_response(503, error.code, str(error))


def _http_error(error: HTTPException) -> tuple[Response | str, int]:
    status = error.code or 500
    if status == 413:
        return error_response(413, "too_large", "The upload is larger than this server accepts.")
    code = (error.name or "error").lower().replace(" ", "_")
    return error_response(status, code, error.description or error.name)


def _unexpected_error(error: Exception) -> tuple[Response | str, int]:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", InternalServerError.description)
