"""The records' errors as the API's JSON error contract (or the page for browsers)."""

from __future__ import annotations

from flask import Flask, Response

from app.error_handlers import error_response
from app.records_api import UnauthorizedError
from app.records_extension import RecordsUnavailableError
from records.errors import InvalidRecordError, NotFoundError, RecordsKeyError


def init_app(app: Flask) -> None:
    app.register_error_handler(NotFoundError, _not_found)
    app.register_error_handler(InvalidRecordError, _invalid)
    app.register_error_handler(UnauthorizedError, _unauthorized)
    app.register_error_handler(RecordsUnavailableError, _unavailable)
    app.register_error_handler(RecordsKeyError, _unavailable)


def _not_found(error: NotFoundError) -> tuple[Response | str, int]:
    # The same answer whether the record does not exist or belongs to another clinic.
    return error_response(404, "not_found", "Not found.")


def _invalid(error: InvalidRecordError) -> tuple[Response | str, int]:
    return error_response(400, error.code, str(error))


def _unauthorized(error: UnauthorizedError) -> tuple[Response | str, int]:
    response, status = error_response(401, error.code, str(error))
    if isinstance(response, Response):
        response.headers["WWW-Authenticate"] = 'Bearer realm="records"'
    return response, status


def _unavailable(error: Exception) -> tuple[Response | str, int]:
    return error_response(503, "records_unavailable", "Patient records are unavailable on this server.")
