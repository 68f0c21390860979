"""CycloneDX 1.6 JSON: the SBOM exactly as ``sealyard sbom -o cyclonedx-json`` writes it, plus
``vulnerabilities``.

One ``vulnerabilities[]`` entry per finding (fixes and verdicts differ per package):

* ``id``, ``source`` (NVD, GitHub, Debian or OSV by the id's prefix), ``references`` (the
  aliases and merged record ids), ``description`` (summary), ``detail`` (the advisory's
  details), ``recommendation`` (``upgrade X to 1.2.3``), ``advisories`` (advisory links),
  ``cwes`` (GHSA ``database_specific.cwe_ids``), ``published``/``updated``;
* ``ratings``: one per CVSS vector (``CVSSv31``/``CVSSv3``/``CVSSv4``/``CVSSv2`` with vector,
  and score and severity where Sealyard scores it), or the advisory's own rating with method
  ``other`` when no vector gives one;
* ``affects[].ref`` is the package component's ``bom-ref``, with the installed version
  ``affected`` (``unaffected`` when VEX says ``not_affected``/``fixed``);
* ``analysis`` records verdicts: a VEX suppression keeps its CycloneDX state
  (OpenVEX ``not_affected`` → ``not_affected``, ``fixed`` → ``resolved``; justifications
  are mapped, see ``_JUSTIFICATIONS``); an allowlisted finding is an accepted risk, state
  ``exploitable`` with response ``will_not_fix`` and the reason and expiry in ``detail``;
  VEX ``affected`` / ``under_investigation`` on an active finding become ``exploitable`` /
  ``in_triage``. ``sealyard:suppressed`` and ``sealyard:suppressed-by`` properties say it
  plainly.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sealyard.sbom.formats.cyclonedx import to_document
from sealyard.vulndb.cvss import score_of
from sealyard.vulndb.osv import OsvRecord
from sealyard.vulndb.report import _common
from sealyard.vulndb.report.interface import ReportFormat, ScanReport
from sealyard.vulndb.suppress import Assessment, BomRefs, Judged
from sealyard.vulndb.vex import CYCLONEDX_JUSTIFICATIONS

__all__ = ["CycloneDxReport"]

# OpenVEX justification → CycloneDX impactAnalysisJustification.
_JUSTIFICATIONS = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "protected_by_mitigating_control",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}
_OPENVEX_STATES = {
    "not_affected": "not_affected",
    "fixed": "resolved",
    "affected": "exploitable",
    "under_investigation": "in_triage",
}
_CDX_STATES = frozenset(
    {
        "not_affected",
        "false_positive",
        "resolved",
        "resolved_with_pedigree",
        "exploitable",
        "in_triage",
    }
)
_RATED = frozenset({"CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE"})


def _method(kind: str, vector: str) -> str:
    if vector.startswith("CVSS:3.1/"):
        return "CVSSv31"
    if vector.startswith("CVSS:3.0/"):
        return "CVSSv3"
    if vector.startswith("CVSS:4.0/"):
        return "CVSSv4"
    if kind == "CVSS_V2":
        return "CVSSv2"
    return "other"


def _ratings(j: Judged) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in j.finding.severity:
        kind, vector = entry.get("type", ""), entry.get("score", "")
        method = _method(kind, vector)
        if method == "other":
            continue  # a label, not a vector: folded into the rating below
        rating: dict[str, Any] = {"method": method}
        score, severity = score_of(vector)
        if score is not None:
            rating["score"] = score
        if severity is not None:
            rating["severity"] = severity.lower()
        rating["vector"] = vector
        if rating not in out:
            out.append(rating)
    if not any("severity" in r for r in out) and j.rating in _RATED:
        out.append(
            {
                "severity": j.rating.lower(),
                "method": "other",
                "justification": "the advisory database's own rating (no CVSS score)",
            }
        )
    return out


def _cwes(records: list[OsvRecord]) -> list[int]:
    found: list[int] = []
    for record in records:
        ids = record.database_specific.get("cwe_ids")
        for cwe in ids if isinstance(ids, list) else []:
            text = str(cwe).upper().removeprefix("CWE-")
            if text.isdigit() and int(text) >= 1 and int(text) not in found:
                found.append(int(text))
    return sorted(found)


def _analysis(a: Assessment, *, suppressed: bool) -> dict[str, Any]:
    when = _common.iso(a.timestamp)
    if a.by == "allowlist":
        return {
            "state": "exploitable",
            "response": ["will_not_fix"],
            "detail": _common.verdict_text(a),
        }
    state = a.label if a.label in _CDX_STATES else _OPENVEX_STATES.get(a.status, "in_triage")
    analysis: dict[str, Any] = {"state": state}
    justification = (
        a.justification
        if a.justification in CYCLONEDX_JUSTIFICATIONS
        else _JUSTIFICATIONS.get(a.justification)
    )
    if justification and suppressed:
        analysis["justification"] = justification
    analysis["detail"] = _common.verdict_text(a)
    if when:
        analysis["lastUpdated"] = when
    return analysis


def _properties(j: Judged) -> list[dict[str, str]]:
    props = [
        ("sealyard:rating", j.rating),
        ("sealyard:fix-state", j.finding.fix_state),
        ("sealyard:suppressed", "true" if j.suppressed else "false"),
    ]
    a = j.suppressed_by
    if a is not None:
        props += [
            ("sealyard:suppressed-by", a.by),
            ("sealyard:suppression-source", a.source),
            ("sealyard:suppression-ref", a.ref),
        ]
        if a.expires is not None:
            props.append(("sealyard:suppression-expires", _common.iso(a.expires) or ""))
    return [{"name": k, "value": v} for k, v in props if v]


def _vulnerability(j: Judged, report: ScanReport, refs: BomRefs) -> dict[str, Any]:
    f = j.finding
    records = report.records_of(f)
    name, url = _common.source_of(f.vulnerability)
    package_ref = refs.ref(f.package)
    identity = "\x00".join((f.vulnerability, package_ref or f.package.purl))
    entry: dict[str, Any] = {
        "bom-ref": "sealyard:vulnerability:" + hashlib.sha256(identity.encode()).hexdigest()[:16],
        "id": f.vulnerability,
        "source": {"name": name, "url": url},
    }
    others = [i for i in dict.fromkeys((*f.aliases, *f.records)) if i != f.vulnerability]
    if others:
        entry["references"] = [
            {"id": i, "source": dict(zip(("name", "url"), _common.source_of(i), strict=True))}
            for i in others
        ]
    ratings = _ratings(j)
    if ratings:
        entry["ratings"] = ratings
    cwes = _cwes(records)
    if cwes:
        entry["cwes"] = cwes
    if f.summary:
        entry["description"] = f.summary
    details = next((r.details for r in records if r.details), "")
    if details:
        entry["detail"] = details
    entry["recommendation"] = _common.fix_text(f)
    entry["advisories"] = [{"url": u} for u in _common.advisory_urls(f, records)]
    published = min((r.published for r in records if r.published), default=None)
    updated = max((r.modified for r in records), default=None)
    if published is not None:
        entry["published"] = _common.iso(published)
    if updated is not None:
        entry["updated"] = _common.iso(updated)
    verdict = j.suppressed_by or j.vex
    if verdict is not None:
        entry["analysis"] = _analysis(verdict, suppressed=j.suppressed)
    if package_ref:
        unaffected = j.suppressed_by is not None and j.suppressed_by.by == "vex"
        affects: dict[str, Any] = {"ref": package_ref}
        if f.package.version:
            affects["versions"] = [
                {
                    "version": f.package.version,
                    "status": "unaffected" if unaffected else "affected",
                }
            ]
        entry["affects"] = [affects]
    entry["properties"] = _properties(j)
    return entry


class CycloneDxReport(ReportFormat):
    """CycloneDX 1.6 JSON: components and vulnerabilities in one BOM."""

    name = "cyclonedx-json"
    media_type = "application/vnd.cyclonedx+json"
    file_extension = ".cdx.json"

    def render(self, report: ScanReport, *, deterministic: bool = False) -> str:
        document = to_document(report.sbom, deterministic=deterministic)
        refs = BomRefs(report.sbom)
        judged = [*report.judgement.active, *report.judgement.suppressed]
        document["vulnerabilities"] = [_vulnerability(j, report, refs) for j in judged]
        return _common.dump_json(document)
