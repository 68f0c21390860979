"""The blob store interface.

Blobs are content-addressed and immutable. Uploads are written aside under an upload id and
become visible only through :meth:`BlobStore.commit_upload`, which verifies the digest and
publishes atomically. A crash at any point leaves either no blob or a complete one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sealyard.oci.digest import Digest

__all__ = ["BlobInfo", "BlobStore", "UploadWriter"]


@dataclass(frozen=True)
class BlobInfo:
    digest: Digest
    size: int
    modified: float


class UploadWriter(ABC):
    """Appends bytes to an upload; :meth:`close` makes them durable."""

    @abstractmethod
    def write(self, data: bytes) -> None: ...

    @abstractmethod
    def close(self) -> int:
        """Flush and return the new total size of the upload."""

    @abstractmethod
    def abort(self) -> None:
        """Undo everything written since this writer was opened."""


class BlobStore(ABC):
    """Content-addressed storage of blobs and of in-flight uploads."""

    # committed blobs
    @abstractmethod
    def stat(self, digest: Digest) -> BlobInfo | None: ...

    @abstractmethod
    def open(self, digest: Digest) -> BinaryIO:
        """Open a committed blob for reading. Raises ``NotFoundError``."""

    def local_path(self, digest: Digest) -> Path | None:
        """A filesystem path of the blob, when the store has one (allows zero-copy serving)."""
        return None

    @abstractmethod
    def put(self, data: bytes, digest: Digest) -> None:
        """Store small content (manifests) after verifying it hashes to ``digest``."""

    @abstractmethod
    def delete(self, digest: Digest) -> bool: ...

    @abstractmethod
    def iter_blobs(self) -> Iterator[BlobInfo]: ...

    # uploads
    @abstractmethod
    def create_upload(self, upload_id: str) -> None: ...

    @abstractmethod
    def upload_size(self, upload_id: str) -> int:
        """Bytes received so far. Raises ``NotFoundError`` for an unknown upload."""

    @abstractmethod
    def upload_writer(self, upload_id: str, offset: int) -> UploadWriter:
        """A writer appending at ``offset``, which must equal the current size.

        Raises:
            NotFoundError: unknown upload.
            ConflictError: ``offset`` is not the current size (out-of-order chunk).
        """

    @abstractmethod
    def commit_upload(self, upload_id: str, digest: Digest, max_bytes: int | None = None) -> int:
        """Verify the upload hashes to ``digest`` and publish it as that blob.

        Returns the blob size. Raises ``DigestMismatchError`` (the upload is kept) or
        ``NotFoundError``.
        """

    @abstractmethod
    def delete_upload(self, upload_id: str) -> None: ...

    @abstractmethod
    def iter_uploads(self) -> Iterator[tuple[str, float]]:
        """Every upload id with its last modification time."""

    @abstractmethod
    def recover(self) -> None:
        """Clean up after a crash (temporary files of interrupted writes). Idempotent."""
