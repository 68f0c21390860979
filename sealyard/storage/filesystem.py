"""Blobs on the local filesystem.

Layout under the root::

    blobs/<algorithm>/<first two hex>/<hex>   committed, immutable blobs
    uploads/<id>/data                          an in-flight upload
    tmp/                                       scratch files of single-shot writes

Publishing is ``fsync(file)`` → ``rename`` → ``fsync(dir)``: a reader sees a complete blob or
none. Hash state of uploads is kept in memory as an optimisation only; after a restart the
upload is re-hashed from disk.

An upload's data file is held under an exclusive ``flock`` by its one open writer and by
``commit_upload``: a second concurrent writer, or a commit while a writer is open, gets
``ConflictError``. Without this, two writers at the same offset (or a writer still open when
the upload is published) could leave bytes that do not match the cached hash or the digest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sealyard.errors import (
    ConflictError,
    DigestMismatchError,
    InvalidDigestError,
    NotFoundError,
    SizeLimitError,
)
from sealyard.oci.digest import Digest, hex_of, new_hasher, parse_digest
from sealyard.storage.interface import BlobInfo, BlobStore, UploadWriter

__all__ = ["FilesystemBlobStore"]

_UPLOAD_ID_CHARS = frozenset("0123456789abcdef-")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _FsUploadWriter(UploadWriter):
    """Appends to an upload whose data file ``fh`` is open and exclusively locked."""

    def __init__(self, store: FilesystemBlobStore, upload_id: str, fh: BinaryIO, offset: int):
        self._store = store
        self._id = upload_id
        self._offset = offset
        self._file = fh
        self._file.seek(offset)
        self._written = 0
        cached = store._hashers.get(upload_id)
        self._hasher = cached[1].copy() if cached and cached[0] == offset else None

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._written += len(data)
        if self._hasher is not None:
            self._hasher.update(data)

    def close(self) -> int:
        try:
            self._file.flush()
            size = self._offset + self._written
            # Updated while the lock is still held, so a commit never sees a stale entry.
            if self._hasher is not None:
                self._store._hashers[self._id] = (size, self._hasher)
            else:
                self._store._hashers.pop(self._id, None)
        finally:
            self._file.close()  # releases the lock
        return size

    def abort(self) -> None:
        try:
            self._file.truncate(self._offset)
        finally:
            self._file.close()


class FilesystemBlobStore(BlobStore):
    """Blob store rooted at a local directory."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self._fsync = fsync
        self._hashers: dict[str, tuple[int, hashlib._Hash]] = {}
        for sub in ("blobs", "uploads", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # paths
    def _blob_path(self, digest: Digest) -> Path:
        algorithm = digest.split(":", 1)[0]
        encoded = hex_of(digest)
        return self.root / "blobs" / algorithm / encoded[:2] / encoded

    def _upload_dir(self, upload_id: str) -> Path:
        if not upload_id or not set(upload_id) <= _UPLOAD_ID_CHARS or len(upload_id) > 64:
            raise NotFoundError(f"unknown upload {upload_id!r}")
        return self.root / "uploads" / upload_id

    # blobs
    def stat(self, digest: Digest) -> BlobInfo | None:
        try:
            st = self._blob_path(digest).stat()
        except FileNotFoundError:
            return None
        return BlobInfo(digest, st.st_size, st.st_mtime)

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return self._blob_path(digest).open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {digest} not found") from exc

    def local_path(self, digest: Digest) -> Path | None:
        return self._blob_path(digest)

    @staticmethod
    def _touch(path: Path) -> bool:
        """Set ``path``'s mtime to now; ``False`` if it does not exist.

        A blob's mtime is when it was last published: GC spares files younger than its grace
        period, so bytes whose database row is about to be committed are never orphans.
        """
        try:
            os.utime(path)
        except FileNotFoundError:
            return False
        return True

    def _publish(self, source: Path, digest: Digest) -> None:
        target = self._blob_path(digest)
        if self._touch(target):
            source.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        self._touch(target)  # an upload's data file keeps the time of its last chunk
        if self._fsync:
            _fsync_dir(target.parent)

    def put(self, data: bytes, digest: Digest) -> None:
        hasher = new_hasher(digest)
        hasher.update(data)
        if hasher.hexdigest() != hex_of(digest):
            raise DigestMismatchError(f"content does not match {digest}")
        if self._touch(self._blob_path(digest)):
            return
        tmp = self.root / "tmp" / uuid.uuid4().hex
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            if self._fsync:
                os.fsync(fh.fileno())
        self._publish(tmp, digest)

    def delete(self, digest: Digest) -> bool:
        try:
            self._blob_path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def iter_blobs(self) -> Iterator[BlobInfo]:
        base = self.root / "blobs"
        for algorithm_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            for prefix in sorted(p for p in algorithm_dir.iterdir() if p.is_dir()):
                for entry in sorted(prefix.iterdir()):
                    try:
                        digest = parse_digest(f"{algorithm_dir.name}:{entry.name}")
                        st = entry.stat()
                    except (InvalidDigestError, OSError):
                        continue
                    yield BlobInfo(digest, st.st_size, st.st_mtime)

    # uploads
    def create_upload(self, upload_id: str) -> None:
        directory = self._upload_dir(upload_id)
        try:
            directory.mkdir()
        except FileExistsError as exc:
            raise ConflictError(f"upload {upload_id!r} already exists") from exc
        (directory / "data").touch()
        self._hashers[upload_id] = (0, hashlib.sha256())

    def upload_size(self, upload_id: str) -> int:
        try:
            return (self._upload_dir(upload_id) / "data").stat().st_size
        except FileNotFoundError as exc:
            raise NotFoundError(f"unknown upload {upload_id!r}") from exc

    def _open_locked(self, upload_id: str) -> tuple[Path, BinaryIO]:
        """Open the upload's data file under an exclusive lock.

        Raises:
            NotFoundError: unknown upload, or it was committed or deleted meanwhile.
            ConflictError: another writer or a commit holds the upload.
        """
        path = self._upload_dir(upload_id) / "data"
        try:
            fh = path.open("r+b")
        except FileNotFoundError as exc:
            raise NotFoundError(f"unknown upload {upload_id!r}") from exc
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise ConflictError(f"upload {upload_id!r} is busy with another request") from exc
            # The file may have been published or deleted between open() and flock().
            opened = os.fstat(fh.fileno())
            try:
                current = path.stat()
            except FileNotFoundError as exc:
                raise NotFoundError(f"unknown upload {upload_id!r}") from exc
            if (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
                raise NotFoundError(f"unknown upload {upload_id!r}")
        except BaseException:
            fh.close()
            raise
        return path, fh

    def upload_writer(self, upload_id: str, offset: int) -> UploadWriter:
        _, fh = self._open_locked(upload_id)
        size = os.fstat(fh.fileno()).st_size
        if offset != size:
            fh.close()
            raise ConflictError(f"chunk starts at {offset} but {size} bytes were received")
        return _FsUploadWriter(self, upload_id, fh, offset)

    @staticmethod
    def _hash_file(fh: BinaryIO, digest: Digest) -> str:
        hasher = new_hasher(digest)
        fh.seek(0)
        while chunk := fh.read(1 << 20):
            hasher.update(chunk)
        return hasher.hexdigest()

    def commit_upload(self, upload_id: str, digest: Digest, max_bytes: int | None = None) -> int:
        data, fh = self._open_locked(upload_id)
        with fh:
            size = os.fstat(fh.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise SizeLimitError(f"blob is {size} bytes; the limit is {max_bytes}")
            cached = self._hashers.get(upload_id)
            if cached and cached[0] == size and digest.startswith("sha256:"):
                actual = cached[1].hexdigest()
            else:
                actual = self._hash_file(fh, digest)
            if actual != hex_of(digest):
                raise DigestMismatchError(
                    f"uploaded content hashes to {digest.split(':')[0]}:{actual}, not {digest}"
                )
            if self._fsync:
                os.fsync(fh.fileno())
            self._publish(data, digest)
            self.delete_upload(upload_id)
        return size

    def delete_upload(self, upload_id: str) -> None:
        self._hashers.pop(upload_id, None)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self._upload_dir(upload_id))

    def iter_uploads(self) -> Iterator[tuple[str, float]]:
        for entry in (self.root / "uploads").iterdir():
            if not set(entry.name) <= _UPLOAD_ID_CHARS or len(entry.name) > 64:
                continue  # not an upload of ours; delete_upload would refuse the name
            data = entry / "data"
            with contextlib.suppress(OSError):
                yield entry.name, (data if data.exists() else entry).stat().st_mtime

    def recover(self) -> None:
        for entry in (self.root / "tmp").iterdir():
            with contextlib.suppress(OSError):
                entry.unlink()
