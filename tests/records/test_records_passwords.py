"""Password hashing and token secrets, without a database."""

from __future__ import annotations

import pytest

from records.passwords import check_password, hash_password, new_secret, secret_hash


def test_a_password_hash_checks_only_its_password() -> None:
    stored = hash_password("correct horse battery staple")
    assert stored.startswith("scrypt$32768$8$1$") and "correct" not in stored
    assert check_password(stored, "correct horse battery staple")
    assert not check_password(stored, "correct horse battery stapl")
    assert hash_password("correct horse battery staple") != stored  # salted


@pytest.mark.parametrize("stored", ["", "plain", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AAAA$AAAA", "scrypt$16$8$1$%%$AAAA"])
def test_a_malformed_hash_never_matches(stored: str) -> None:
    assert not check_password(stored, "anything")


def test_secrets_are_random_and_stored_as_sha256() -> None:
    first, second = new_secret(), new_secret()
    assert first != second and len(first) >= 43
    assert secret_hash(first) == secret_hash(first) != secret_hash(second)
    assert len(secret_hash(first)) == 64 and first not in secret_hash(first)
