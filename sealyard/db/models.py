"""SQLAlchemy models of the metadata database.

Times are UTC epoch seconds (``float``): portable between SQLite and PostgreSQL and free of
time-zone ambiguity. Every schema change comes with an Alembic migration.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AdvisorySource",
    "AffectedPackage",
    "Alert",
    "AuditEvent",
    "Base",
    "Blob",
    "ImageScan",
    "InventoryPackage",
    "Job",
    "Manifest",
    "ManifestRef",
    "Member",
    "PackageMatch",
    "Project",
    "RepoBlob",
    "Repository",
    "Robot",
    "ScanPackage",
    "Tag",
    "Upload",
    "User",
    "VulnAlias",
    "Vulnerability",
    "Webhook",
    "table_of",
]


def table_of(model: type[Base]) -> Table:
    """The Core table of ``model``, for bulk inserts that skip the ORM's per-row work."""
    return Base.metadata.tables[model.__tablename__]


def now() -> float:
    return time.time()


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class Member(Base):
    __tablename__ = "members"
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32))


class Robot(Base):
    """A robot account. ``permissions`` maps project name to a list of actions."""

    __tablename__ = "robots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    permissions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[float | None] = mapped_column(Float)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[float] = mapped_column(Float, default=now)


class Repository(Base):
    __tablename__ = "repositories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class Blob(Base):
    __tablename__ = "blobs"
    digest: Mapped[str] = mapped_column(String(140), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class RepoBlob(Base):
    """A blob made visible in a repository (by upload, mount or manifest push)."""

    __tablename__ = "repo_blobs"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"), primary_key=True)
    last_used: Mapped[float] = mapped_column(Float, default=now)


class Manifest(Base):
    __tablename__ = "manifests"
    __table_args__ = (
        UniqueConstraint("repository_id", "digest"),
        Index("ix_manifests_subject", "repository_id", "subject_digest"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"))
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    artifact_type: Mapped[str | None] = mapped_column(String(255))
    subject_digest: Mapped[str | None] = mapped_column(String(140))
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class ManifestRef(Base):
    """What a manifest points to: ``kind`` is ``blob`` or ``manifest``."""

    __tablename__ = "manifest_refs"
    __table_args__ = (Index("ix_manifest_refs_child", "child_digest"),)
    manifest_id: Mapped[int] = mapped_column(
        ForeignKey("manifests.id", ondelete="CASCADE"), primary_key=True
    )
    child_digest: Mapped[str] = mapped_column(String(140), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)


class Tag(Base):
    __tablename__ = "tags"
    repository_id: Mapped[int] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    digest: Mapped[str] = mapped_column(String(140))
    updated_at: Mapped[float] = mapped_column(Float, default=now)


class Upload(Base):
    __tablename__ = "uploads"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    repository: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[float] = mapped_column(Float, default=now)


class AuditEvent(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_ts", "ts"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[float] = mapped_column(Float, default=now)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(512))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Job(Base):
    """A unit of background work; workers claim rows (``SKIP LOCKED`` on PostgreSQL)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "run_after"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[float] = mapped_column(Float, default=now)
    locked_by: Mapped[str | None] = mapped_column(String(128))
    locked_until: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class Vulnerability(Base):
    """One advisory (OSV record) as imported; ``raw`` is the document exactly as received.

    A withdrawn record is kept (``withdrawn`` set) but has no ``affected_packages`` rows, so
    it never matches.
    """

    __tablename__ = "vulnerabilities"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    modified: Mapped[float] = mapped_column(Float)
    published: Mapped[float | None] = mapped_column(Float)
    withdrawn: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text, default="")
    severity: Mapped[list[Any]] = mapped_column(default=list)
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[str] = mapped_column(String(128), index=True)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    imported_at: Mapped[float] = mapped_column(Float, default=now)


class VulnAlias(Base):
    """Identifier (own id or alias: CVE, GHSA, PYSEC, GO, RUSTSEC …) → its alias group.

    ``vulnerability_id`` is the group's representative: the smallest record id of the group.
    Records sharing any identifier are in one group; groups only ever merge.
    """

    __tablename__ = "vuln_aliases"
    alias: Mapped[str] = mapped_column(String(128), primary_key=True)
    vulnerability_id: Mapped[str] = mapped_column(String(128), index=True)


class AffectedPackage(Base):
    """A package an advisory names: OSV ecosystem (``PyPI``, ``Debian:12``) and name.

    PyPI names are PEP 503-normalised; other names are stored as written.
    """

    __tablename__ = "affected_packages"
    __table_args__ = (Index("ix_affected_packages_lookup", "ecosystem", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vulnerability_id: Mapped[str] = mapped_column(
        ForeignKey("vulnerabilities.id", ondelete="CASCADE"), index=True
    )
    ecosystem: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(512))


class AdvisorySource(Base):
    """Bookkeeping per imported advisory source."""

    __tablename__ = "advisory_sources"
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_import: Mapped[float | None] = mapped_column(Float)
    records: Mapped[int] = mapped_column(Integer, default=0)
    newest_modified: Mapped[float | None] = mapped_column(Float)


# -- monitoring: stored SBOMs as an index of advisory coordinates, matches, alerts -----------


class ImageScan(Base):
    """The stored scan of one image manifest in one repository.

    The SBOM itself lives in the registry, attached to the image as an OCI referrer
    (``sbom_digest`` names that referrer manifest); its packages are indexed in
    ``scan_packages`` so advisories can be re-matched without reading images again.
    """

    __tablename__ = "image_scans"
    __table_args__ = (UniqueConstraint("repository", "digest"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(140))
    status: Mapped[str] = mapped_column(String(16))  # ok | failed
    error: Mapped[str | None] = mapped_column(Text)
    distro: Mapped[str | None] = mapped_column(String(128))
    sbom_digest: Mapped[str | None] = mapped_column(String(140))
    packages: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[list[Any]] = mapped_column(default=list)
    scanned_at: Mapped[float] = mapped_column(Float, default=now)


class InventoryPackage(Base):
    """One distinct advisory coordinate (ecosystem, name, version) found in stored SBOMs.

    Matching is a property of the coordinate, not of the image: it is evaluated once per
    coordinate (``package_matches``) and fanned out to every scan that contains it.
    """

    __tablename__ = "inventory_packages"
    __table_args__ = (
        UniqueConstraint("ecosystem", "name", "version"),
        Index("ix_inventory_packages_lookup", "name", "ecosystem"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ecosystem: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(512))
    version: Mapped[str] = mapped_column(String(255))
    scheme: Mapped[str] = mapped_column(String(16))


class ScanPackage(Base):
    """A package of a stored scan (its purl) and the advisory coordinate it maps to."""

    __tablename__ = "scan_packages"
    __table_args__ = (
        Index("ix_scan_packages_scan", "scan_id"),
        Index("ix_scan_packages_package", "package_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("image_scans.id", ondelete="CASCADE"))
    package_id: Mapped[int] = mapped_column(ForeignKey("inventory_packages.id", ondelete="CASCADE"))
    purl: Mapped[str] = mapped_column(Text)


class PackageMatch(Base):
    """An advisory that affects an inventory coordinate, as last evaluated."""

    __tablename__ = "package_matches"
    __table_args__ = (Index("ix_package_matches_vulnerability", "vulnerability_id"),)
    package_id: Mapped[int] = mapped_column(
        ForeignKey("inventory_packages.id", ondelete="CASCADE"), primary_key=True
    )
    vulnerability_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    fixed: Mapped[list[Any]] = mapped_column(default=list)
    rating: Mapped[str] = mapped_column(String(16), default="UNKNOWN")
    score: Mapped[float | None] = mapped_column(Float)
    fix_state: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[float] = mapped_column(Float, default=now)


class Alert(Base):
    """A change in an image's findings: ``kind`` is ``new``, ``changed`` or ``resolved``.

    Alerts are append-only; webhooks deliver them in id order from a per-webhook cursor.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_ts", "ts"),
        Index("ix_alerts_repository", "repository", "digest"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[float] = mapped_column(Float, default=now)
    kind: Mapped[str] = mapped_column(String(16))
    project: Mapped[str] = mapped_column(String(64))
    repository: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(140))
    vulnerability_id: Mapped[str] = mapped_column(String(128))
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    package: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rating: Mapped[str] = mapped_column(String(16), default="UNKNOWN")
    score: Mapped[float | None] = mapped_column(Float)
    fixed: Mapped[list[Any]] = mapped_column(default=list)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Webhook(Base):
    """A receiver of alerts: JSON POSTs signed with HMAC-SHA256 of ``secret``.

    ``cursor`` is the id of the last alert delivered (or filtered out); delivery resumes
    from it after a restart, so alerts are delivered at least once and in order.
    """

    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret: Mapped[str] = mapped_column(String(255))
    project: Mapped[str | None] = mapped_column(String(64))
    min_rating: Mapped[str] = mapped_column(String(16), default="UNKNOWN")
    kinds: Mapped[list[Any]] = mapped_column(default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_delivery: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float, default=now)
