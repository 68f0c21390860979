"""The scan report format interface.

A report format turns a :class:`ScanReport` (the SBOM, the judged findings, the packages
that could not be matched and the advisory records behind the findings) into text. Like
:class:`~sealyard.sbom.formats.interface.SbomFormat` it is a pure function of its input: no
I/O, and with ``deterministic=True`` the same report always renders byte for byte the same.
Every format shows suppressed findings apart from active ones, never drops them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from sealyard.sbom.model import Sbom
from sealyard.vulndb.matcher import Finding
from sealyard.vulndb.osv import OsvRecord
from sealyard.vulndb.suppress import Judgement, identifiers_of

__all__ = ["ReportFormat", "ScanReport"]


@dataclass(frozen=True)
class ScanReport:
    """Everything a scan found.

    Attributes:
        sbom: the scanned image's bill of materials.
        judgement: findings split into active and suppressed, with warnings.
        skipped: ``(purl, reason)`` of packages that could not be matched.
        advisories: advisory records by id, for references, CWEs and details; formats
            work without them.
    """

    sbom: Sbom
    judgement: Judgement
    skipped: tuple[tuple[str, str], ...] = ()
    advisories: Mapping[str, OsvRecord] = field(default_factory=dict)

    def records_of(self, finding: Finding) -> list[OsvRecord]:
        """The advisory records behind ``finding`` that :attr:`advisories` holds."""
        out: list[OsvRecord] = []
        for ident in identifiers_of(finding):
            record = self.advisories.get(ident)
            if record is not None and record not in out:
                out.append(record)
        return out


class ReportFormat(ABC):
    """One way to write a scan report.

    Attributes:
        name: the name users pick it by (``--output sarif``).
        media_type: the media type of the rendered document.
        file_extension: the conventional file name suffix, with its leading dot.
    """

    name: str
    media_type: str
    file_extension: str

    @abstractmethod
    def render(self, report: ScanReport, *, deterministic: bool = False) -> str:
        """The document for ``report``.

        Args:
            report: what the scan found.
            deterministic: derive time and document identity from the input instead of
                the clock and a random UUID (formats that have them).
        """
