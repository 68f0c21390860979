"""The filesystem blob store: verified puts, resumable uploads, atomic publication."""

from __future__ import annotations

import hashlib
import os
import stat
import time
import uuid
from pathlib import Path

import pytest

from sealyard.errors import (
    ConflictError,
    DigestMismatchError,
    NotFoundError,
    SizeLimitError,
)
from sealyard.oci.digest import Digest, parse_digest, sha256_digest
from sealyard.storage.filesystem import FilesystemBlobStore

DATA = b"The quick brown fox jumps over the lazy dog\n" * 100


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs-root")


def _upload(store: FilesystemBlobStore, *chunks: bytes) -> str:
    upload_id = str(uuid.uuid4())
    store.create_upload(upload_id)
    offset = 0
    for chunk in chunks:
        writer = store.upload_writer(upload_id, offset)
        writer.write(chunk)
        offset = writer.close()
    return upload_id


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------------- put


def test_put_then_read(store: FilesystemBlobStore) -> None:
    digest = sha256_digest(DATA)
    store.put(DATA, digest)
    info = store.stat(digest)
    assert info is not None
    assert (info.digest, info.size) == (digest, len(DATA))
    with store.open(digest) as fh:
        assert fh.read() == DATA
    path = store.local_path(digest)
    assert path is not None
    assert path.read_bytes() == DATA
    assert path.parent.name == digest[7:9]
    assert not stat.S_IMODE(path.stat().st_mode) & 0o002  # not world-writable
    store.put(DATA, digest)  # idempotent
    assert [b.digest for b in store.iter_blobs()] == [digest]


def test_put_with_wrong_digest_is_refused_and_nothing_is_visible(
    store: FilesystemBlobStore,
) -> None:
    claimed = sha256_digest(b"something else")
    with pytest.raises(DigestMismatchError):
        store.put(DATA, claimed)
    assert store.stat(claimed) is None
    assert store.stat(sha256_digest(DATA)) is None
    with pytest.raises(NotFoundError):
        store.open(claimed)
    assert list(store.iter_blobs()) == []
    assert _files(store.root) == []


def test_put_sha512(store: FilesystemBlobStore) -> None:
    digest = parse_digest("sha512:" + hashlib.sha512(DATA).hexdigest())
    store.put(DATA, digest)
    assert store.stat(digest) is not None
    assert [b.digest for b in store.iter_blobs()] == [digest]
    with pytest.raises(DigestMismatchError):
        store.put(DATA + b"x", parse_digest("sha512:" + hashlib.sha512(DATA).hexdigest()[::-1]))


def test_delete(store: FilesystemBlobStore) -> None:
    digest = sha256_digest(DATA)
    store.put(DATA, digest)
    assert store.delete(digest) is True
    assert store.stat(digest) is None
    assert store.delete(digest) is False


# --------------------------------------------------------------------------------- uploads


def test_chunked_upload_then_commit(store: FilesystemBlobStore) -> None:
    upload_id = str(uuid.uuid4())
    store.create_upload(upload_id)
    assert store.upload_size(upload_id) == 0
    offset = 0
    for i in range(0, len(DATA), 1000):
        writer = store.upload_writer(upload_id, offset)
        writer.write(DATA[i : i + 600])
        writer.write(DATA[i + 600 : i + 1000])
        offset = writer.close()
        assert store.upload_size(upload_id) == offset == min(i + 1000, len(DATA))
    digest = sha256_digest(DATA)
    assert store.stat(digest) is None  # invisible until committed
    assert store.commit_upload(upload_id, digest) == len(DATA)
    with store.open(digest) as fh:
        assert fh.read() == DATA
    assert list(store.iter_uploads()) == []
    with pytest.raises(NotFoundError):
        store.upload_size(upload_id)


def test_empty_upload_commits_the_empty_blob(store: FilesystemBlobStore) -> None:
    upload_id = _upload(store)
    digest = sha256_digest(b"")
    assert store.commit_upload(upload_id, digest) == 0
    assert store.stat(digest) is not None


def test_out_of_order_offset_is_a_conflict(store: FilesystemBlobStore) -> None:
    upload_id = _upload(store, b"12345")
    for offset in (0, 4, 6, 100):
        with pytest.raises(ConflictError, match="5 bytes were received"):
            store.upload_writer(upload_id, offset)
    assert store.upload_size(upload_id) == 5
    writer = store.upload_writer(upload_id, 5)
    writer.write(b"678")
    assert writer.close() == 8


def test_abort_rolls_back_to_the_writer_offset(store: FilesystemBlobStore) -> None:
    upload_id = _upload(store, b"good-")
    writer = store.upload_writer(upload_id, 5)
    writer.write(b"x" * 20_000)  # larger than any write buffer: really on disk
    writer.abort()
    assert store.upload_size(upload_id) == 5
    writer = store.upload_writer(upload_id, 5)
    writer.write(b"data")
    assert writer.close() == 9
    digest = sha256_digest(b"good-data")
    assert store.commit_upload(upload_id, digest) == 9
    with store.open(digest) as fh:
        assert fh.read() == b"good-data"


def test_commit_with_wrong_digest_keeps_the_upload(store: FilesystemBlobStore) -> None:
    upload_id = _upload(store, DATA[:100], DATA[100:])
    wrong = sha256_digest(b"not the data")
    with pytest.raises(DigestMismatchError, match=sha256_digest(DATA)):
        store.commit_upload(upload_id, wrong)
    assert store.stat(wrong) is None
    assert store.stat(sha256_digest(DATA)) is None
    assert store.upload_size(upload_id) == len(DATA)
    # The client may continue or retry with the right digest.
    assert store.commit_upload(upload_id, sha256_digest(DATA)) == len(DATA)


def test_commit_with_sha512_rehashes(store: FilesystemBlobStore) -> None:
    upload_id = _upload(store, DATA)
    digest = parse_digest("sha512:" + hashlib.sha512(DATA).hexdigest())
    assert store.commit_upload(upload_id, digest) == len(DATA)
    assert store.stat(digest) is not None


def test_commit_after_restart_rehashes_from_disk(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = FilesystemBlobStore(root)
    upload_id = _upload(first, DATA[:1000])
    restarted = FilesystemBlobStore(root)  # a new process: no in-memory hash state
    assert restarted.upload_size(upload_id) == 1000
    writer = restarted.upload_writer(upload_id, 1000)
    writer.write(DATA[1000:])
    assert writer.close() == len(DATA)
    with pytest.raises(DigestMismatchError):
        restarted.commit_upload(upload_id, sha256_digest(DATA[1000:]))
    # The hash is computed from the bytes on disk, so tampering is noticed too.
    data_file = root / "uploads" / upload_id / "data"
    data_file.write_bytes(DATA.upper())
    with pytest.raises(DigestMismatchError):
        FilesystemBlobStore(root).commit_upload(upload_id, sha256_digest(DATA))
    data_file.write_bytes(DATA)
    again = FilesystemBlobStore(root)
    assert again.commit_upload(upload_id, sha256_digest(DATA)) == len(DATA)
    with again.open(sha256_digest(DATA)) as fh:
        assert fh.read() == DATA


def test_commit_size_limit(store: FilesystemBlobStore) -> None:
    upload_id = _upload(store, DATA)
    with pytest.raises(SizeLimitError):
        store.commit_upload(upload_id, sha256_digest(DATA), max_bytes=len(DATA) - 1)
    assert store.commit_upload(upload_id, sha256_digest(DATA), max_bytes=len(DATA)) == len(DATA)


def test_commit_deduplicates_an_existing_blob(store: FilesystemBlobStore) -> None:
    digest = sha256_digest(DATA)
    store.put(DATA, digest)
    path = store.local_path(digest)
    assert path is not None
    inode = path.stat().st_ino
    upload_id = _upload(store, DATA)
    assert store.commit_upload(upload_id, digest) == len(DATA)
    assert path.stat().st_ino == inode  # the existing file was kept, not replaced
    assert list(store.iter_uploads()) == []
    assert [b.digest for b in store.iter_blobs()] == [digest]
    assert not (store.root / "uploads" / upload_id).exists()


def test_delete_upload(store: FilesystemBlobStore) -> None:
    upload_id = _upload(store, b"abc")
    store.delete_upload(upload_id)
    store.delete_upload(upload_id)  # idempotent
    with pytest.raises(NotFoundError):
        store.upload_size(upload_id)
    with pytest.raises(NotFoundError):
        store.upload_writer(upload_id, 0)
    with pytest.raises(NotFoundError):
        store.commit_upload(upload_id, sha256_digest(b"abc"))


def _backdate(path: Path, seconds: float = 7200) -> float:
    st = path.stat()
    os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))
    return path.stat().st_mtime


def test_publishing_sets_the_blob_mtime_to_now(store: FilesystemBlobStore) -> None:
    # GC spares files younger than its grace period; a blob's age must count from when it
    # was (re)published, or GC could delete bytes whose database row is being committed.
    upload_id = _upload(store, DATA)
    _backdate(store.root / "uploads" / upload_id / "data")  # last chunk came long ago
    start = time.time() - 60
    digest = sha256_digest(DATA)
    store.commit_upload(upload_id, digest)
    info = store.stat(digest)
    assert info is not None
    assert info.modified >= start
    path = store.local_path(digest)
    assert path is not None
    assert _backdate(path) < start
    store.put(DATA, digest)  # already there: refreshed, not rewritten
    info = store.stat(digest)
    assert info is not None
    assert info.modified >= start
    assert _backdate(path) < start
    store.commit_upload(_upload(store, DATA), digest)  # deduplicated: refreshed too
    info = store.stat(digest)
    assert info is not None
    assert info.modified >= start


# ---------------------------------------------------------------- one writer per upload


def test_a_second_writer_at_the_same_offset_is_refused(store: FilesystemBlobStore) -> None:
    upload_id = _upload(store)
    first = store.upload_writer(upload_id, 0)
    with pytest.raises(ConflictError):
        store.upload_writer(upload_id, 0)
    first.write(b"a" * 10_000)
    first.close()
    with pytest.raises(DigestMismatchError):
        store.commit_upload(upload_id, sha256_digest(b"b" * 9_000 + b"a" * 1_000))
    assert store.commit_upload(upload_id, sha256_digest(b"a" * 10_000)) == 10_000


def test_interleaved_writers_cannot_publish_content_under_a_wrong_digest(
    tmp_path: Path,
) -> None:
    # Two stores on one root behave like two registry processes (or two threads).
    root = tmp_path / "root"
    one, two = FilesystemBlobStore(root), FilesystemBlobStore(root)
    upload_id = _upload(one)
    writer = one.upload_writer(upload_id, 0)
    with pytest.raises(ConflictError):
        two.upload_writer(upload_id, 0)
    writer.abort()
    writer = two.upload_writer(upload_id, 0)
    with pytest.raises(ConflictError):
        one.upload_writer(upload_id, 0)
    writer.write(b"b" * 9_000)
    writer.close()
    with pytest.raises(DigestMismatchError):
        one.commit_upload(upload_id, sha256_digest(b"a" * 10_000))


def test_commit_is_refused_while_a_writer_is_open(store: FilesystemBlobStore) -> None:
    legit = b"legit content"
    upload_id = _upload(store, legit)
    late = store.upload_writer(upload_id, len(legit))
    with pytest.raises(ConflictError):
        store.commit_upload(upload_id, sha256_digest(legit))
    late.write(b"EVIL")
    late.close()
    with pytest.raises(DigestMismatchError):
        store.commit_upload(upload_id, sha256_digest(legit))
    assert store.stat(sha256_digest(legit)) is None


def test_a_committed_upload_cannot_be_written_to(store: FilesystemBlobStore) -> None:
    legit = b"legit content"
    upload_id = _upload(store, legit)
    store.commit_upload(upload_id, sha256_digest(legit))
    with pytest.raises(NotFoundError):
        store.upload_writer(upload_id, len(legit))
    with store.open(sha256_digest(legit)) as fh:
        assert fh.read() == legit


# ----------------------------------------------------------------------- hostile upload ids


@pytest.mark.parametrize(
    "upload_id",
    ["../x", "..", "../../blobs", "/etc/passwd", "a/b", "", "A" * 10, "x" * 65, "abc\x00", "."],
)
def test_hostile_upload_ids_are_unknown(store: FilesystemBlobStore, upload_id: str) -> None:
    outside = store.root.parent / "x"
    with pytest.raises(NotFoundError):
        store.upload_size(upload_id)
    with pytest.raises(NotFoundError):
        store.upload_writer(upload_id, 0)
    with pytest.raises(NotFoundError):
        store.commit_upload(upload_id, sha256_digest(b""))
    with pytest.raises(NotFoundError):
        store.create_upload(upload_id)
    with pytest.raises(NotFoundError):
        store.delete_upload(upload_id)
    assert not outside.exists()


def test_traversal_cannot_commit_a_file_outside_uploads(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "root")
    victim = tmp_path / "x"
    victim.mkdir()
    (victim / "data").write_bytes(b"secret")
    with pytest.raises(NotFoundError):
        store.commit_upload("../../x", sha256_digest(b"secret"))
    assert (victim / "data").read_bytes() == b"secret"
    assert store.stat(sha256_digest(b"secret")) is None


# ------------------------------------------------------------------ listing and recovery


def test_iter_blobs_and_uploads(store: FilesystemBlobStore) -> None:
    blobs = [f"blob {i}".encode() for i in range(5)]
    for data in blobs:
        store.put(data, sha256_digest(data))
    digests = sorted(sha256_digest(d) for d in blobs)
    infos = sorted(store.iter_blobs(), key=lambda b: b.digest)
    assert [i.digest for i in infos] == digests
    assert all(i.size == 6 for i in infos)
    first, second = _upload(store, b"12"), _upload(store)
    uploads = dict(store.iter_uploads())
    assert set(uploads) == {first, second}
    mtime = (store.root / "uploads" / first / "data").stat().st_mtime
    assert uploads[first] == mtime


def test_iter_blobs_skips_foreign_files(store: FilesystemBlobStore) -> None:
    digest = sha256_digest(DATA)
    store.put(DATA, digest)
    prefix = store.root / "blobs" / "sha256" / digest[7:9]
    (prefix / "junk").write_bytes(b"x")
    (prefix / ("A" * 64)).write_bytes(b"x")
    (store.root / "blobs" / "md5" / "ab").mkdir(parents=True)
    (store.root / "blobs" / "md5" / "ab" / ("ab" * 16)).write_bytes(b"x")
    (store.root / "blobs" / "README").write_bytes(b"x")
    assert [b.digest for b in store.iter_blobs()] == [digest]


def test_iter_uploads_skips_foreign_entries(store: FilesystemBlobStore) -> None:
    upload_id = _upload(store)
    (store.root / "uploads" / "lost+found").mkdir()
    (store.root / "uploads" / ".DS_Store").write_bytes(b"")
    ids = [u for u, _ in store.iter_uploads()]
    assert ids == [upload_id]
    for u in ids:
        store.delete_upload(u)  # every listed id is one the store can delete


def test_recover_empties_tmp(store: FilesystemBlobStore) -> None:
    tmp = store.root / "tmp"
    (tmp / "half-written").write_bytes(b"partial")
    (tmp / "another").write_bytes(b"")
    upload_id = _upload(store, b"in flight")
    digest = sha256_digest(DATA)
    store.put(DATA, digest)
    store.recover()
    store.recover()  # idempotent
    assert list(tmp.iterdir()) == []
    assert store.upload_size(upload_id) == len(b"in flight")
    assert store.stat(digest) is not None


def test_no_fsync_mode_works(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path / "root", fsync=False)
    upload_id = _upload(store, DATA)
    assert store.commit_upload(upload_id, sha256_digest(DATA)) == len(DATA)
    store.put(b"x", sha256_digest(b"x"))
    assert {b.digest for b in store.iter_blobs()} == {sha256_digest(DATA), sha256_digest(b"x")}


def test_layout_on_disk(store: FilesystemBlobStore) -> None:
    digest: Digest = sha256_digest(DATA)
    store.put(DATA, digest)
    hexpart = digest.split(":")[1]
    assert (store.root / "blobs" / "sha256" / hexpart[:2] / hexpart).read_bytes() == DATA
    assert {p.name for p in store.root.iterdir()} == {"blobs", "uploads", "tmp"}
    assert os.listdir(store.root / "tmp") == []
