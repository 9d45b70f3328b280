"""Sign-in pages: CSRF, lockout, a new server-checked session id at sign-in, cookie flags, sign-out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from records.db import make_engine
from records.models import User
from tests.records.conftest import PASSWORD, add_user, records_app

EMAIL = "dana@a.example"
SIGNED_IN = b"Sign out ("


@pytest.fixture()
def dana(database_url) -> str:
    add_user(database_url, EMAIL, "Clinic A")
    return EMAIL


def csrf_token(client) -> str:
    page = client.get("/records/signin").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, password: str = PASSWORD, token: str | None = None):
    token = csrf_token(client) if token is None else token
    form = {"email": EMAIL, "password": password, "csrf_token": token}
    return client.post("/records/signin", data=form)


def session_id(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def signed_in(client) -> bool:
    return SIGNED_IN in client.get("/records/signin").data


def test_sign_in_and_out(rclient, dana) -> None:
    response = sign_in(rclient)
    assert response.status_code == 303 and response.headers["Location"] == "/records"
    assert signed_in(rclient)
    token = csrf_token(rclient)
    assert rclient.post("/records/signout", data={"csrf_token": token}).status_code == 303
    assert not signed_in(rclient) and session_id(rclient) is None


@pytest.mark.parametrize("token", [None, "", "forged-token"], ids=["missing", "empty", "wrong"])
def test_forms_without_the_csrf_token_are_refused(rclient, dana, token) -> None:
    csrf_token(rclient)  # the session has a real token; the form does not send it
    form = {"email": EMAIL, "password": PASSWORD}
    if token is not None:
        form["csrf_token"] = token
    assert rclient.post("/records/signin", data=form).status_code == 400
    assert not signed_in(rclient)
    sign_in(rclient)
    assert rclient.post("/records/signout", data={} if token is None else {"csrf_token": token}).status_code == 400
    assert signed_in(rclient)


def test_the_session_id_changes_at_sign_in(rclient, dana) -> None:
    with rclient.session_transaction() as session:
        session["_user_id"] = "chosen-by-an-attacker"
    sign_in(rclient)
    first = session_id(rclient)
    assert first and first != "chosen-by-an-attacker"
    rclient.post("/records/signout", data={"csrf_token": csrf_token(rclient)})
    sign_in(rclient)
    second = session_id(rclient)
    assert second and second != first
    # The old id is dead on the server: a replayed cookie with it is not signed in.
    with rclient.session_transaction() as session:
        session["_user_id"] = first
    assert not signed_in(rclient)


def test_five_wrong_passwords_lock_the_page_for_15_minutes(rclient, dana, database_url) -> None:
    for _ in range(5):
        assert sign_in(rclient, "not the password").status_code == 401
    refused = sign_in(rclient)
    assert refused.status_code == 401 and b"locked" in refused.data and not signed_in(rclient)
    engine = make_engine(database_url)
    with Session(engine) as session:
        locked_until = session.query(User).filter_by(email=EMAIL).one().locked_until
        assert locked_until is not None
        ends = locked_until if locked_until.tzinfo else locked_until.replace(tzinfo=UTC)
        assert timedelta(minutes=14) < ends - datetime.now(UTC) <= timedelta(minutes=15)
        session.execute(update(User).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
        session.commit()
    engine.dispose()
    assert sign_in(rclient).status_code == 303 and signed_in(rclient)


def test_a_disabled_users_session_ends(rclient, rapp, dana) -> None:
    sign_in(rclient)
    assert signed_in(rclient)
    assert rapp.test_cli_runner().invoke(args=["records", "disable-user", EMAIL]).exit_code == 0
    assert not signed_in(rclient)
    assert sign_in(rclient).status_code == 401


def test_cookies_are_httponly_and_samesite_lax(rclient, dana) -> None:
    cookie = sign_in(rclient).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_cookies_are_secure_when_asked(app, database_url, records_key, dana) -> None:
    client = records_app(app, database_url, records_key, SECURE_COOKIES=1).test_client()
    cookie = client.get("/records/signin").headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_sign_in_only_sends_people_to_local_pages(rclient, dana) -> None:
    form = {"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_token(rclient), "next": "//evil.example/x"}
    assert rclient.post("/records/signin", data=form).headers["Location"] == "/records"


def test_the_anonymous_page_sets_no_cookie(rclient) -> None:
    response = rclient.get("/")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert SIGNED_IN not in response.data


def test_a_session_ends_on_the_server_after_12_hours(rclient, dana, database_url) -> None:
    from records.models import SignInSession

    sign_in(rclient)
    assert signed_in(rclient)
    engine = make_engine(database_url)
    with Session(engine) as session:
        session.execute(update(SignInSession).values(created_at=datetime.now(UTC) - timedelta(hours=12, seconds=1)))
        session.commit()
    engine.dispose()
    assert not signed_in(rclient)
