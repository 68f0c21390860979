"""SARIF 2.1.0 (OASIS), the format code-scanning dashboards import.

* ``runs[0].tool.driver.rules`` holds one rule per vulnerability id, with its summary, a
  help link and ``properties.security-severity`` (the highest CVSS score, else a score
  standing for the rating) that GitHub code scanning sorts by;
* ``results`` holds one result per finding, active ones first. ``level``: CRITICAL and
  HIGH are ``error``, MEDIUM and UNKNOWN ``warning``, LOW and NONE ``note``. The one
  ``location`` is the first file in the image that revealed the package (a logical
  location naming the purl when the SBOM has no path). ``partialFingerprints["sealyard/v1"]``
  hashes the vulnerability id, the purl and that path, so it is the same in every run;
* a suppressed finding's result carries ``suppressions: [{kind: external, status: accepted,
  justification}]``: VEX documents and allowlists live outside the scanned artifact, and
  the suppression is in force; its ``properties`` name the document and statement, or the
  allowlist entry and its expiry;
* warnings (expired allowlist entries, VEX ``affected`` statements) and packages that could
  not be matched are ``toolExecutionNotifications`` of the run's invocation.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from sealyard import __version__
from sealyard.sbom.formats._common import sorted_locations
from sealyard.vulndb.ratings import rating_rank
from sealyard.vulndb.report import _common
from sealyard.vulndb.report.interface import ReportFormat, ScanReport
from sealyard.vulndb.suppress import Judged

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "SarifReport"]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
_LEVELS = {
    "CRITICAL": "error",
    "HIGH": "error",
    "MEDIUM": "warning",
    "UNKNOWN": "warning",
    "LOW": "note",
    "NONE": "note",
}
# GitHub's bands: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
_STAND_IN_SCORE = {"CRITICAL": 9.0, "HIGH": 7.0, "MEDIUM": 4.0, "LOW": 0.1, "NONE": 0.0}


def _score(j: Judged) -> float | None:
    score = j.finding.cvss_score
    return j.finding.score[0] if score is None else score


def _fingerprint(j: Judged) -> str:
    pkg = j.finding.package
    locations = sorted_locations(pkg)
    path = locations[0].path if locations else ""
    text = "\x00".join((j.finding.vulnerability, pkg.purl, path))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _locations(j: Judged) -> list[dict[str, Any]]:
    """The first file that revealed the package (SARIF: one location unless a fix
    needs a change at every one; upgrading the package is one change)."""
    pkg = j.finding.package
    locations = sorted_locations(pkg)
    if not locations:
        name = pkg.purl or pkg.name
        return [{"logicalLocations": [{"fullyQualifiedName": name, "kind": "module"}]}]
    uri = quote(locations[0].path.lstrip("/"), safe="/")
    return [{"physicalLocation": {"artifactLocation": {"uri": uri}}}]


def _message(j: Judged) -> str:
    f = j.finding
    pkg = f.package
    fix = f"fixed in {', '.join(f.fixed)}" if f.fixed else _common.fix_text(f)
    text = f"{pkg.name} {pkg.version} is affected by {f.vulnerability} ({j.rating}); {fix}."
    if f.summary:
        text += f" {f.summary}"
    return text


def _rule(j: Judged, report: ScanReport) -> dict[str, Any]:
    f = j.finding
    records = report.records_of(f)
    details = next((r.details for r in records if r.details), "")
    urls = _common.advisory_urls(f, records)
    summary = f.summary or f.vulnerability
    return {
        "id": f.vulnerability,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": details or summary},
        "helpUri": urls[0],
        "help": {"text": "\n".join([summary, *urls])},
        "properties": {"tags": ["security", "vulnerability"]},
    }


def _suppression(j: Judged) -> dict[str, Any]:
    assert j.suppressed_by is not None
    return {
        "kind": "external",
        "status": "accepted",
        "justification": _common.verdict_text(j.suppressed_by),
        "properties": j.suppressed_by.to_dict(),
    }


def _result(j: Judged, index: int) -> dict[str, Any]:
    f = j.finding
    result: dict[str, Any] = {
        "ruleId": f.vulnerability,
        "ruleIndex": index,
        "kind": "fail",
        "level": _LEVELS.get(j.rating, "warning"),
        "message": {"text": _message(j)},
        "locations": _locations(j),
        "partialFingerprints": {"sealyard/v1": _fingerprint(j)},
        "properties": {
            "purl": f.package.purl,
            "installedVersion": f.package.version,
            "fixedVersions": list(f.fixed),
            "rating": j.rating,
            "cvssScore": _score(j),
            "aliases": list(f.aliases),
            "vex": None if j.vex is None else j.vex.to_dict(),
        },
    }
    if j.suppressed_by is not None:
        result["suppressions"] = [_suppression(j)]
    return result


class SarifReport(ReportFormat):
    """SARIF 2.1.0 JSON."""

    name = "sarif"
    media_type = "application/sarif+json"
    file_extension = ".sarif"

    def render(self, report: ScanReport, *, deterministic: bool = False) -> str:
        judged = [*report.judgement.active, *report.judgement.suppressed]
        rules: dict[str, dict[str, Any]] = {}
        worst: dict[str, tuple[tuple[int, float], float | None, str]] = {}
        for j in judged:
            rule_id = j.finding.vulnerability
            rules.setdefault(rule_id, _rule(j, report))
            score = _score(j)
            rank = (rating_rank(j.rating), -1.0 if score is None else score)
            if rule_id not in worst or rank > worst[rule_id][0]:
                worst[rule_id] = (rank, score, j.rating)
        for rule_id, rule in rules.items():
            _, score, rating = worst[rule_id]
            rule["defaultConfiguration"] = {"level": _LEVELS.get(rating, "warning")}
            severity = score if score is not None else _STAND_IN_SCORE.get(rating)
            if severity is not None:
                rule["properties"]["security-severity"] = f"{severity:.1f}"
        index = {rule_id: i for i, rule_id in enumerate(rules)}
        notifications = [
            {
                "level": "warning",
                "message": {"text": w.message},
                "descriptor": {"id": w.kind},
            }
            for w in report.judgement.warnings
        ] + [
            {
                "level": "note",
                "message": {"text": f"{purl}: not matched: {reason}"},
                "descriptor": {"id": "package-skipped"},
            }
            for purl, reason in report.skipped
        ]
        sbom = report.sbom
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": sbom.tool or "sealyard",
                    "version": sbom.tool_version or __version__,
                    "rules": list(rules.values()),
                }
            },
            "invocations": [
                {"executionSuccessful": True, "toolExecutionNotifications": notifications}
            ],
            "results": [_result(j, index[j.finding.vulnerability]) for j in judged],
            "properties": {
                "image": sbom.image.reference,
                "manifestDigest": sbom.image.manifest_digest or None,
                "packages": len(sbom.packages),
            },
        }
        return _common.dump_json({"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]})
