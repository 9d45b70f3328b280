"""Clinics and users: creation, sign-in with lockout, browser sessions and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from records import audit
from records.errors import InvalidRecordError
from records.models import ApiToken, Clinic, SignInSession, User
from records.passwords import DUMMY_HASH, MIN_PASSWORD_LENGTH, check_password, hash_password, new_secret, secret_hash

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
#: A browser session ends on the server this long after sign-in, whatever the cookie says.
SESSION_LIFETIME = timedelta(hours=12)


def now() -> datetime:
    return datetime.now(UTC)


def normal_email(email: str) -> str:
    return email.strip().lower()


def create_user(session: Session, email: str, password: str, clinic_name: str, admin: bool = False) -> User:
    """Create a user (and the clinic, the first time its name is used); the caller commits."""
    email = normal_email(email)
    if "@" not in email or len(email) > 320:
        raise InvalidRecordError(f"not an email address: {email!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidRecordError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if not clinic_name.strip():
        raise InvalidRecordError("the clinic needs a name")
    if session.scalar(select(User).where(User.email == email)) is not None:
        raise InvalidRecordError(f"a user {email} exists already")
    clinic = session.scalar(select(Clinic).where(Clinic.name == clinic_name.strip()))
    if clinic is None:
        clinic = Clinic(name=clinic_name.strip(), created_at=now())
        session.add(clinic)
        session.flush()
    user = User(
        clinic_id=clinic.id,
        email=email,
        password_hash=hash_password(password),
        is_admin=admin,
        disabled=False,
        failed_sign_ins=0,
        created_at=now(),
    )
    session.add(user)
    session.flush()
    audit.record(
        session, audit.Actor(None, name="command line"), audit.USER_CREATED, email, {"admin": admin}, clinic.id
    )
    return user


def set_disabled(session: Session, email: str, disabled: bool = True) -> User:
    """Disable (or enable) a user; a disabled user's sessions and tokens stop working at once."""
    user = session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None:
        raise InvalidRecordError(f"no user {normal_email(email)}")
    user.disabled = disabled
    if disabled:
        session.execute(delete(SignInSession).where(SignInSession.user_id == user.id))
    actor = audit.Actor(None, name="command line")
    audit.record(session, actor, audit.USER_DISABLED, user.email, {"disabled": disabled}, user.clinic_id)
    return user


def authenticate(session: Session, email: str, password: str, address: str = "") -> User | None:
    """The user if the password is right and the account usable; else None. Every try is audited.

    Five wrong passwords in a row lock the account for 15 minutes; while locked, even the right
    password is refused. The caller commits (so the failure count and the audit entry persist).
    """
    user = session.scalar(select(User).where(User.email == normal_email(email)).with_for_update())
    if user is None:
        check_password(DUMMY_HASH, password)
        audit.record(
            session,
            audit.Actor(None, address, normal_email(email)[:320]),
            audit.SIGN_IN_FAILED,
            normal_email(email)[:320],
            {"reason": "unknown user"},
        )
        return None
    actor = audit.Actor(user, address)
    if user.locked_until is not None and user.locked_until > now():
        check_password(DUMMY_HASH, password)  # as slow as any other refusal: the timing tells nothing
        audit.record(session, actor, audit.SIGN_IN_FAILED, user.email, {"reason": "locked"})
        return None
    if not check_password(user.password_hash, password):
        user.failed_sign_ins += 1
        reason = "wrong password"
        if user.failed_sign_ins >= MAX_FAILURES:
            user.locked_until, user.failed_sign_ins = now() + LOCKOUT, 0
            reason = "wrong password; locked for 15 minutes"
        audit.record(session, actor, audit.SIGN_IN_FAILED, user.email, {"reason": reason})
        return None
    if user.disabled:
        audit.record(session, actor, audit.SIGN_IN_FAILED, user.email, {"reason": "disabled"})
        return None
    user.failed_sign_ins, user.locked_until = 0, None
    return user


def start_session(session: Session, user: User, address: str = "") -> str:
    """A new browser session id for ``user`` (a fresh one at every sign-in)."""
    token = new_secret()
    session.add(SignInSession(token_hash=secret_hash(token), user_id=user.id, created_at=now()))
    audit.record(session, audit.Actor(user, address), audit.SIGN_IN, user.email)
    return token


def session_user(session: Session, token: str) -> User | None:
    """The enabled user of a browser session id, or None (signed out, expired, unknown or disabled)."""
    found = session.scalar(select(SignInSession).where(SignInSession.token_hash == secret_hash(token)))
    if found is None or found.user.disabled or found.created_at < now() - SESSION_LIFETIME:
        return None
    return found.user


def end_session(session: Session, token: str, address: str = "") -> None:
    found = session.scalar(select(SignInSession).where(SignInSession.token_hash == secret_hash(token)))
    if found is not None:
        audit.record(session, audit.Actor(found.user, address), audit.SIGN_OUT, found.user.email)
        session.delete(found)


def issue_token(session: Session, user: User, address: str = "") -> str:
    """A new API token for ``user``; only its hash is kept, the token is shown once."""
    token = new_secret()
    session.add(ApiToken(token_hash=secret_hash(token), user_id=user.id, created_at=now()))
    audit.record(session, audit.Actor(user, address), audit.TOKEN_ISSUED, user.email)
    return token


def token_user(session: Session, token: str) -> User | None:
    """The enabled user an API token belongs to, or None."""
    found = session.scalar(select(ApiToken).where(ApiToken.token_hash == secret_hash(token)))
    if found is None or found.user.disabled:
        return None
    return found.user


def user_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0
