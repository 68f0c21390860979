"""Readers that check content against its digest as it streams by."""

from __future__ import annotations

import io
from typing import IO, BinaryIO

from sealyard.errors import DigestMismatchError, SizeLimitError
from sealyard.oci.digest import Digest, hex_of, new_hasher

__all__ = ["VerifyingReader", "read_verified"]


class VerifyingReader(io.RawIOBase):
    """Hashes everything read from ``inner``; at end of stream the digest must match.

    Call :meth:`finish` when done with a stream that may not have been read to the end (a tar
    reader stops at the end-of-archive marker): it drains the rest and verifies.
    """

    def __init__(self, inner: IO[bytes], digest: Digest, *, max_bytes: int | None = None) -> None:
        self._inner = inner
        self.digest = digest
        self._hasher = new_hasher(digest)
        self._max = max_bytes
        self.count = 0
        self._verified = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        if not data:
            self._verify()
            return 0
        n = len(data)
        self.count += n
        if self._max is not None and self.count > self._max:
            raise SizeLimitError(f"{self.digest}: content exceeds {self._max} bytes")
        self._hasher.update(data)
        buffer[:n] = data
        return n

    def _verify(self) -> None:
        if self._verified:
            return
        self._verified = True
        if self._hasher.hexdigest() != hex_of(self.digest):
            raise DigestMismatchError(
                f"content does not match its digest {self.digest} "
                f"(got {self.digest.split(':')[0]}:{self._hasher.hexdigest()})"
            )

    def finish(self) -> None:
        while self.read(1 << 20):
            pass
        self._verify()

    def close(self) -> None:
        self._inner.close()
        super().close()


def read_verified(stream: BinaryIO, digest: Digest, max_bytes: int) -> bytes:
    """Read a small blob (manifest, config) whole and verify it."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SizeLimitError(f"{digest}: larger than {max_bytes} bytes")
    hasher = new_hasher(digest)
    hasher.update(data)
    if hasher.hexdigest() != hex_of(digest):
        raise DigestMismatchError(f"content does not match its digest {digest}")
    return data
