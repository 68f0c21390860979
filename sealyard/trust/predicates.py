"""The predicates Sealyard signs: SLSA provenance v1, scan results, stage approvals.

Each predicate is a frozen model with ``to_dict`` (what is signed) and ``from_dict`` (strict
validation of a verified statement's predicate; unknown fields are ignored, as the in-toto
parsing rules require). Every one carries one **timestamp** a verifier can use for max-age:

=================================  ==============================  =========================
predicateType                      timestamp field                 stage
=================================  ==============================  =========================
``https://slsa.dev/provenance/v1`` ``runDetails.metadata.finishedOn``  ``build``
``…/attestations/scan/v1``         ``scannedAt``                   ``scan``
``…/attestations/approval/v1``     ``approvedAt``                  the predicate's ``stage``
=================================  ==============================  =========================

The stage an attestation counts for is taken from the *signed* predicate (:func:`stage_of`),
never from the unsigned ``dev.sealyard.stage`` annotation, which only helps filtering.
Timestamps are RFC 3339 with a zone; Sealyard writes UTC ``YYYY-MM-DDTHH:MM:SSZ``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from sealyard.errors import InvalidDigestError, VerificationError
from sealyard.oci.digest import Digest, parse_digest
from sealyard.trust.statement import Statement, check_digest_set, check_uri

__all__ = [
    "APPROVAL_V1",
    "MAX_FINDINGS",
    "RESERVED_STAGES",
    "SCAN_V1",
    "SEVERITIES",
    "SLSA_PROVENANCE_V1",
    "STAGE_PARAMETER",
    "Approval",
    "DatabaseSource",
    "Predicate",
    "Provenance",
    "ScanResult",
    "check_stage",
    "format_time",
    "parse_predicate",
    "parse_time",
    "stage_of",
]

SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
SCAN_V1 = "https://sealyard.dev/attestations/scan/v1"
APPROVAL_V1 = "https://sealyard.dev/attestations/approval/v1"
#: ``buildDefinition.internalParameters`` key naming the stage a provenance attests.
STAGE_PARAMETER = "sealyard.dev/stage"

#: Severity buckets of a scan summary, all required.
SEVERITIES = ("critical", "high", "medium", "low", "unknown")
#: Most finding ids a scan predicate lists; the rest are cut and ``findingsTruncated`` set.
MAX_FINDINGS = 10_000
#: Most resolved dependencies (and database sources) a predicate may list.
MAX_LIST = 10_000
#: Stage names taken by the provenance and scan predicates.
RESERVED_STAGES = frozenset({"build", "scan"})

_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$")
_STAGE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_FINDING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+/-]{0,127}$")
_MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
    r"(?:\s*;\s*[A-Za-z0-9_.+-]+=[A-Za-z0-9_.+\"-]+)*$"
)


# ----------------------------------------------------------------------------- field helpers


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with second precision: ``2024-03-08T18:18:20Z``.

    Raises:
        ValueError: ``moment`` is naive (no zone): its meaning would be a guess.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, where: str) -> datetime:
    """An RFC 3339 timestamp with a zone, as an aware UTC datetime.

    Raises:
        VerificationError: not such a timestamp.
    """
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise VerificationError(f"{where} must be an RFC 3339 timestamp with a zone")
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise VerificationError(f"{where}: {exc}") from exc


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VerificationError(f"{where} must be an object")
    return value


def _text(value: Any, where: str, max_length: int = 256, *, empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > max_length or (not value and not empty):
        raise VerificationError(
            f"{where} must be a {'' if empty else 'non-empty '}string of at most "
            f"{max_length} characters"
        )
    if any((ord(c) < 0x20 and c not in "\n\t") or ord(c) == 0x7F for c in value):
        raise VerificationError(f"{where} contains control characters")
    return value


def _aware(moment: Any, where: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise VerificationError(f"{where} must be a timezone-aware datetime")
    return moment


def _count(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise VerificationError(f"{where} must be a non-negative integer")
    return value


def _list(value: Any, where: str, limit: int = MAX_LIST) -> list[Any]:
    if not isinstance(value, list):
        raise VerificationError(f"{where} must be a list")
    if len(value) > limit:
        raise VerificationError(f"{where} lists more than {limit} entries")
    return value


def _digest(value: Any, where: str) -> Digest:
    try:
        return parse_digest(value)
    except InvalidDigestError as exc:
        raise VerificationError(f"{where}: {exc}") from exc


def _resource_descriptor(value: Any, where: str) -> dict[str, Any]:
    """An in-toto ResourceDescriptor: needs at least one of uri, digest, content."""
    item = _object(value, where)
    if not any(k in item for k in ("uri", "digest", "content")):
        raise VerificationError(f"{where} needs a uri, digest or content")
    if "uri" in item:
        check_uri(item["uri"], f"{where}.uri")
    if "digest" in item:
        check_digest_set(item["digest"], f"{where}.digest")
    for name in ("name", "mediaType"):
        if name in item:
            _text(item[name], f"{where}.{name}", 1024)
    if "downloadLocation" in item:
        check_uri(item["downloadLocation"], f"{where}.downloadLocation")
    if "content" in item and not isinstance(item["content"], str):
        raise VerificationError(f"{where}.content must be base64 text")
    if "annotations" in item:
        _object(item["annotations"], f"{where}.annotations")
    return item


def check_stage(value: Any, where: str = "stage") -> str:
    if not isinstance(value, str) or not _STAGE.fullmatch(value):
        raise VerificationError(
            f"{where} must be 1-64 of a-z 0-9 . _ - starting with a letter or digit"
        )
    return value


# ----------------------------------------------------------------------------- SLSA provenance


@dataclass(frozen=True)
class Provenance:
    """SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance).

    Sealyard requires ``runDetails.metadata.finishedOn`` (the max-age timestamp), which SLSA
    leaves optional.
    """

    predicate_type: ClassVar[str] = SLSA_PROVENANCE_V1

    build_type: str
    external_parameters: Mapping[str, Any]
    builder_id: str
    finished_on: datetime
    started_on: datetime | None = None
    invocation_id: str = ""
    internal_parameters: Mapping[str, Any] = field(default_factory=dict)
    resolved_dependencies: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        check_uri(self.build_type, "buildDefinition.buildType")
        check_uri(self.builder_id, "runDetails.builder.id")
        _object(self.external_parameters, "buildDefinition.externalParameters")
        _object(dict(self.internal_parameters), "buildDefinition.internalParameters")
        _text(self.invocation_id, "runDetails.metadata.invocationId", 1024, empty=True)
        if len(self.resolved_dependencies) > MAX_LIST:
            raise VerificationError(f"resolvedDependencies lists more than {MAX_LIST} entries")
        for i, dep in enumerate(self.resolved_dependencies):
            _resource_descriptor(dep, f"buildDefinition.resolvedDependencies[{i}]")
        _aware(self.finished_on, "finishedOn")
        if self.started_on is not None:
            _aware(self.started_on, "startedOn")
        if self.started_on is not None and self.started_on > self.finished_on:
            raise VerificationError("the build finished before it started")
        named = self.internal_parameters.get(STAGE_PARAMETER)
        if named is not None and (check_stage(named, STAGE_PARAMETER) == "scan"):
            raise VerificationError("provenance cannot attest the scan stage")

    @property
    def timestamp(self) -> datetime:
        return self.finished_on

    @property
    def stage(self) -> str:
        """``build``, or the stage named by the signed ``internalParameters`` entry
        :data:`STAGE_PARAMETER` (a pipeline calling its build stage ``ci``)."""
        named = self.internal_parameters.get(STAGE_PARAMETER)
        return "build" if named is None else check_stage(named, STAGE_PARAMETER)

    def to_dict(self) -> dict[str, Any]:
        build: dict[str, Any] = {
            "buildType": self.build_type,
            "externalParameters": dict(self.external_parameters),
        }
        if self.internal_parameters:
            build["internalParameters"] = dict(self.internal_parameters)
        if self.resolved_dependencies:
            build["resolvedDependencies"] = [dict(d) for d in self.resolved_dependencies]
        metadata: dict[str, Any] = {"finishedOn": format_time(self.finished_on)}
        if self.invocation_id:
            metadata["invocationId"] = self.invocation_id
        if self.started_on is not None:
            metadata["startedOn"] = format_time(self.started_on)
        return {
            "buildDefinition": build,
            "runDetails": {"builder": {"id": self.builder_id}, "metadata": metadata},
        }

    @classmethod
    def from_dict(cls, doc: Any) -> Provenance:
        """Raises: VerificationError."""
        doc = _object(doc, "predicate")
        build = _object(doc.get("buildDefinition"), "buildDefinition")
        run = _object(doc.get("runDetails"), "runDetails")
        builder = _object(run.get("builder"), "runDetails.builder")
        metadata = _object(run.get("metadata"), "runDetails.metadata")
        deps = _list(build.get("resolvedDependencies", []), "resolvedDependencies")
        started = metadata.get("startedOn")
        return cls(
            build_type=check_uri(build.get("buildType"), "buildDefinition.buildType"),
            external_parameters=_object(
                build.get("externalParameters"), "buildDefinition.externalParameters"
            ),
            internal_parameters=_object(
                build.get("internalParameters", {}), "buildDefinition.internalParameters"
            ),
            resolved_dependencies=tuple(deps),
            builder_id=check_uri(builder.get("id"), "runDetails.builder.id"),
            invocation_id=metadata.get("invocationId", ""),
            started_on=None if started is None else parse_time(started, "startedOn"),
            finished_on=parse_time(metadata.get("finishedOn"), "runDetails.metadata.finishedOn"),
        )


# ----------------------------------------------------------------------------- scan results


@dataclass(frozen=True)
class DatabaseSource:
    """One advisory source the scan matched against, and how fresh it was."""

    name: str
    updated_at: datetime

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "updatedAt": format_time(self.updated_at)}


@dataclass(frozen=True)
class ScanResult:
    """What a vulnerability scan of the image found (``https://sealyard.dev/attestations/scan/v1``).

    ``findings`` are advisory ids (``CVE-…``, ``GHSA-…``), sorted, unique, at most
    :data:`MAX_FINDINGS`; :meth:`build` cuts longer lists and sets ``findings_truncated``.
    """

    predicate_type: ClassVar[str] = SCAN_V1
    stage: ClassVar[str] = "scan"

    scanner_name: str
    scanner_version: str
    sources: tuple[DatabaseSource, ...]
    sbom_digest: Digest
    sbom_media_type: str
    summary: Mapping[str, int]
    findings: tuple[str, ...]
    scanned_at: datetime
    findings_truncated: bool = False
    #: Severity bucket of each listed finding (optional); lets a policy subtract an
    #: allowlisted finding from the right count.
    finding_ratings: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _text(self.scanner_name, "scanner.name")
        _text(self.scanner_version, "scanner.version")
        if len(self.sources) > MAX_LIST:
            raise VerificationError(f"database.sources lists more than {MAX_LIST} entries")
        for i, source in enumerate(self.sources):
            _text(source.name, f"database.sources[{i}].name")
            _aware(source.updated_at, f"database.sources[{i}].updatedAt")
        _aware(self.scanned_at, "scannedAt")
        _digest(self.sbom_digest, "sbom.digest")
        if not isinstance(self.sbom_media_type, str) or not _MEDIA_TYPE.fullmatch(
            self.sbom_media_type
        ):
            raise VerificationError(f"sbom.mediaType {self.sbom_media_type!r:.80} is invalid")
        if not isinstance(self.summary, Mapping) or set(self.summary) != set(SEVERITIES):
            raise VerificationError(f"summary must count exactly {', '.join(SEVERITIES)}")
        for severity in SEVERITIES:
            _count(self.summary[severity], f"summary.{severity}")
        if len(self.findings) > MAX_FINDINGS:
            raise VerificationError(f"findings lists more than {MAX_FINDINGS} ids")
        for finding in self.findings:
            if not isinstance(finding, str) or not _FINDING.fullmatch(finding):
                raise VerificationError(f"finding id {finding!r:.80} is invalid")
        if list(self.findings) != sorted(set(self.findings)):
            raise VerificationError("findings must be sorted and unique")
        if not isinstance(self.findings_truncated, bool):
            raise VerificationError("findingsTruncated must be a boolean")
        if not isinstance(self.finding_ratings, Mapping):
            raise VerificationError("findingRatings must be an object")
        listed = set(self.findings)
        for ident, rating in self.finding_ratings.items():
            if ident not in listed:
                raise VerificationError(f"findingRatings names {ident!r:.80}, not a listed finding")
            if rating not in SEVERITIES:
                raise VerificationError(f"findingRatings[{ident!r:.80}] is not a severity")

    @property
    def timestamp(self) -> datetime:
        return self.scanned_at

    @classmethod
    def build(
        cls,
        *,
        scanner_name: str,
        scanner_version: str,
        sources: Iterable[DatabaseSource],
        sbom_digest: str,
        sbom_media_type: str,
        summary: Mapping[str, int],
        findings: Iterable[str],
        scanned_at: datetime,
        ratings: Mapping[str, str] | None = None,
    ) -> ScanResult:
        """A scan result with findings sorted, de-duplicated and cut to :data:`MAX_FINDINGS`.

        Missing severities in ``summary`` count zero; ``ratings`` maps finding ids to their
        severity bucket (``critical`` … ``unknown``).
        """
        unique = sorted(set(findings))
        kept = unique[:MAX_FINDINGS]
        return cls(
            scanner_name=scanner_name,
            scanner_version=scanner_version,
            sources=tuple(sorted(sources, key=lambda s: s.name)),
            sbom_digest=Digest(sbom_digest),
            sbom_media_type=sbom_media_type,
            summary={s: summary.get(s, 0) for s in SEVERITIES},
            findings=tuple(kept),
            findings_truncated=len(unique) > MAX_FINDINGS,
            scanned_at=scanned_at,
            finding_ratings={i: ratings[i] for i in kept if ratings and i in ratings},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "scanner": {"name": self.scanner_name, "version": self.scanner_version},
            "database": {"sources": [s.to_dict() for s in self.sources]},
            "sbom": {"digest": self.sbom_digest, "mediaType": self.sbom_media_type},
            "summary": {s: self.summary[s] for s in SEVERITIES},
            "findings": list(self.findings),
            "findingsTruncated": self.findings_truncated,
            "scannedAt": format_time(self.scanned_at),
            **({"findingRatings": dict(self.finding_ratings)} if self.finding_ratings else {}),
        }

    @classmethod
    def from_dict(cls, doc: Any) -> ScanResult:
        """Raises: VerificationError."""
        doc = _object(doc, "predicate")
        scanner = _object(doc.get("scanner"), "scanner")
        database = _object(doc.get("database"), "database")
        sbom = _object(doc.get("sbom"), "sbom")
        summary = _object(doc.get("summary"), "summary")
        sources = []
        for i, raw in enumerate(_list(database.get("sources"), "database.sources")):
            item = _object(raw, f"database.sources[{i}]")
            sources.append(
                DatabaseSource(
                    name=_text(item.get("name"), f"database.sources[{i}].name"),
                    updated_at=parse_time(
                        item.get("updatedAt"), f"database.sources[{i}].updatedAt"
                    ),
                )
            )
        findings = _list(doc.get("findings"), "findings", MAX_FINDINGS)
        return cls(
            scanner_name=_text(scanner.get("name"), "scanner.name"),
            scanner_version=_text(scanner.get("version"), "scanner.version"),
            sources=tuple(sources),
            sbom_digest=_digest(sbom.get("digest"), "sbom.digest"),
            sbom_media_type=_text(sbom.get("mediaType"), "sbom.mediaType"),
            summary=summary,
            findings=tuple(findings),
            findings_truncated=doc.get("findingsTruncated", False),
            scanned_at=parse_time(doc.get("scannedAt"), "scannedAt"),
            finding_ratings=_object(doc.get("findingRatings", {}), "findingRatings"),
        )


# ----------------------------------------------------------------------------- approvals


@dataclass(frozen=True)
class Approval:
    """A person's (or system's) approval of an image for a pipeline ``stage``."""

    predicate_type: ClassVar[str] = APPROVAL_V1

    stage: str
    approver: str
    approved_at: datetime
    comment: str = ""

    def __post_init__(self) -> None:
        check_stage(self.stage)
        if self.stage in RESERVED_STAGES:
            raise VerificationError(
                f"stage {self.stage!r} is attested by its own predicate, not by an approval"
            )
        _text(self.approver, "approver")
        _text(self.comment, "comment", 4096, empty=True)
        _aware(self.approved_at, "approvedAt")

    @property
    def timestamp(self) -> datetime:
        return self.approved_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "approver": self.approver,
            "comment": self.comment,
            "approvedAt": format_time(self.approved_at),
        }

    @classmethod
    def from_dict(cls, doc: Any) -> Approval:
        """Raises: VerificationError."""
        doc = _object(doc, "predicate")
        return cls(
            stage=check_stage(doc.get("stage")),
            approver=_text(doc.get("approver"), "approver"),
            comment=doc.get("comment", ""),
            approved_at=parse_time(doc.get("approvedAt"), "approvedAt"),
        )


# ----------------------------------------------------------------------------- dispatch

Predicate = Provenance | ScanResult | Approval

_PARSERS: Mapping[str, Any] = {
    SLSA_PROVENANCE_V1: Provenance.from_dict,
    SCAN_V1: ScanResult.from_dict,
    APPROVAL_V1: Approval.from_dict,
}


def parse_predicate(statement: Statement) -> Predicate:
    """The typed, validated predicate of a (verified) statement.

    Raises:
        VerificationError: unknown predicate type, or the predicate violates its schema.
    """
    parser = _PARSERS.get(statement.predicate_type)
    if parser is None:
        known = ", ".join(sorted(_PARSERS))
        raise VerificationError(
            f"unsupported predicateType {statement.predicate_type!r:.120} (known: {known})"
        )
    predicate: Predicate = parser(dict(statement.predicate))
    return predicate


def stage_of(predicate: Predicate) -> str:
    """The pipeline stage a predicate attests: ``build``, ``scan`` or the approval's stage."""
    return predicate.stage
