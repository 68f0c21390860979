"""Judging findings: VEX before the allowlist, nothing dropped, every verdict explained."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sealyard.vulndb.allowlist import parse_allowlist
from sealyard.vulndb.suppress import BomRefs, apply, rating_of
from sealyard.vulndb.vex import parse_vex
from tests.sbom.formats import LIBC, MANIFEST_DIGEST, OPENSSL, REQUESTS_A, REQUESTS_B, sample_sbom
from tests.vulndb.report import NOW, finding


def openvex(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "me",
        "timestamp": "2024-12-01T00:00:00Z",
        "statements": list(statements),
    }


def statement(vuln: str, product: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "vulnerability": {"name": vuln},
        "products": [{"@id": product}],
        "status": status,
        **extra,
    }


def test_not_affected_and_fixed_suppress_with_who_and_why() -> None:
    vex = parse_vex(
        openvex(
            statement(
                "CVE-2024-0001",
                "pkg:pypi/requests",
                "not_affected",
                justification="vulnerable_code_not_present",
                impact_statement="patched build",
            ),
            statement("CVE-2024-0002", "pkg:deb/debian/openssl", "fixed"),
        ),
        source="vex.json",
    )
    findings = [
        finding("CVE-2024-0001", REQUESTS_A),
        finding("CVE-2024-0002", OPENSSL),
        finding("CVE-2024-0003", LIBC),
    ]
    judgement = apply(findings, vex=[vex], now=NOW)
    assert [j.finding.vulnerability for j in judgement.active] == ["CVE-2024-0003"]
    first, second = judgement.suppressed
    assert first.suppressed_by is not None
    assert first.suppressed_by.to_dict() == {
        "by": "vex",
        "source": "https://example.com/vex/1",
        "ref": "statements[0]",
        "status": "not_affected",
        "label": "not_affected",
        "justification": "vulnerable_code_not_present",
        "reason": "patched build",
        "action": "",
        "timestamp": "2024-12-01T00:00:00Z",
        "expires": None,
        "expiresAsWritten": None,
    }
    assert second.suppressed_by is not None
    assert second.suppressed_by.status == "fixed"
    assert judgement.warnings == ()


def test_affected_and_under_investigation_stay_active_but_annotated() -> None:
    vex = parse_vex(
        openvex(
            statement("CVE-2024-0001", "pkg:pypi/requests", "affected", action_statement="upgrade"),
            statement("CVE-2024-0002", "pkg:deb/debian/openssl", "under_investigation"),
        )
    )
    judgement = apply(
        [finding("CVE-2024-0001", REQUESTS_A), finding("CVE-2024-0002", OPENSSL)],
        vex=[vex],
        now=NOW,
    )
    assert judgement.suppressed == ()
    assert [(j.vex.status if j.vex else None) for j in judgement.active] == [
        "affected",
        "under_investigation",
    ]
    [warning] = judgement.warnings
    assert warning.kind == "vex-affected"
    assert "CVE-2024-0001 in requests 2.31.0" in warning.message
    assert "action: upgrade" in warning.message


def test_allowlist_suppresses_until_expiry_and_expired_entries_warn() -> None:
    allowlist = parse_allowlist(
        b"entries:\n"
        b"  - {id: GHSA-jfh8-c2jp-5v3q, expires: 2025-01-31, reason: accepted by sec team}\n"
        b"  - {id: CVE-2024-0002, expires: 2025-01-01, reason: was accepted}\n",
        source="allow.yaml",
    )
    findings = [
        finding("CVE-2024-0001", REQUESTS_A, aliases=("GHSA-jfh8-c2jp-5v3q",)),
        finding("CVE-2024-0002", OPENSSL),
    ]
    judgement = apply(findings, allowlist=allowlist, now=NOW)
    [suppressed] = judgement.suppressed
    assert suppressed.finding.vulnerability == "CVE-2024-0001"  # matched through its alias
    verdict = suppressed.suppressed_by
    assert verdict is not None
    assert (verdict.by, verdict.status, verdict.reason, verdict.source, verdict.ref) == (
        "allowlist",
        "accepted",
        "accepted by sec team",
        "allow.yaml",
        "entries[0]",
    )
    assert verdict.expires == datetime(2025, 2, 1, tzinfo=UTC)
    assert [j.finding.vulnerability for j in judgement.active] == ["CVE-2024-0002"]
    [warning] = judgement.warnings
    assert warning.kind == "allowlist-expired"
    assert warning.ref == "entries[1]"
    assert "expired on 2025-01-01" in warning.message
    assert "would have suppressed 1 finding(s)" in warning.message
    # A month later the first entry has expired too: nothing is suppressed any more.
    later = apply(findings, allowlist=allowlist, now=datetime(2025, 3, 1, tzinfo=UTC))
    assert later.suppressed == ()
    assert len(later.warnings) == 2


def test_vex_decides_before_the_allowlist_and_its_annotation_survives() -> None:
    vex = parse_vex(
        openvex(
            statement("CVE-2024-0001", "pkg:pypi/requests", "fixed"),
            statement("CVE-2024-0002", "pkg:deb/debian/openssl", "affected", action_statement="x"),
        )
    )
    allowlist = parse_allowlist(
        b"entries:\n"
        b"  - {id: CVE-2024-0001, expires: 2030-01-01, reason: r1}\n"
        b"  - {id: CVE-2024-0002, expires: 2030-01-01, reason: r2}\n"
    )
    judgement = apply(
        [finding("CVE-2024-0001", REQUESTS_A), finding("CVE-2024-0002", OPENSSL)],
        vex=[vex],
        allowlist=allowlist,
        now=NOW,
    )
    by_id = {j.finding.vulnerability: j for j in judgement.suppressed}
    assert by_id["CVE-2024-0001"].suppressed_by is not None
    assert by_id["CVE-2024-0001"].suppressed_by.by == "vex"
    accepted = by_id["CVE-2024-0002"]
    assert accepted.suppressed_by is not None
    assert accepted.suppressed_by.by == "allowlist"
    assert accepted.vex is not None
    assert accepted.vex.status == "affected"  # the vendor's word stays visible


def test_the_sbom_lets_vex_name_the_image_and_sealyard_bom_refs() -> None:
    sbom = sample_sbom()
    refs = BomRefs(sbom)
    ref_b = refs.ref(REQUESTS_B)
    assert ref_b.startswith("sealyard:package:")
    assert ref_b != refs.ref(REQUESTS_A)  # same purl, other place: its own bom-ref
    image_vex = parse_vex(
        openvex(
            {
                "vulnerability": {"name": "CVE-2024-0001"},
                "products": [
                    {
                        "@id": f"pkg:oci/app@{MANIFEST_DIGEST}",
                        "subcomponents": [{"@id": "pkg:deb/debian/openssl"}],
                    }
                ],
                "status": "not_affected",
                "justification": "component_not_present",
            }
        )
    )
    cdx_vex = parse_vex(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "vulnerabilities": [
                {
                    "id": "CVE-2024-0002",
                    "analysis": {"state": "false_positive"},
                    "affects": [{"ref": f"urn:cdx:0d7c/1#{ref_b}"}],
                }
            ],
        }
    )
    findings = [
        finding("CVE-2024-0001", OPENSSL),
        finding("CVE-2024-0001", LIBC),  # in the image but not a listed subcomponent
        finding("CVE-2024-0002", REQUESTS_A),
        finding("CVE-2024-0002", REQUESTS_B),
    ]
    with_sbom = apply(findings, vex=[image_vex, cdx_vex], now=NOW, sbom=sbom)
    assert [(j.finding.vulnerability, j.finding.package.name) for j in with_sbom.suppressed] == [
        ("CVE-2024-0001", "openssl"),
        ("CVE-2024-0002", "requests"),
    ]
    assert with_sbom.suppressed[1].finding.package is REQUESTS_B
    assert with_sbom.suppressed[1].suppressed_by is not None
    assert with_sbom.suppressed[1].suppressed_by.label == "false_positive"
    # Without the SBOM the image and the bom-refs are unknown: nothing is suppressed.
    assert apply(findings, vex=[image_vex, cdx_vex], now=NOW).suppressed == ()


def test_thresholds_count_active_findings_only_and_unknown_ranks_lowest() -> None:
    allowlist = parse_allowlist(
        b"entries:\n  - {id: CVE-2024-0004, expires: 2030-01-01, reason: r}\n"
    )
    judgement = apply(
        [
            finding("CVE-2024-0001", REQUESTS_A, rating="UNKNOWN"),
            finding("CVE-2024-0002", OPENSSL, rating="MEDIUM"),
            finding("CVE-2024-0003", LIBC, rating="NONE"),
            finding("CVE-2024-0004", LIBC, rating="CRITICAL"),  # suppressed: never fails
        ],
        allowlist=allowlist,
        now=NOW,
    )

    def failing(threshold: str) -> list[str]:
        return [j.finding.vulnerability for j in judgement.at_or_above(threshold)]

    assert failing("UNKNOWN") == ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003"]
    assert failing("low") == ["CVE-2024-0002"]
    assert failing("MEDIUM") == ["CVE-2024-0002"]
    assert failing("HIGH") == []
    assert failing("CRITICAL") == []
    with pytest.raises(ValueError, match="unknown rating"):
        judgement.at_or_above("SEVERE")


def test_rating_falls_back_to_cvss_and_then_unknown() -> None:
    assert rating_of(finding("CVE-1", OPENSSL, rating="high")) == "HIGH"
    assert rating_of(finding("CVE-1", OPENSSL, rating="")) == "UNKNOWN"
    scored = finding(
        "CVE-1", OPENSSL, rating="", vectors=("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",)
    )
    assert rating_of(scored) == "CRITICAL"


def test_a_naive_clock_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        apply([], now=datetime(2025, 1, 1))
