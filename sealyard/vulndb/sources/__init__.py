"""Advisory sources: one module per format, the ABC in :mod:`.interface`."""

from __future__ import annotations

from sealyard.vulndb.sources.alpine_secdb import AlpineSecdbSource
from sealyard.vulndb.sources.debian_lists import DebianListSource
from sealyard.vulndb.sources.debian_tracker import DebianTrackerSource
from sealyard.vulndb.sources.interface import (
    AdvisorySource,
    ScanProblem,
    SourceLimits,
    SourceRecord,
)
from sealyard.vulndb.sources.osv import OsvSource

__all__ = [
    "AdvisorySource",
    "AlpineSecdbSource",
    "DebianListSource",
    "DebianTrackerSource",
    "OsvSource",
    "ScanProblem",
    "SourceLimits",
    "SourceRecord",
]
