"""The scan stage's predicate: what ``sealyard scan --attest`` hands to ``sealyard sign``.

It binds the verdict to the exact SBOM bytes (their digest), counts the *active* findings
(after VEX and the allowlist, which are the scanning team's decisions) by severity bucket,
rates each finding so a policy's own allowlist can subtract it, and records how fresh each
advisory source was — a scan against a stale database is visible to the verifier.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sealyard import __version__
from sealyard.oci.digest import sha256_digest
from sealyard.trust.predicates import SCAN_V1, DatabaseSource, ScanResult
from sealyard.vulndb.suppress import Judged

__all__ = ["BUCKETS", "scan_predicate"]

#: Rating → the scan predicate's severity bucket (it has no ``none``: NONE counts as low).
BUCKETS = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "NONE": "low",
    "UNKNOWN": "unknown",
}


def scan_predicate(
    *,
    sbom_bytes: bytes,
    sbom_media_type: str,
    active: Iterable[Judged],
    sources: Iterable[Mapping[str, Any]],
    now: datetime | None = None,
) -> dict[str, Any]:
    """``{"predicateType": …, "predicate": …}`` for the scan of one image."""
    summary: dict[str, int] = {}
    ratings: dict[str, str] = {}
    for judged in active:
        bucket = BUCKETS.get(judged.rating, "unknown")
        summary[bucket] = summary.get(bucket, 0) + 1
        ident = judged.finding.vulnerability
        worse = ratings.get(ident)
        order = list(BUCKETS.values())
        if worse is None or order.index(bucket) < order.index(worse):
            ratings[ident] = bucket
    result = ScanResult.build(
        scanner_name="sealyard",
        scanner_version=__version__,
        sources=[
            DatabaseSource(
                str(s["name"]),
                datetime.fromtimestamp(float(s.get("last_import") or 0.0), UTC),
            )
            for s in sources
        ],
        sbom_digest=sha256_digest(sbom_bytes),
        sbom_media_type=sbom_media_type,
        summary=summary,
        findings=list(ratings),
        ratings=ratings,
        scanned_at=now or datetime.now(UTC),
    )
    return {"predicateType": SCAN_V1, "predicate": result.to_dict()}
