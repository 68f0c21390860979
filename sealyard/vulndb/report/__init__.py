"""Scan report formats: a table, Sealyard's JSON, SARIF 2.1.0 and CycloneDX 1.6 with VEX.

Each format is a :class:`~sealyard.vulndb.report.interface.ReportFormat` in its own module;
:data:`FORMATS` maps the user-facing names to instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sealyard.errors import UsageError
from sealyard.vulndb.report.cyclonedx import CycloneDxReport
from sealyard.vulndb.report.interface import ReportFormat, ScanReport
from sealyard.vulndb.report.json import JsonReport
from sealyard.vulndb.report.sarif import SarifReport
from sealyard.vulndb.report.table import TableReport

__all__ = [
    "FORMATS",
    "CycloneDxReport",
    "JsonReport",
    "ReportFormat",
    "SarifReport",
    "ScanReport",
    "TableReport",
    "get_format",
    "render",
]

FORMATS: Mapping[str, ReportFormat] = MappingProxyType(
    {fmt.name: fmt for fmt in (TableReport(), JsonReport(), SarifReport(), CycloneDxReport())}
)


def get_format(name: str) -> ReportFormat:
    """The report format called ``name``.

    Raises:
        UsageError: no such format; the message lists the known ones.
    """
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise UsageError(f"unknown report format {name!r}; choose one of: {known}") from None


def render(report: ScanReport, fmt: str, *, deterministic: bool = False) -> str:
    """Render ``report`` in the format named ``fmt`` (see :data:`FORMATS`).

    Raises:
        UsageError: ``fmt`` is not a known format.
    """
    return get_format(fmt).render(report, deterministic=deterministic)
