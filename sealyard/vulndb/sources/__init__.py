"""Advisory sources: one module per format, the ABC in :mod:`.interface`."""

from __future__ import annotations

from sealyard.vulndb.sources.debian_lists import DebianListSource
from sealyard.vulndb.sources.interface import (
    AdvisorySource,
    ScanProblem,
    SourceLimits,
    SourceRecord,
)
from sealyard.vulndb.sources.osv import OsvSource

__all__ = [
    "AdvisorySource",
    "DebianListSource",
    "OsvSource",
    "ScanProblem",
    "SourceLimits",
    "SourceRecord",
]
