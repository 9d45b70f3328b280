"""Photos sealed at rest with AES-256-GCM; the key is LESION_RECORDS_KEY (URL-safe base64 of 32 bytes)."""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from records.errors import RecordsKeyError

#: First byte of every sealed blob: the format (AES-256-GCM, 12-byte nonce, 16-byte tag).
VERSION = b"\x01"
NONCE_BYTES = 12
KEY_HELP = (
    'python -c "import base64,secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
)


def decode_key(text: str) -> bytes:
    """The 32 key bytes of a LESION_RECORDS_KEY value; raise :class:`RecordsKeyError` naming what is wrong."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise RecordsKeyError(f"LESION_RECORDS_KEY is not URL-safe base64; make one with {KEY_HELP}") from None
    if len(key) != 32:
        raise RecordsKeyError(f"LESION_RECORDS_KEY decodes to {len(key)} bytes, not 32; make one with {KEY_HELP}")
    return key


class PhotoCipher:
    """Seal and open photos; ``context`` (the visit id) is authenticated, so a sealed photo cannot be moved."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise RecordsKeyError(f"a records key has 32 bytes, received {len(key)}")
        self._aead = AESGCM(key)
        self._key = key

    @classmethod
    def from_setting(cls, text: str) -> PhotoCipher:
        return cls(decode_key(text))

    def seal(self, data: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, data, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if sealed[:1] != VERSION:
            raise RecordsKeyError(f"sealed photo {context} has an unknown format")
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context.encode())
        except InvalidTag:
            raise RecordsKeyError(f"photo {context} does not open with this key (wrong key or altered data)") from None

    def derive(self, purpose: str) -> bytes:
        """A separate 32-byte secret for ``purpose`` (e.g. the session cookie's signing key)."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(self._key)
