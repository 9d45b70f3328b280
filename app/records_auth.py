"""Sign-in and sign-out pages for the records (server-checked sessions, a new session id at every sign-in)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session
from flask_login import current_user, login_user, logout_user

from app.records_extension import SignedInUser, client_address, db_session, require_records
from records import accounts

bp = Blueprint("records_auth", __name__, url_prefix="/records")
#: Where a signed-in user lands (the records pages).
HOME = "/records"
FAILED = (
    "Wrong email or password, or the account is locked or disabled. "
    "After five failures in a row it is locked for 15 minutes."
)


@bp.before_request
def _records_on() -> None:
    require_records()


def _safe_next(target: str | None) -> str:
    """Only a local path: never send someone off-site after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return HOME
    return target


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    if request.method == "GET":
        return render_template("records/signin.html", next=_safe_next(request.args.get("next")))
    database = db_session()
    user = accounts.authenticate(
        database, request.form.get("email", ""), request.form.get("password", ""), client_address()
    )
    if user is None:
        database.commit()
        return render_template("records/signin.html", error=FAILED, next=_safe_next(request.form.get("next"))), 401
    session_id = accounts.start_session(database, user, client_address())
    database.commit()
    # A new signed cookie with nothing of the anonymous one but a fresh CSRF token: no session fixation.
    session.clear()
    login_user(SignedInUser(user, session_id))
    return redirect(_safe_next(request.form.get("next")), code=303)


@bp.post("/signout")
def signout():
    if current_user.is_authenticated:
        database = db_session()
        accounts.end_session(database, current_user.session_id, client_address())
        database.commit()
    logout_user()
    session.clear()
    return redirect("/records/signin", code=303)
