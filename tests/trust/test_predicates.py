"""Predicates: SLSA provenance v1, scan results, approvals — builders, round trips, the
timestamp every one carries, the stage it attests, and validation of hostile predicates."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from sealyard.errors import VerificationError
from sealyard.trust.predicates import (
    APPROVAL_V1,
    MAX_FINDINGS,
    SCAN_V1,
    SLSA_PROVENANCE_V1,
    Approval,
    DatabaseSource,
    Provenance,
    ScanResult,
    format_time,
    parse_predicate,
    parse_time,
    stage_of,
)
from sealyard.trust.statement import image_statement

T0 = datetime(2024, 3, 8, 18, 18, 20, tzinfo=UTC)
IMAGE = "sha256:" + hashlib.sha256(b"image").hexdigest()
SBOM = "sha256:" + hashlib.sha256(b"sbom").hexdigest()


def provenance() -> Provenance:
    return Provenance(
        build_type="https://sealyard.dev/buildtypes/buildkit/v1",
        external_parameters={"source": "git+https://example.com/app@refs/heads/main"},
        internal_parameters={"runner": "r1"},
        resolved_dependencies=(
            {"uri": "git+https://example.com/app", "digest": {"gitCommit": "a" * 40}},
            {"name": "base", "digest": {"sha256": "b" * 64}},
        ),
        builder_id="https://ci.example.com/builders/1",
        invocation_id="run-42",
        started_on=T0 - timedelta(minutes=5),
        finished_on=T0,
    )


def scan() -> ScanResult:
    return ScanResult.build(
        scanner_name="sealyard",
        scanner_version="0.1.0",
        sources=[
            DatabaseSource("osv", T0 - timedelta(hours=2)),
            DatabaseSource("debian", T0 - timedelta(hours=1)),
        ],
        sbom_digest=SBOM,
        sbom_media_type="application/vnd.cyclonedx+json",
        summary={"critical": 0, "high": 2, "low": 1},
        findings=["CVE-2024-0002", "GHSA-abcd-efgh-ijkl", "CVE-2024-0001", "CVE-2024-0002"],
        scanned_at=T0,
    )


def approval() -> Approval:
    return Approval(
        stage="qa", approver="alice@example.com", comment="LGTM\nship it", approved_at=T0
    )


def test_provenance_round_trip() -> None:
    made = provenance()
    doc = made.to_dict()
    assert doc["buildDefinition"]["buildType"] == "https://sealyard.dev/buildtypes/buildkit/v1"
    assert doc["runDetails"] == {
        "builder": {"id": "https://ci.example.com/builders/1"},
        "metadata": {
            "invocationId": "run-42",
            "startedOn": "2024-03-08T18:13:20Z",
            "finishedOn": "2024-03-08T18:18:20Z",
        },
    }
    assert Provenance.from_dict(doc) == made
    assert made.timestamp == T0
    assert stage_of(made) == "build"


def test_scan_round_trip_sorts_and_fills() -> None:
    made = scan()
    doc = made.to_dict()
    assert doc["findings"] == ["CVE-2024-0001", "CVE-2024-0002", "GHSA-abcd-efgh-ijkl"]
    assert doc["summary"] == {"critical": 0, "high": 2, "medium": 0, "low": 1, "unknown": 0}
    assert doc["database"]["sources"] == [
        {"name": "debian", "updatedAt": "2024-03-08T17:18:20Z"},
        {"name": "osv", "updatedAt": "2024-03-08T16:18:20Z"},
    ]
    assert doc["sbom"] == {"digest": SBOM, "mediaType": "application/vnd.cyclonedx+json"}
    assert doc["scannedAt"] == "2024-03-08T18:18:20Z"
    assert doc["findingsTruncated"] is False
    assert ScanResult.from_dict(doc) == made
    assert made.timestamp == T0
    assert stage_of(made) == "scan"


def test_scan_findings_are_bounded() -> None:
    many = [f"CVE-2024-{i:06d}" for i in range(MAX_FINDINGS + 5)]
    made = ScanResult.build(
        scanner_name="s",
        scanner_version="1",
        sources=[],
        sbom_digest=SBOM,
        sbom_media_type="application/spdx+json",
        summary={},
        findings=reversed(many),
        scanned_at=T0,
    )
    assert len(made.findings) == MAX_FINDINGS
    assert made.findings[0] == "CVE-2024-000000"
    assert made.findings_truncated is True
    doc = made.to_dict()
    assert ScanResult.from_dict(doc).findings_truncated is True
    doc["findings"] = many
    with pytest.raises(VerificationError, match="more than"):
        ScanResult.from_dict(doc)


def test_approval_round_trip() -> None:
    made = approval()
    assert made.to_dict() == {
        "stage": "qa",
        "approver": "alice@example.com",
        "comment": "LGTM\nship it",
        "approvedAt": "2024-03-08T18:18:20Z",
    }
    assert Approval.from_dict(made.to_dict()) == made
    assert stage_of(made) == "qa"
    assert made.timestamp == T0


@pytest.mark.parametrize(
    ("predicate_type", "made"),
    [(SLSA_PROVENANCE_V1, provenance()), (SCAN_V1, scan()), (APPROVAL_V1, approval())],
)
def test_parse_predicate_dispatches_on_the_statement_type(predicate_type: str, made: Any) -> None:
    statement = image_statement("library/app", IMAGE, predicate_type, made.to_dict())
    assert parse_predicate(statement) == made
    assert made.predicate_type == predicate_type


def test_unknown_predicate_type() -> None:
    statement = image_statement("library/app", IMAGE, "https://example.com/other/v1", {})
    with pytest.raises(VerificationError, match="unsupported predicateType"):
        parse_predicate(statement)
    # a predicate of one type is not accepted as another
    wrong = image_statement("library/app", IMAGE, SCAN_V1, approval().to_dict())
    with pytest.raises(VerificationError):
        parse_predicate(wrong)


def test_unknown_predicate_fields_are_ignored() -> None:
    doc = approval().to_dict() | {"extension": {"x": 1}}
    assert Approval.from_dict(doc) == approval()
    prov = provenance().to_dict()
    prov["runDetails"]["byproducts"] = [{"uri": "https://logs"}]
    prov["runDetails"]["builder"]["version"] = {"ci": "1"}
    assert Provenance.from_dict(prov) == provenance()


def _mutate(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return out


_DELETE = object()

PROVENANCE_CASES = [
    ("buildDefinition", _DELETE),
    ("buildDefinition", "x"),
    ("buildDefinition.buildType", "not a uri"),
    ("buildDefinition.buildType", _DELETE),
    ("buildDefinition.externalParameters", _DELETE),
    ("buildDefinition.externalParameters", []),
    ("buildDefinition.internalParameters", "x"),
    ("buildDefinition.resolvedDependencies", {}),
    ("buildDefinition.resolvedDependencies", [{"name": "no-uri-digest-or-content"}]),
    ("buildDefinition.resolvedDependencies", [{"uri": "no scheme"}]),
    ("buildDefinition.resolvedDependencies", [{"digest": {"sha256": "short"}}]),
    ("buildDefinition.resolvedDependencies", ["x"]),
    ("runDetails.builder", _DELETE),
    ("runDetails.builder.id", 5),
    ("runDetails.metadata", _DELETE),
    ("runDetails.metadata.finishedOn", _DELETE),
    ("runDetails.metadata.finishedOn", "yesterday"),
    ("runDetails.metadata.finishedOn", "2024-03-08T18:18:20"),  # no zone
    ("runDetails.metadata.finishedOn", "2024-02-30T18:18:20Z"),
    ("runDetails.metadata.startedOn", "2024-03-09T00:00:00Z"),  # after finishedOn
    ("runDetails.metadata.invocationId", 42),
]


@pytest.mark.parametrize(("path", "value"), PROVENANCE_CASES)
def test_hostile_provenance(path: str, value: Any) -> None:
    with pytest.raises(VerificationError):
        Provenance.from_dict(_mutate(provenance().to_dict(), path, value))


SCAN_CASES = [
    ("scanner", _DELETE),
    ("scanner.name", ""),
    ("scanner.version", None),
    ("database.sources", "osv"),
    ("database.sources", [{"name": "osv"}]),
    ("database.sources", [{"name": "osv", "updatedAt": "soon"}]),
    ("sbom.digest", "sha256:abc"),
    ("sbom.digest", None),
    ("sbom.mediaType", "cyclonedx"),
    ("summary.high", -1),
    ("summary.high", True),
    ("summary.high", 1.5),
    ("summary.high", 2**40),
    ("summary.medium", _DELETE),
    ("summary.extra", 1),
    ("findings", ["CVE 2024 1"]),
    ("findings", ["b", "a"]),
    ("findings", ["a", "a"]),
    ("findings", [5]),
    ("findings", "CVE-1"),
    ("findingsTruncated", "no"),
    ("scannedAt", _DELETE),
    ("scannedAt", 1709921900),
]


@pytest.mark.parametrize(("path", "value"), SCAN_CASES)
def test_hostile_scan(path: str, value: Any) -> None:
    with pytest.raises(VerificationError):
        ScanResult.from_dict(_mutate(scan().to_dict(), path, value))


APPROVAL_CASES = [
    ("stage", _DELETE),
    ("stage", "QA"),
    ("stage", "build"),  # reserved: attested by provenance
    ("stage", "scan"),
    ("stage", "-qa"),
    ("stage", "q" * 65),
    ("approver", ""),
    ("approver", "a\x00b"),
    ("approver", "a" * 300),
    ("comment", "c" * 5000),
    ("comment", 5),
    ("approvedAt", "2024-03-08 18:18:20Z"),
]


@pytest.mark.parametrize(("path", "value"), APPROVAL_CASES)
def test_hostile_approval(path: str, value: Any) -> None:
    with pytest.raises(VerificationError):
        Approval.from_dict(_mutate(approval().to_dict(), path, value))


@pytest.mark.parametrize("predicate", ["x", [], None, 5])
def test_predicate_must_be_an_object(predicate: Any) -> None:
    for model in (Provenance, ScanResult, Approval):
        with pytest.raises(VerificationError):
            model.from_dict(predicate)


def test_times() -> None:
    assert parse_time("2024-03-08T18:18:20Z", "t") == T0
    assert parse_time("2024-03-08T19:18:20+01:00", "t") == T0
    assert parse_time("2024-03-08T18:18:20.123456Z", "t").microsecond == 123456
    assert parse_time("2024-03-08T18:18:20Z", "t").tzinfo == UTC
    for bad in ["2024-03-08", "2024-03-08T18:18:20", "2024-13-08T18:18:20Z", "", 5, None]:
        with pytest.raises(VerificationError):
            parse_time(bad, "t")
    assert format_time(T0.astimezone(timezone(timedelta(hours=-5)))) == "2024-03-08T18:18:20Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2024, 1, 1))
    with pytest.raises(VerificationError):
        Provenance(
            build_type="https://b",
            external_parameters={},
            builder_id="https://b",
            finished_on=datetime(2024, 1, 1),
        )
    with pytest.raises(VerificationError):
        Approval(stage="qa", approver="a", approved_at=datetime(2024, 1, 1))
    with pytest.raises(VerificationError):
        ScanResult.build(
            scanner_name="s",
            scanner_version="1",
            sources=[DatabaseSource("osv", datetime(2024, 1, 1))],
            sbom_digest=SBOM,
            sbom_media_type="application/spdx+json",
            summary={},
            findings=[],
            scanned_at=T0,
        )
