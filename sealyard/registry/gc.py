"""Garbage collection: mark what manifests keep alive, sweep the rest.

Safe next to a running registry within limits: anything touched (uploaded, mounted, checked
or referenced by a new manifest) during the last ``grace`` seconds is kept, and so are
uploads still in flight. Steps:

1. (``delete_untagged``) manifests older than ``grace`` that no tag, no kept index and no
   kept subject keeps alive are deleted, repeatedly until nothing changes. (Clients push an
   index's children, and may push referrers, before what keeps them alive.)
2. Repository blob links not used by a manifest of that repository and idle for ``grace``.
3. Blob rows no repository links and no manifest references, older than ``grace``, with
   their bytes.
4. Files in the blob store without a row (left by a crash between publish and commit).
5. Upload sessions idle for ``grace``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from sqlalchemy import delete, select

from sealyard.db.models import Blob, Manifest, ManifestRef, RepoBlob, Tag, Upload
from sealyard.oci.digest import Digest
from sealyard.registry.store import RegistryStore

__all__ = ["GcReport", "collect_garbage"]


@dataclass
class GcReport:
    manifests_deleted: int = 0
    links_removed: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    orphan_files_deleted: int = 0
    uploads_removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _untagged(store: RegistryStore, cutoff: float) -> list[int]:
    """Ids of manifests created before ``cutoff`` that nothing keeps alive."""
    with store.db.session() as s:
        manifests = {m.id: m for m in s.scalars(select(Manifest))}
        tagged = {(r, d) for r, d in s.execute(select(Tag.repository_id, Tag.digest))}
        children: dict[int, set[str]] = {}
        for mid, child in s.execute(
            select(ManifestRef.manifest_id, ManifestRef.child_digest).where(
                ManifestRef.kind == "manifest"
            )
        ):
            children.setdefault(mid, set()).add(child)
    by_key = {(m.repository_id, m.digest): mid for mid, m in manifests.items()}
    alive = {by_key[k] for k in tagged if k in by_key}
    alive |= {mid for mid, m in manifests.items() if m.created_at >= cutoff}
    changed = True
    while changed:
        changed = False
        for mid, m in manifests.items():
            if mid in alive:
                continue
            keep_as_child = any(
                m.digest in children.get(parent, ())
                for parent in alive
                if manifests[parent].repository_id == m.repository_id
            )
            subject = m.subject_digest
            keep_as_referrer = (
                subject is not None
                and (m.repository_id, subject) in by_key
                and (by_key[(m.repository_id, subject)] in alive)
            )
            if keep_as_child or keep_as_referrer:
                alive.add(mid)
                changed = True
    return sorted(set(manifests) - alive)


def collect_garbage(
    store: RegistryStore, *, grace: float, dry_run: bool = False, delete_untagged: bool = False
) -> GcReport:
    report = GcReport()
    cutoff = time.time() - grace
    if delete_untagged:
        doomed = _untagged(store, cutoff)
        report.manifests_deleted = len(doomed)
        if doomed and not dry_run:
            with store.db.session() as s:
                s.execute(delete(Manifest).where(Manifest.id.in_(doomed)))

    with store.db.session() as s:
        used_in_repo = {
            (r, d)
            for r, d in s.execute(
                select(Manifest.repository_id, ManifestRef.child_digest).join(
                    ManifestRef, ManifestRef.manifest_id == Manifest.id
                )
            )
        }
        used_in_repo |= {
            (r, d) for r, d in s.execute(select(Manifest.repository_id, Manifest.digest))
        }
        links = [
            (r, d, used)
            for r, d, used in s.execute(
                select(RepoBlob.repository_id, RepoBlob.digest, RepoBlob.last_used)
            )
        ]
        stale_links = {
            (r, d) for r, d, used in links if (r, d) not in used_in_repo and used < cutoff
        }
        report.links_removed = len(stale_links)
        if not dry_run:
            for r, d in stale_links:
                s.execute(delete(RepoBlob).where(RepoBlob.repository_id == r, RepoBlob.digest == d))
        still_linked = {d for r, d, _ in links if (r, d) not in stale_links}

    with store.db.session() as s:
        referenced = set(s.scalars(select(ManifestRef.child_digest)))
        referenced |= set(s.scalars(select(Manifest.digest)))
        doomed_blobs = [
            (b.digest, b.size)
            for b in s.scalars(select(Blob))
            if b.digest not in referenced and b.digest not in still_linked and b.created_at < cutoff
        ]
        known = set(s.scalars(select(Blob.digest)))
        report.blobs_deleted = len(doomed_blobs)
        report.bytes_freed = sum(size for _, size in doomed_blobs)
        if not dry_run:
            for digest, _ in doomed_blobs:
                s.execute(delete(Blob).where(Blob.digest == digest))
    if not dry_run:
        for digest, _ in doomed_blobs:
            store.blobs.delete(Digest(digest))

    for info in store.blobs.iter_blobs():
        if info.digest not in known and info.modified < cutoff:
            report.orphan_files_deleted += 1
            report.bytes_freed += info.size
            if not dry_run:
                store.blobs.delete(info.digest)

    with store.db.session() as s:
        upload_rows = {u.id: u for u in s.scalars(select(Upload))}
    for upload_id, modified in list(store.blobs.iter_uploads()):
        if modified < cutoff:
            report.uploads_removed += 1
            if not dry_run:
                store.blobs.delete_upload(upload_id)
                with store.db.session() as s:
                    s.execute(delete(Upload).where(Upload.id == upload_id))
    if not dry_run:
        on_disk = {u for u, _ in store.blobs.iter_uploads()}
        with store.db.session() as s:
            for upload_id in upload_rows:
                if upload_id not in on_disk:
                    s.execute(delete(Upload).where(Upload.id == upload_id))
    return report
