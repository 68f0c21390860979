"""A plain-text report for people: active findings, then suppressed ones, then warnings.

Package names, versions and VEX/allowlist texts come from untrusted input: control
characters are shown escaped (:func:`~sealyard.sbom.formats.table.printable`). Not meant to
be parsed: use ``json``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from sealyard.sbom.formats.table import printable
from sealyard.vulndb.report import _common
from sealyard.vulndb.report.interface import ReportFormat, ScanReport
from sealyard.vulndb.suppress import Judged

__all__ = ["TableReport"]

_GAP = "  "
_ACTIVE = ("PACKAGE", "VERSION", "VULNERABILITY", "SEVERITY", "FIXED IN", "VEX")
_SUPPRESSED = ("PACKAGE", "VERSION", "VULNERABILITY", "SEVERITY", "SUPPRESSED BY", "WHY")


def _width(text: str) -> int:
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns; columns empty in every row are left out."""
    keep = [i for i in range(len(header)) if any(r[i] for r in rows)]
    table = [[header[i] for i in keep], *[[printable(r[i]) for i in keep] for r in rows]]
    widths = [max(_width(r[c]) for r in table) for c in range(len(keep))]
    lines = []
    for row in table:
        cells = [cell + " " * (widths[c] - _width(cell)) for c, cell in enumerate(row[:-1])]
        lines.append(_GAP.join([*cells, row[-1]]).rstrip())
    return lines


def _severity(j: Judged) -> str:
    score = j.finding.cvss_score if j.finding.cvss_score is not None else j.finding.score[0]
    return j.rating if score is None else f"{j.rating} {score}"


def _ids(j: Judged) -> str:
    cves = [a for a in j.finding.aliases if a.startswith("CVE-")]
    return j.finding.vulnerability + (f" ({', '.join(cves)})" if cves else "")


class TableReport(ReportFormat):
    """Human-readable findings table."""

    name = "table"
    media_type = "text/plain; charset=utf-8"
    file_extension = ".txt"

    def render(self, report: ScanReport, *, deterministic: bool = False) -> str:
        judgement = report.judgement
        lines: list[str] = []
        if judgement.active:
            lines += _grid(
                _ACTIVE,
                [
                    (
                        j.finding.package.name,
                        j.finding.package.version,
                        _ids(j),
                        _severity(j),
                        ", ".join(j.finding.fixed) or "(none)",
                        "" if j.vex is None else _common.verdict_text(j.vex),
                    )
                    for j in judgement.active
                ],
            )
        else:
            lines.append("No active findings.")
        if judgement.suppressed:
            lines += ["", f"Suppressed ({len(judgement.suppressed)}):"]
            lines += _grid(
                _SUPPRESSED,
                [
                    (
                        j.finding.package.name,
                        j.finding.package.version,
                        _ids(j),
                        _severity(j),
                        j.suppressed_by.by if j.suppressed_by else "",
                        _common.verdict_text(j.suppressed_by) if j.suppressed_by else "",
                    )
                    for j in judgement.suppressed
                ],
            )
        if judgement.warnings:
            lines += ["", f"{len(judgement.warnings)} warning(s):"]
            lines += [f"  [{w.kind}] {printable(w.message)}" for w in judgement.warnings]
        return "\n".join(lines) + "\n"
