"""Password and secret hashing with Argon2id; random secrets."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_secret", "new_secret", "verify_secret"]

_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
# Verified against when the account does not exist, so timing does not reveal existence.
_DUMMY = _HASHER.hash(secrets.token_hex(16))


def hash_secret(secret: str) -> str:
    return _HASHER.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """Constant-time check of ``secret`` against ``stored_hash`` (``None``: unknown account)."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY, secret) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """A random secret for robots and generated admin passwords (about 190 bits)."""
    return secrets.token_urlsafe(24)
