"""Garbage collection against a real metadata database and filesystem blob store.

Instead of sleeping, tests make content "old" by moving its database timestamps and file
modification times two hours into the past, and collect with a one-hour grace period.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from sealyard.config import Limits
from sealyard.db import Database
from sealyard.db.models import Blob, Manifest, RepoBlob, Upload
from sealyard.errors import NotFoundError
from sealyard.oci import mediatypes as mt
from sealyard.oci.digest import Digest
from sealyard.registry.accounts import AccountService
from sealyard.registry.gc import GcReport, collect_garbage
from sealyard.registry.store import RegistryStore
from sealyard.storage.filesystem import FilesystemBlobStore
from tests.fixtures.images import FileEntry, Image, Index, build_image, build_index, build_layer

GRACE = 3600.0
OLD = 2 * 3600.0
REPO = "library/app"
SIG_TYPE = "application/vnd.example.signature.v1+json"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RegistryStore]:
    db = Database(f"sqlite:///{tmp_path / 't.db'}")
    db.migrate()
    AccountService(db, cache_seconds=0).create_project("library")
    blobs = FilesystemBlobStore(tmp_path / "storage", fsync=False)
    yield RegistryStore(db, blobs, Limits())
    db.dispose()


def _digest(data: bytes) -> Digest:
    return Digest("sha256:" + hashlib.sha256(data).hexdigest())


def push_blob(store: RegistryStore, data: bytes, repo: str = REPO) -> Digest:
    upload_id = store.start_upload(repo, "tester")
    writer = store.blobs.upload_writer(upload_id, 0)
    writer.write(data)
    writer.close()
    digest = _digest(data)
    assert store.finish_upload(repo, upload_id, digest) == len(data)
    return digest


def push_image(store: RegistryStore, image: Image, reference: str, repo: str = REPO) -> None:
    for layer in image.layers:
        push_blob(store, layer.data, repo)
    push_blob(store, image.config, repo)
    store.put_manifest(repo, reference, image.manifest, image.media_type, actor="tester")


def push_index(store: RegistryStore, index: Index, reference: str, repo: str = REPO) -> None:
    for image in index.images:
        push_image(store, image, image.digest, repo)
    store.put_manifest(repo, reference, index.manifest, index.media_type, actor="tester")


def push_referrer(store: RegistryStore, subject: Image, payload: bytes, repo: str = REPO) -> str:
    push_blob(store, mt.EMPTY_JSON, repo)
    push_blob(store, payload, repo)
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": SIG_TYPE,
            "config": {"mediaType": mt.OCI_EMPTY, "digest": _digest(b"{}"), "size": 2},
            "layers": [{"mediaType": SIG_TYPE, "digest": _digest(payload), "size": len(payload)}],
            "subject": subject.descriptor(platform=False),
        }
    ).encode()
    parsed = store.put_manifest(repo, _digest(raw), raw, mt.OCI_MANIFEST, actor="tester")
    return parsed.digest


def image(name: str) -> Image:
    return build_image([build_layer([FileEntry(f"{name}.txt", name.encode() * 50)])])


def age(store: RegistryStore, seconds: float = OLD) -> None:
    """Make everything that exists now look ``seconds`` old."""
    with store.db.session() as s:
        s.execute(update(Blob).values(created_at=Blob.created_at - seconds))
        s.execute(update(RepoBlob).values(last_used=RepoBlob.last_used - seconds))
        s.execute(update(Manifest).values(created_at=Manifest.created_at - seconds))
        s.execute(update(Upload).values(created_at=Upload.created_at - seconds))
    root = Path(store.blobs.root)  # type: ignore[attr-defined]
    for sub in ("blobs", "uploads"):
        for path in (root / sub).rglob("*"):
            st = path.stat()
            os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))


def gc(store: RegistryStore, **kw: Any) -> GcReport:
    return collect_garbage(store, grace=GRACE, **kw)


def blob_rows(store: RegistryStore) -> set[str]:
    with store.db.session() as s:
        return set(s.scalars(select(Blob.digest)))


def files(store: RegistryStore) -> set[str]:
    return {b.digest for b in store.blobs.iter_blobs()}


def snapshot(store: RegistryStore) -> tuple[Any, ...]:
    with store.db.session() as s:
        links = {(r, d) for r, d in s.execute(select(RepoBlob.repository_id, RepoBlob.digest))}
        manifests = set(s.scalars(select(Manifest.digest)))
        uploads = set(s.scalars(select(Upload.id)))
    on_disk_uploads = {u for u, _ in store.blobs.iter_uploads()}
    return blob_rows(store), files(store), links, manifests, uploads, on_disk_uploads


# ------------------------------------------------------------------------------- blobs


def test_unreferenced_blob_older_than_grace_is_deleted_with_its_bytes(
    store: RegistryStore,
) -> None:
    data = b"nobody uses me" * 100
    digest = push_blob(store, data)
    assert store.blob_size(REPO, digest) == len(data)
    age(store)
    report = gc(store)
    assert report == GcReport(links_removed=1, blobs_deleted=1, bytes_freed=len(data))
    assert store.blobs.stat(digest) is None
    assert not any(Path(store.blobs.root).joinpath("blobs").rglob(digest[7:]))  # type: ignore[attr-defined]
    assert digest not in blob_rows(store)
    assert store.blob_size(REPO, digest) is None
    assert gc(store) == GcReport()  # nothing left to do


def test_referenced_blobs_are_kept(store: RegistryStore) -> None:
    img = image("kept")
    push_image(store, img, "v1")
    age(store)
    before = snapshot(store)
    assert gc(store) == GcReport()
    assert gc(store, delete_untagged=True) == GcReport()
    assert snapshot(store) == before
    record, raw = store.read_manifest(REPO, "v1")
    assert (record.digest, raw) == (img.digest, img.manifest)
    for digest, data in img.blobs():
        with store.blobs.open(Digest(digest)) as fh:
            assert fh.read() == data


def test_blob_newer_than_grace_is_kept(store: RegistryStore) -> None:
    digest = push_blob(store, b"just uploaded, manifest not pushed yet")
    before = snapshot(store)
    assert gc(store) == GcReport()
    assert snapshot(store) == before
    assert store.blob_size(REPO, digest) is not None


def test_recently_used_link_keeps_an_old_blob(store: RegistryStore) -> None:
    digest = push_blob(store, b"old blob, mounted again just now")
    age(store)
    push_blob(store, b"old blob, mounted again just now")  # refreshes the link
    assert gc(store) == GcReport()
    assert store.blob_size(REPO, digest) is not None


def test_stale_link_in_one_repository_keeps_the_blob_used_in_another(
    store: RegistryStore,
) -> None:
    img = image("shared")
    push_image(store, img, "v1")
    layer = img.layers[0]
    push_blob(store, layer.data, repo="library/other")
    age(store)
    report = gc(store)
    assert report == GcReport(links_removed=1)
    assert store.blob_size("library/other", Digest(layer.digest)) is None
    assert store.blob_size(REPO, Digest(layer.digest)) == layer.size


def test_orphan_file_without_a_row_is_removed_after_grace(store: RegistryStore) -> None:
    old_data, new_data = b"crash left me behind", b"published a moment ago"
    store.blobs.put(old_data, _digest(old_data))
    age(store)
    store.blobs.put(new_data, _digest(new_data))
    report = gc(store)
    assert report == GcReport(orphan_files_deleted=1, bytes_freed=len(old_data))
    assert store.blobs.stat(_digest(old_data)) is None
    assert store.blobs.stat(_digest(new_data)) is not None


def test_foreign_files_in_the_store_do_not_break_gc(store: RegistryStore) -> None:
    img = image("foreign")
    push_image(store, img, "v1")
    root = Path(store.blobs.root)  # type: ignore[attr-defined]
    prefix = root / "blobs" / "sha256" / img.digest[7:9]
    (prefix / "not-a-digest").write_bytes(b"x")
    (root / "uploads" / "lost+found").mkdir()
    age(store)
    assert gc(store, delete_untagged=True) == GcReport()
    assert store.read_manifest(REPO, "v1")[1] == img.manifest


# ----------------------------------------------------------------------------- uploads


def test_stale_uploads_are_removed(store: RegistryStore) -> None:
    stale = store.start_upload(REPO, "tester")
    writer = store.blobs.upload_writer(stale, 0)
    writer.write(b"abandoned half-way")
    writer.close()
    vanished = store.start_upload(REPO, "tester")
    age(store)
    store.blobs.delete_upload(vanished)  # its files are gone but the row stayed
    fresh = store.start_upload(REPO, "tester")
    report = gc(store)
    assert report == GcReport(uploads_removed=1)
    with pytest.raises(NotFoundError):
        store.check_upload(REPO, stale)
    with pytest.raises(NotFoundError):
        store.blobs.upload_size(stale)
    assert store.check_upload(REPO, fresh) == 0
    with store.db.session() as s:
        assert set(s.scalars(select(Upload.id))) == {fresh}


# ------------------------------------------------------------------------------ dry run


def test_dry_run_reports_but_deletes_nothing(store: RegistryStore) -> None:
    tagged = image("tagged")
    untagged = image("untagged")
    push_image(store, tagged, "v1")
    push_image(store, untagged, untagged.digest)
    loose = push_blob(store, b"loose blob" * 10)
    orphan = b"orphan file"
    store.blobs.put(orphan, _digest(orphan))
    upload_id = store.start_upload(REPO, "tester")
    age(store)
    before = snapshot(store)
    report = gc(store, dry_run=True, delete_untagged=True)
    assert snapshot(store) == before
    assert store.check_upload(REPO, upload_id) == 0
    assert store.blob_size(REPO, loose) == 100
    assert report.manifests_deleted == 1
    assert report.links_removed == 1
    assert report.blobs_deleted == 1
    assert report.orphan_files_deleted == 1
    assert report.uploads_removed == 1
    assert report.bytes_freed == 100 + len(orphan)
    real = gc(store, delete_untagged=True)
    assert real.manifests_deleted == 1
    assert real.orphan_files_deleted == 1
    assert real.uploads_removed == 1
    # Deleting the untagged manifest also frees its config, layer and manifest bytes.
    assert real.blobs_deleted == 1 + 3
    assert real.links_removed == 1 + 2
    assert store.blob_size(REPO, loose) is None
    assert store.resolve(REPO, untagged.digest) is None
    assert store.read_manifest(REPO, "v1")[1] == tagged.manifest


# ---------------------------------------------------------------------- untagged manifests


def test_delete_untagged_keeps_index_children_and_referrers_of_tagged_manifests(
    store: RegistryStore,
) -> None:
    tagged = image("tagged")
    push_image(store, tagged, "v1")
    index = build_index([build_image([build_layer([FileEntry("x", b"amd")])]), image("arm-ish")])
    push_index(store, index, "multi")
    signature = push_referrer(store, tagged, b"signature of tagged")
    untagged = image("untagged")
    push_image(store, untagged, untagged.digest)
    orphan_signature = push_referrer(store, untagged, b"signature of untagged")
    retagged = image("retagged")
    push_image(store, retagged, "old")
    store.delete_manifest(REPO, "old", actor="tester")  # the tag goes, the manifest stays
    age(store)

    report = gc(store, delete_untagged=True)

    assert report.manifests_deleted == 3
    for gone in (untagged.digest, orphan_signature, retagged.digest):
        assert store.resolve(REPO, gone) is None
        assert store.blobs.stat(Digest(gone)) is None
    assert store.blobs.stat(Digest(untagged.layers[0].digest)) is None
    assert store.blobs.stat(_digest(b"signature of untagged")) is None
    kept = [tagged.digest, index.digest, signature, *(i.digest for i in index.images)]
    for digest in kept:
        record, raw = store.read_manifest(REPO, digest)
        assert record.digest == digest
        assert _digest(raw) == digest
    for child in index.images:
        for digest, _ in child.blobs():
            assert store.blobs.stat(Digest(digest)) is not None
    assert store.blobs.stat(_digest(b"signature of tagged")) is not None
    assert store.blobs.stat(_digest(mt.EMPTY_JSON)) is not None  # still used by `signature`
    assert [r["digest"] for r in store.referrers(REPO, Digest(tagged.digest), None)] == [signature]
    assert gc(store, delete_untagged=True) == GcReport()


def test_referrer_chains_follow_their_subject(store: RegistryStore) -> None:
    tagged = image("tagged")
    push_image(store, tagged, "v1")
    signature = push_referrer(store, tagged, b"sig")
    # A referrer of the referrer (e.g. an attestation of the signature) is kept too.
    _, sig_raw = store.read_manifest(REPO, signature)
    sig_image = Image(b"", "", sig_raw, signature, (), {}, mt.OCI_MANIFEST)
    nested = push_referrer(store, sig_image, b"attestation of sig")
    age(store)
    assert gc(store, delete_untagged=True).manifests_deleted == 0
    store.delete_manifest(REPO, "v1", actor="tester")
    assert gc(store, delete_untagged=True).manifests_deleted == 3
    for digest in (tagged.digest, signature, nested):
        assert store.resolve(REPO, digest) is None


def test_untagged_manifests_within_grace_are_kept(store: RegistryStore) -> None:
    # A client pushes an index's children by digest before the index itself; GC running
    # in between must not delete them, or the index push fails.
    index = build_index([image("child-a"), image("child-b")])
    for child in index.images:
        push_image(store, child, child.digest)
    assert gc(store, delete_untagged=True).manifests_deleted == 0
    store.put_manifest(REPO, "multi", index.manifest, index.media_type, actor="tester")
    assert store.resolve(REPO, "multi") is not None


def test_a_fresh_untagged_index_keeps_its_old_children(store: RegistryStore) -> None:
    index = build_index([image("child-a"), image("child-b")])
    for child in index.images:
        push_image(store, child, child.digest)
    age(store)
    store.put_manifest(REPO, index.digest, index.manifest, index.media_type, actor="tester")
    assert gc(store, delete_untagged=True).manifests_deleted == 0
    for child in index.images:
        assert store.resolve(REPO, child.digest) is not None
    age(store)
    assert gc(store, delete_untagged=True).manifests_deleted == 3
