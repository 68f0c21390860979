"""Hand-built findings and scan reports shared by the report format tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sealyard.sbom.model import Package
from sealyard.vulndb.allowlist import parse_allowlist
from sealyard.vulndb.ecosystems import Coordinates
from sealyard.vulndb.matcher import Finding
from sealyard.vulndb.osv import OsvRecord
from sealyard.vulndb.report import ScanReport
from sealyard.vulndb.suppress import apply
from sealyard.vulndb.vex import parse_vex
from tests.sbom.formats import LIBC, MANIFEST_DIGEST, MAVEN, OPENSSL, REQUESTS_A, sample_sbom

NOW = datetime(2025, 1, 15, 12, tzinfo=UTC)
CRITICAL_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
MEDIUM_VECTOR = "CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N"


def finding(
    vuln: str,
    package: Package,
    *,
    aliases: tuple[str, ...] = (),
    rating: str = "UNKNOWN",
    vectors: tuple[str, ...] = (),
    fixed: tuple[str, ...] = (),
    fix_state: str | None = None,
    summary: str = "",
    score: float | None = None,
) -> Finding:
    severity: tuple[Mapping[str, str], ...] = tuple(
        {"type": "CVSS_V4" if v.startswith("CVSS:4") else "CVSS_V3", "score": v} for v in vectors
    )
    fields: dict[str, Any] = {
        "vulnerability": vuln,
        "aliases": aliases,
        "package": package,
        "coordinates": Coordinates("X", package.name, package.version, "semver"),
        "fixed": fixed,
        "summary": summary or f"{vuln} in {package.name}",
        "severity": severity,
        "fix_state": fix_state or ("fixed" if fixed else "unfixed"),
        "rating": rating,
        "cvss_score": score,
        "records": (vuln,),
    }
    return Finding(**fields)


FINDINGS = (
    # active, CRITICAL, fixable
    finding(
        "CVE-2024-0001",
        REQUESTS_A,
        aliases=("GHSA-jfh8-c2jp-5v3q",),
        rating="CRITICAL",
        vectors=(CRITICAL_VECTOR,),
        fixed=("2.32.0",),
        score=9.8,
    ),
    # suppressed by VEX (image product with this subcomponent)
    finding("CVE-2024-0002", OPENSSL, rating="HIGH", summary="TLS bug"),
    # suppressed by the allowlist
    finding("CVE-2024-0003", LIBC, rating="MEDIUM", vectors=(MEDIUM_VECTOR,), score=4.2),
    # active, VEX says affected (annotated + warning), no location path? MAVEN has one
    finding("GHSA-9999-8888-7777", MAVEN, rating="LOW", fix_state="will_not_fix"),
)

VEX = {
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": "https://example.com/vex/app-1",
    "author": "Example Security",
    "timestamp": "2024-12-01T00:00:00Z",
    "version": 1,
    "statements": [
        {
            "vulnerability": {"name": "CVE-2024-0002"},
            "products": [
                {
                    "@id": f"pkg:oci/app@{MANIFEST_DIGEST}",
                    "subcomponents": [{"@id": "pkg:deb/debian/openssl"}],
                }
            ],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "impact_statement": "the TLS server is never started",
        },
        {
            "vulnerability": {"name": "GHSA-9999-8888-7777"},
            "products": [{"@id": "pkg:maven/com.fasterxml.jackson.core/jackson-databind"}],
            "status": "affected",
            "action_statement": "upgrade jackson-databind to 2.17",
        },
    ],
}

ALLOWLIST = b"""\
entries:
  - id: CVE-2024-0003
    expires: 2025-06-30
    reason: libc fix pending upstream; not reachable from the app
  - id: CVE-2020-0001
    expires: 2024-12-31
    reason: an old exception
"""

ADVISORIES = {
    "CVE-2024-0001": OsvRecord.from_dict(
        {
            "id": "CVE-2024-0001",
            "modified": "2024-06-01T00:00:00Z",
            "published": "2024-05-01T00:00:00Z",
            "details": "A long description of the request smuggling bug.",
            "references": [
                {"type": "ADVISORY", "url": "https://example.com/advisories/1"},
                {"type": "PACKAGE", "url": "https://pypi.org/project/requests"},
            ],
            "database_specific": {"cwe_ids": ["CWE-444", "CWE-20", "bogus"]},
        }
    )
}


def sample_report(**kw: Any) -> ScanReport:
    sbom = sample_sbom()
    judgement = apply(
        kw.pop("findings", FINDINGS),
        vex=[parse_vex(VEX, source="vex.json")],
        allowlist=parse_allowlist(ALLOWLIST, source="allow.yaml"),
        now=NOW,
        sbom=sbom,
    )
    fields: dict[str, Any] = {
        "sbom": sbom,
        "judgement": judgement,
        "skipped": (("pkg:generic/thing@1", "no advisory mapping for this package type"),),
        "advisories": ADVISORIES,
    }
    fields.update(kw)
    return ScanReport(**fields)
