"""Register the records on the app: database, photo cipher, sign-in (Flask-Login), CSRF and cookie settings.

Records are off (their routes answer 404) when LESION_RECORDS_KEY is unset or empty; they are
unavailable (503, one clear log line at start) when the key is malformed or the database schema
is not the one the code needs. The app never migrates on its own: ``make migrate`` does.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from flask import Flask, abort, current_app, g, request
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from records import accounts, audit
from records.crypto import PhotoCipher
from records.db import default_url, make_engine, schema_problem, session_factory
from records.errors import RecordsError
from records.models import User
from records.repository import ClinicRecords

log = logging.getLogger(__name__)
EXTENSION_KEY = "lesion_records"
csrf = CSRFProtect()
login_manager = LoginManager()
#: Paths whose unsafe requests must carry a CSRF token (the HTML records pages and sign-in/out).
PAGES_PREFIX = "/records"


class RecordsUnavailableError(RuntimeError):
    """Records are configured but cannot be used (bad key, unreachable database, schema behind)."""

    code = "records_unavailable"


@dataclass(frozen=True)
class RecordsState:
    """What :func:`init_app` found: ``problem`` says why records are unavailable."""

    engine: Engine | None
    sessions: sessionmaker[Session] | None
    cipher: PhotoCipher | None
    problem: str | None = None


class SignedInUser(UserMixin):
    """Flask-Login's user: the database user and the browser session id (the value Flask-Login stores)."""

    def __init__(self, user: User, session_id: str) -> None:
        self.user = user
        self.session_id = session_id

    def get_id(self) -> str:
        return self.session_id


def database_url(app: Flask) -> str:
    return app.config.get("DATABASE_URL") or os.environ.get("DATABASE_URL") or default_url(app.instance_path)


def init_app(app: Flask) -> None:
    """Set up records when LESION_RECORDS_KEY is set; leave them off (404) otherwise."""
    secure = str(app.config.get("SECURE_COOKIES", "")).lower() in ("1", "true", "yes")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_NAME="lesion_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.extensions[EXTENSION_KEY] = state = _state(app)
    csrf.init_app(app)
    app.before_request(_protect_forms)
    app.teardown_appcontext(_close_session)
    if state.cipher is None:
        return
    app.config.setdefault("SECRET_KEY", None)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = state.cipher.derive("lesion session cookie signing").hex()
    login_manager.init_app(app)
    login_manager.login_view = "records_auth.signin"
    login_manager.login_message = None
    login_manager.user_loader(_load_user)


def _state(app: Flask) -> RecordsState:
    key = str(app.config.get("RECORDS_KEY") or "").strip()
    if not key:
        return RecordsState(None, None, None)
    try:
        cipher = PhotoCipher.from_setting(key)
        engine = make_engine(database_url(app))
        problem = schema_problem(engine)
    except RecordsError as error:
        cipher, engine, problem = None, None, str(error)
    except (SQLAlchemyError, OSError) as error:
        problem = f"cannot reach the records database: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    if problem:
        log.error("records unavailable: %s", problem)
        return RecordsState(None, None, None, problem)
    return RecordsState(engine, session_factory(engine), cipher)


def records_state() -> RecordsState:
    return current_app.extensions[EXTENSION_KEY]


def require_records() -> RecordsState:
    """The usable records state; 404 when records are off, 503 when they are unavailable."""
    state = records_state()
    if state.problem:
        raise RecordsUnavailableError("Patient records are unavailable on this server; the log says why.")
    if state.sessions is None:
        abort(404)
    return state


def db_session() -> Session:
    """The request's database session (closed when the request ends)."""
    if "records_session" not in g:
        g.records_session = require_records().sessions()
    return g.records_session


def photo_cipher() -> PhotoCipher:
    cipher = require_records().cipher
    assert cipher is not None
    return cipher


def client_address() -> str:
    return request.remote_addr or ""


def signed_in_user() -> User:
    """The database user of the signed-in browser (pages) or of the Bearer token (API)."""
    user = g.get("records_user")
    if user is None and current_user.is_authenticated:
        user = current_user.user
    if user is None:
        abort(401)
    return user


def clinic_records() -> ClinicRecords:
    """The signed-in user's clinic's records: the only way routes reach patients, lesions and visits."""
    return ClinicRecords(db_session(), signed_in_user().clinic_id)


def actor() -> audit.Actor:
    """Who acts in this request, for the audit trail."""
    return audit.Actor(signed_in_user(), client_address())


def _load_user(session_id: str) -> SignedInUser | None:
    if records_state().sessions is None:
        return None
    user = accounts.session_user(db_session(), session_id)
    db_session().commit()  # end the read: SQLite would hold its lock for the whole request
    return None if user is None else SignedInUser(user, session_id)


def _protect_forms() -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") and request.path.startswith(PAGES_PREFIX):
        if records_state().sessions is None and not records_state().problem:
            abort(404)
        csrf.protect()


def _close_session(_error: BaseException | None) -> None:
    session = g.pop("records_session", None)
    if session is not None:
        session.close()
