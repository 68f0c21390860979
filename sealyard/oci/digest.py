"""Content digests (``algorithm:encoded``) as defined by the OCI image spec."""

from __future__ import annotations

import hashlib
import re
from typing import NewType

from sealyard.errors import InvalidDigestError

__all__ = ["Digest", "hex_of", "new_hasher", "parse_digest", "sha256_digest"]

Digest = NewType("Digest", str)

# Grammar from the image spec; only registered algorithms are accepted for content.
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_ALGORITHMS = {"sha256": 64, "sha512": 128}


def parse_digest(value: str) -> Digest:
    """Validate ``value`` and return it as a :data:`Digest`.

    Raises:
        InvalidDigestError: bad grammar, unsupported algorithm or wrong encoded length.
    """
    if not isinstance(value, str) or not _GRAMMAR.match(value):
        raise InvalidDigestError(f"invalid digest {value!r}")
    algorithm, encoded = value.split(":", 1)
    length = _ALGORITHMS.get(algorithm)
    if length is None:
        raise InvalidDigestError(f"unsupported digest algorithm {algorithm!r}")
    if len(encoded) != length or not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidDigestError(f"digest {value!r} is not {length} lowercase hex characters")
    return Digest(value)


def sha256_digest(data: bytes) -> Digest:
    """Digest of ``data`` with SHA-256."""
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def new_hasher(digest: Digest) -> hashlib._Hash:
    """A fresh hash object of the algorithm ``digest`` uses."""
    return hashlib.new(digest.split(":", 1)[0])


def hex_of(digest: Digest) -> str:
    """The encoded part of a digest."""
    return digest.split(":", 1)[1]
