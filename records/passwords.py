"""Password hashing (scrypt) and the secrets handed to browsers and API clients (stored as SHA-256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt cost: 2**15 x 8 x 1 takes ~32 MiB and a few tens of ms.
N, R, P = 2**15, 8, 1
MAX_MEMORY = 64 * 1024 * 1024
MIN_PASSWORD_LENGTH = 10


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` for ``password``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=MAX_MEMORY, dklen=32)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (compared in constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), maxmem=MAX_MEMORY, dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


#: Checked against when the email is unknown, so timing does not say which emails exist.
DUMMY_HASH = hash_password(secrets.token_hex(8))


def new_secret() -> str:
    """A fresh random token (for an API client or a browser session)."""
    return secrets.token_urlsafe(32)


def secret_hash(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()
