"""Registry state: repositories, blobs, manifests, tags, uploads and referrers.

Blob bytes live in a :class:`~sealyard.storage.BlobStore`; everything else in the metadata
database. Ordering makes crashes harmless: bytes are published (atomically) before the
database row that makes them reachable is committed, so a committed row never points at
missing bytes and an interrupted write leaves at most an unreferenced file for GC.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sealyard.config import Limits
from sealyard.db import jobs
from sealyard.db.engine import Database
from sealyard.db.models import (
    Blob,
    Manifest,
    ManifestRef,
    Project,
    RepoBlob,
    Repository,
    Tag,
    Upload,
)
from sealyard.errors import (
    ConflictError,
    InvalidReferenceError,
    ManifestInvalidError,
    NotFoundError,
)
from sealyard.oci.digest import Digest, hex_of, new_hasher, parse_digest, sha256_digest
from sealyard.oci.manifest import ParsedManifest, parse_manifest
from sealyard.oci.names import project_of, validate_tag
from sealyard.registry.audit import AuditLog
from sealyard.storage.interface import BlobStore

__all__ = ["BlobUnknownError", "ManifestBlobUnknownError", "ManifestRecord", "RegistryStore"]


class BlobUnknownError(NotFoundError):
    """The blob is not in this repository."""


class ManifestUnknownError(NotFoundError):
    """The manifest or tag is not in this repository."""


class RepositoryUnknownError(NotFoundError):
    """The repository does not exist."""


class UploadUnknownError(NotFoundError):
    """The upload session does not exist (or belongs to another repository)."""


class ManifestBlobUnknownError(ManifestInvalidError):
    """A manifest references blobs or manifests that are not in the repository."""

    def __init__(self, message: str, missing: list[str]) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class ManifestRecord:
    digest: Digest
    media_type: str
    size: int


def _insert_ignore(session: Session, model: Any, values: dict[str, Any]) -> None:
    """INSERT that silently keeps an existing row with the same primary key."""
    dialect = session.get_bind().dialect.name
    table = model.__table__
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - other dialects are not supported targets
        raise NotImplementedError(dialect)
    session.execute(stmt)


def is_digest(reference: str) -> bool:
    return ":" in reference


class RegistryStore:
    """Repository operations used by the HTTP layer, GC and CLI. All methods are blocking."""

    def __init__(self, db: Database, blobs: BlobStore, limits: Limits) -> None:
        self.db = db
        self.blobs = blobs
        self.limits = limits

    # repositories
    def _repo(self, s: Session, name: str) -> Repository | None:
        return s.scalars(select(Repository).where(Repository.name == name)).first()

    def _ensure_repo(self, s: Session, name: str) -> Repository:
        repo = self._repo(s, name)
        if repo is not None:
            return repo
        project = s.scalars(select(Project).where(Project.name == project_of(name))).first()
        if project is None:
            raise NotFoundError(f"project {project_of(name)!r} does not exist")
        _insert_ignore(
            s, Repository, {"project_id": project.id, "name": name, "created_at": time.time()}
        )
        repo = self._repo(s, name)
        assert repo is not None
        return repo

    def repository_exists(self, name: str) -> bool:
        with self.db.session() as s:
            return self._repo(s, name) is not None

    # blobs
    def blob_size(self, repository: str, digest: Digest) -> int | None:
        """Size of ``digest`` if it is visible in ``repository``."""
        with self.db.session() as s:
            row = s.execute(
                select(Blob.size)
                .join(RepoBlob, RepoBlob.digest == Blob.digest)
                .join(Repository, Repository.id == RepoBlob.repository_id)
                .where(Repository.name == repository, Blob.digest == digest)
            ).first()
        if row is None or self.blobs.stat(digest) is None:
            return None
        return int(row[0])

    def _link_blob(self, s: Session, repo: Repository, digest: str, size: int) -> None:
        now = time.time()
        _insert_ignore(s, Blob, {"digest": digest, "size": size, "created_at": now})
        _insert_ignore(s, RepoBlob, {"repository_id": repo.id, "digest": digest, "last_used": now})
        s.execute(
            update(RepoBlob)
            .where(RepoBlob.repository_id == repo.id, RepoBlob.digest == digest)
            .values(last_used=now)
        )

    def put_blob(self, repository: str, data: bytes) -> Digest:
        """Store small content made by Sealyard itself (an SBOM, a config) in ``repository``.

        The bytes are durable before the database links them, like an upload.
        """
        digest = sha256_digest(data)
        self.blobs.put(data, digest)
        with self.db.session() as s:
            self._link_blob(s, self._ensure_repo(s, repository), digest, len(data))
        return digest

    def mount_blob(self, target: str, source: str, digest: Digest) -> int | None:
        """Link a blob of ``source`` into ``target``; ``None`` when the source lacks it."""
        size = self.blob_size(source, digest)
        if size is None:
            return None
        with self.db.session() as s:
            self._link_blob(s, self._ensure_repo(s, target), digest, size)
        return size

    def unlink_blob(self, repository: str, digest: Digest) -> None:
        """Remove a blob from a repository (its bytes go at the next GC if unused)."""
        with self.db.session() as s:
            repo = self._repo(s, repository)
            if repo is None:
                raise BlobUnknownError(f"blob {digest} not in {repository}")
            user = s.execute(
                select(Manifest.digest)
                .join(ManifestRef, ManifestRef.manifest_id == Manifest.id)
                .where(Manifest.repository_id == repo.id, ManifestRef.child_digest == digest)
                .limit(1)
            ).first()
            if user is not None:
                raise ConflictError(f"blob {digest} is used by manifest {user[0]}")
            result = s.execute(
                delete(RepoBlob).where(RepoBlob.repository_id == repo.id, RepoBlob.digest == digest)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise BlobUnknownError(f"blob {digest} not in {repository}")

    # uploads
    def start_upload(self, repository: str, actor: str) -> str:
        with self.db.session() as s:
            self._ensure_repo(s, repository)
            upload_id = str(uuid.uuid4())
            self.blobs.create_upload(upload_id)
            s.add(Upload(id=upload_id, repository=repository, created_by=actor))
        return upload_id

    def check_upload(self, repository: str, upload_id: str) -> int:
        """Bytes received by an upload that belongs to ``repository``."""
        with self.db.session() as s:
            upload = s.get(Upload, upload_id[:64])
        if upload is None or upload.repository != repository:
            raise UploadUnknownError(f"upload {upload_id} unknown in {repository}")
        try:
            return self.blobs.upload_size(upload_id)
        except NotFoundError as exc:
            raise UploadUnknownError(f"upload {upload_id} has no data") from exc

    def finish_upload(self, repository: str, upload_id: str, digest: Digest) -> int:
        """Verify and publish an upload as ``digest`` in ``repository``; return its size."""
        self.check_upload(repository, upload_id)
        size = self.blobs.commit_upload(upload_id, digest, self.limits.max_blob_bytes)
        with self.db.session() as s:
            self._link_blob(s, self._ensure_repo(s, repository), digest, size)
            s.execute(delete(Upload).where(Upload.id == upload_id))
        return size

    def cancel_upload(self, repository: str, upload_id: str) -> None:
        self.check_upload(repository, upload_id)
        with self.db.session() as s:
            s.execute(delete(Upload).where(Upload.id == upload_id))
        self.blobs.delete_upload(upload_id)

    # manifests
    def resolve(self, repository: str, reference: str) -> ManifestRecord | None:
        with self.db.session() as s:
            repo = self._repo(s, repository)
            if repo is None:
                return None
            if is_digest(reference):
                digest = reference
            else:
                tag = s.get(Tag, (repo.id, reference))
                if tag is None:
                    return None
                digest = tag.digest
            m = s.scalars(
                select(Manifest).where(Manifest.repository_id == repo.id, Manifest.digest == digest)
            ).first()
            if m is None:
                return None
            return ManifestRecord(Digest(m.digest), m.media_type, m.size)

    def read_manifest(self, repository: str, reference: str) -> tuple[ManifestRecord, bytes]:
        record = self.resolve(repository, reference)
        if record is None:
            raise ManifestUnknownError(f"manifest {reference} not found in {repository}")
        with self.blobs.open(record.digest) as fh:
            data = fh.read(self.limits.max_manifest_bytes + 1)
        if sha256_digest(data) != record.digest and record.digest.startswith("sha256:"):
            raise ManifestInvalidError(f"stored manifest {record.digest} is corrupt")
        return record, data

    def put_manifest(
        self,
        repository: str,
        reference: str,
        raw: bytes,
        content_type: str | None,
        *,
        actor: str,
        remote_addr: str = "",
    ) -> ParsedManifest:
        """Validate and store a manifest; tag it when ``reference`` is a tag.

        Raises:
            ManifestInvalidError / SizeLimitError: the manifest is rejected.
            ManifestBlobUnknownError: it references content absent from the repository.
            InvalidReferenceError: a digest reference does not match the content.
        """
        parsed = parse_manifest(
            raw,
            content_type,
            max_bytes=self.limits.max_manifest_bytes,
            max_depth=self.limits.max_json_depth,
        )
        tag: str | None = None
        if is_digest(reference):
            claimed = parse_digest(reference)
            hasher = new_hasher(claimed)  # verify with the URL's algorithm, not only sha256
            hasher.update(raw)
            if hasher.hexdigest() != hex_of(claimed):
                raise InvalidReferenceError(
                    f"manifest digest is {parsed.digest}, not {claimed} as the URL says"
                )
        else:
            tag = validate_tag(reference)
        self.blobs.put(raw, parsed.digest)
        for attempt in range(3):
            try:
                self._commit_manifest(repository, tag, parsed, actor, remote_addr)
                break
            except IntegrityError:
                # A concurrent push of the same manifest or tag committed first; the next
                # attempt sees its rows (they are identical, or the tag moves as it would).
                if attempt == 2:
                    raise
        return parsed

    def _commit_manifest(
        self,
        repository: str,
        tag: str | None,
        parsed: ParsedManifest,
        actor: str,
        remote_addr: str,
    ) -> None:
        with self.db.session() as s:
            repo = self._ensure_repo(s, repository)
            missing = self._missing_references(s, repo, parsed)
            if missing:
                raise ManifestBlobUnknownError(
                    f"manifest references unknown content: {', '.join(missing[:5])}", missing
                )
            existing = s.scalars(
                select(Manifest).where(
                    Manifest.repository_id == repo.id, Manifest.digest == parsed.digest
                )
            ).first()
            now = time.time()
            if existing is None:
                _insert_ignore(
                    s, Blob, {"digest": parsed.digest, "size": parsed.size, "created_at": now}
                )
                manifest = Manifest(
                    repository_id=repo.id,
                    digest=parsed.digest,
                    media_type=parsed.media_type,
                    size=parsed.size,
                    artifact_type=parsed.referrer_artifact_type,
                    subject_digest=parsed.subject.digest if parsed.subject else None,
                    annotations=parsed.annotations,
                )
                s.add(manifest)
                s.flush()
                refs = {(d.digest, "blob") for d in parsed.required_blobs}
                refs |= {(d.digest, "manifest") for d in parsed.manifests}
                for child, kind in sorted(refs):
                    s.add(ManifestRef(manifest_id=manifest.id, child_digest=child, kind=kind))
                for child, kind in refs:
                    if kind == "blob":
                        s.execute(
                            update(RepoBlob)
                            .where(RepoBlob.repository_id == repo.id, RepoBlob.digest == child)
                            .values(last_used=now)
                        )
            previous = None
            if tag is not None:
                row = s.get(Tag, (repo.id, tag))
                if row is None:
                    s.add(Tag(repository_id=repo.id, name=tag, digest=parsed.digest))
                else:
                    previous = row.digest
                    row.digest = parsed.digest
                    row.updated_at = now
            AuditLog.add(
                s,
                actor,
                "push",
                f"{repository}@{parsed.digest}",
                remote_addr=remote_addr,
                tag=tag,
                media_type=parsed.media_type,
                previous=previous,
            )
            jobs.enqueue(
                s,
                "image.pushed",
                {
                    "repository": repository,
                    "digest": parsed.digest,
                    "media_type": parsed.media_type,
                    "tag": tag,
                    "subject": parsed.subject.digest if parsed.subject else None,
                    "artifact_type": parsed.referrer_artifact_type,
                    "actor": actor,
                },
            )

    def _missing_references(
        self, s: Session, repo: Repository, parsed: ParsedManifest
    ) -> list[str]:
        """Referenced content absent from the repository.

        Raises:
            ManifestInvalidError: a descriptor's size contradicts the stored content's size
                (clients would fail verification on pull).
        """
        wanted: dict[str, int] = {d.digest: d.size for d in parsed.required_blobs}
        present = (
            dict(
                s.execute(
                    select(RepoBlob.digest, Blob.size)
                    .join(Blob, Blob.digest == RepoBlob.digest)
                    .where(RepoBlob.repository_id == repo.id, RepoBlob.digest.in_(wanted))
                ).all()
            )
            if wanted
            else {}
        )
        children: dict[str, int] = {d.digest: d.size for d in parsed.manifests}
        if children:
            present.update(
                s.execute(
                    select(Manifest.digest, Manifest.size).where(
                        Manifest.repository_id == repo.id, Manifest.digest.in_(children)
                    )
                ).all()
            )
        for digest, size in {**wanted, **children}.items():
            if digest in present and present[digest] != size:
                raise ManifestInvalidError(
                    f"descriptor of {digest} says {size} bytes but the stored content has "
                    f"{present[digest]}"
                )
        return sorted(set(wanted) - set(present)) + sorted(set(children) - set(present))

    def delete_manifest(
        self, repository: str, reference: str, *, actor: str, remote_addr: str = ""
    ) -> None:
        """Delete a tag (reference is a tag) or a manifest and every tag pointing at it."""
        with self.db.session() as s:
            repo = self._repo(s, repository)
            if repo is None:
                raise ManifestUnknownError(f"{reference} not found in {repository}")
            if not is_digest(reference):
                result = s.execute(
                    delete(Tag).where(Tag.repository_id == repo.id, Tag.name == reference)
                )
                if not result.rowcount:  # type: ignore[attr-defined]
                    raise ManifestUnknownError(f"tag {reference} not found in {repository}")
                AuditLog.add(
                    s, actor, "delete", f"{repository}:{reference}", remote_addr=remote_addr
                )
                return
            manifest = s.scalars(
                select(Manifest).where(
                    Manifest.repository_id == repo.id, Manifest.digest == reference
                )
            ).first()
            if manifest is None:
                raise ManifestUnknownError(f"manifest {reference} not found in {repository}")
            parent = s.execute(
                select(Manifest.digest)
                .join(ManifestRef, ManifestRef.manifest_id == Manifest.id)
                .where(
                    Manifest.repository_id == repo.id,
                    ManifestRef.child_digest == reference,
                    ManifestRef.kind == "manifest",
                )
                .limit(1)
            ).first()
            if parent is not None:
                raise ConflictError(
                    f"manifest {reference} is part of index {parent[0]}; delete the index first"
                )
            s.execute(delete(Tag).where(Tag.repository_id == repo.id, Tag.digest == reference))
            s.delete(manifest)
            AuditLog.add(s, actor, "delete", f"{repository}@{reference}", remote_addr=remote_addr)

    # listings
    def list_tags(self, repository: str, n: int | None, last: str | None) -> list[str] | None:
        with self.db.session() as s:
            repo = self._repo(s, repository)
            if repo is None:
                return None
            stmt = select(Tag.name).where(Tag.repository_id == repo.id).order_by(Tag.name)
            if last:
                stmt = stmt.where(Tag.name > last)
            if n is not None:
                stmt = stmt.limit(n)
            return list(s.scalars(stmt))

    def list_repositories(self, n: int | None, last: str | None) -> list[tuple[str, str]]:
        """``(repository, project)`` pairs in name order."""
        with self.db.session() as s:
            stmt = (
                select(Repository.name, Project.name)
                .join(Project, Project.id == Repository.project_id)
                .order_by(Repository.name)
            )
            if last:
                stmt = stmt.where(Repository.name > last)
            if n is not None:
                stmt = stmt.limit(n)
            return [(r, p) for r, p in s.execute(stmt)]

    def referrers(
        self, repository: str, subject: Digest, artifact_type: str | None
    ) -> list[dict[str, Any]]:
        with self.db.session() as s:
            repo = self._repo(s, repository)
            if repo is None:
                return []
            stmt = (
                select(Manifest)
                .where(Manifest.repository_id == repo.id, Manifest.subject_digest == subject)
                .order_by(Manifest.created_at, Manifest.id)
            )
            if artifact_type:
                stmt = stmt.where(Manifest.artifact_type == artifact_type)
            out = []
            for m in s.scalars(stmt):
                entry: dict[str, Any] = {
                    "mediaType": m.media_type,
                    "digest": m.digest,
                    "size": m.size,
                }
                if m.artifact_type:
                    entry["artifactType"] = m.artifact_type
                if m.annotations:
                    entry["annotations"] = m.annotations
                out.append(entry)
            return out

    def count(self) -> dict[str, int]:
        with self.db.session() as s:
            return {
                "repositories": s.scalar(select(func.count()).select_from(Repository)) or 0,
                "manifests": s.scalar(select(func.count()).select_from(Manifest)) or 0,
                "blobs": s.scalar(select(func.count()).select_from(Blob)) or 0,
            }
