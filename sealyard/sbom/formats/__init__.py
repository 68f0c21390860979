"""SBOM output formats: CycloneDX 1.6 JSON, SPDX 2.3 JSON, a table, Sealyard's JSON.

Each format is an :class:`~sealyard.sbom.formats.interface.SbomFormat` in its own module;
:data:`FORMATS` maps the user-facing names to instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sealyard.errors import UsageError
from sealyard.sbom.formats.cyclonedx import CycloneDxJson
from sealyard.sbom.formats.interface import SbomFormat
from sealyard.sbom.formats.native import NativeJson
from sealyard.sbom.formats.spdx import SpdxJson
from sealyard.sbom.formats.table import Table
from sealyard.sbom.model import Sbom

__all__ = [
    "FORMATS",
    "CycloneDxJson",
    "NativeJson",
    "SbomFormat",
    "SpdxJson",
    "Table",
    "get_format",
    "render",
]

FORMATS: Mapping[str, SbomFormat] = MappingProxyType(
    {fmt.name: fmt for fmt in (CycloneDxJson(), SpdxJson(), Table(), NativeJson())}
)


def get_format(name: str) -> SbomFormat:
    """The format called ``name``.

    Raises:
        UsageError: no such format; the message lists the known ones.
    """
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        raise UsageError(f"unknown SBOM format {name!r}; choose one of: {known}") from None


def render(sbom: Sbom, fmt: str, *, deterministic: bool = False) -> str:
    """Render ``sbom`` in the format named ``fmt`` (see :data:`FORMATS`).

    Raises:
        UsageError: ``fmt`` is not a known format.
        ValueError: ``sbom.created`` is set but is not an ISO 8601 date-time.
    """
    return get_format(fmt).render(sbom, deterministic=deterministic)
