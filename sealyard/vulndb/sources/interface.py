"""The advisory-source extension point: an ABC, the records it yields and its limits.

A source turns a local snapshot (a directory or an archive) into OSV records. Unreadable or
invalid documents are yielded as :class:`ScanProblem` data, never raised, so one bad file
cannot stop an import.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealyard.vulndb.osv import OsvRecord

__all__ = ["AdvisorySource", "ScanProblem", "SourceLimits", "SourceRecord"]


@dataclass(frozen=True)
class SourceLimits:
    """Bounds on untrusted advisory snapshots.

    Attributes:
        max_file_bytes: largest single advisory document read (declared and actual size).
        max_total_bytes: most a whole archive may expand to (sum of the members read).
        max_members: most archive members or directory files considered.
        max_snapshot_bytes: largest single-document snapshot read whole (the Debian security
            tracker's JSON is one ~80 MB document covering every package and CVE).
    """

    max_file_bytes: int = 8 * 1024 * 1024
    max_total_bytes: int = 2 * 1024**3
    max_members: int = 1_000_000
    max_snapshot_bytes: int = 512 * 1024**2


@dataclass(frozen=True)
class ScanProblem:
    """A document that could not be read or parsed: ``path`` names it, ``reason`` says why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class SourceRecord:
    """A parsed record together with the document it came from.

    ``raw`` is the decoded document as received (stored as is, never a re-serialisation of
    ``record``); ``path`` names the file it was read from.
    """

    record: OsvRecord
    raw: Mapping[str, Any]
    path: str


class AdvisorySource(ABC):
    """Reads one advisory format from a local path."""

    #: Short identifier of the format, e.g. ``"osv"``.
    name: str

    @abstractmethod
    def records(self, path: Path) -> Iterator[SourceRecord | ScanProblem]:
        """Yield every record found under ``path``, in a deterministic order.

        Problems with single documents are yielded as :class:`ScanProblem`.

        Raises:
            UsageError: ``path`` itself cannot be opened as this kind of source.
        """
