"""Sealyard's own JSON report (``sealyard-scan/1``): for machines and for diffing.

``findings`` holds the active findings, ``suppressed`` the suppressed ones, each a finding
object (see :meth:`~sealyard.vulndb.matcher.Finding.to_dict`) plus ``rating``, ``vex`` (the
VEX statement that covers it, or ``null``) and ``suppression`` (who suppressed it, or
``null``). ``warnings`` and ``skipped`` are lists too, so nothing is ever silent.
"""

from __future__ import annotations

from typing import Any

from sealyard import __version__
from sealyard.vulndb.report import _common
from sealyard.vulndb.report.interface import ReportFormat, ScanReport

__all__ = ["SCHEMA", "JsonReport"]

SCHEMA = "sealyard-scan/1"


class JsonReport(ReportFormat):
    """The report as JSON data."""

    name = "json"
    media_type = "application/json"
    file_extension = ".json"

    def render(self, report: ScanReport, *, deterministic: bool = False) -> str:
        sbom, judgement = report.sbom, report.judgement
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "tool": {"name": sbom.tool or "sealyard", "version": sbom.tool_version or __version__},
            "image": sbom.image.reference,
            "manifestDigest": sbom.image.manifest_digest or None,
            "packages": len(sbom.packages),
            "findings": [j.to_dict() for j in judgement.active],
            "suppressed": [j.to_dict() for j in judgement.suppressed],
            "warnings": [w.to_dict() for w in judgement.warnings],
            "skipped": [{"purl": p, "reason": r} for p, r in report.skipped],
        }
        return _common.dump_json(doc)
