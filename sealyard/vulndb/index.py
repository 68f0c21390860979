"""An in-memory index of live advisories by (ecosystem, package name), for repeated matching.

Loading parses every live record once; later lookups are dictionary hits. The index knows
the store's *generation* (number of records and newest import time) and reloads itself when
an import — in this process or another — changed it, so a long-running server or monitor
never matches against stale data for longer than one :meth:`AdvisoryIndex.refresh` call.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from sealyard.db.models import AffectedPackage, Vulnerability
from sealyard.vulndb.osv import Affected, OsvRecord
from sealyard.vulndb.store import AdvisoryStore, _ecosystems, normalise_name

__all__ = ["AdvisoryIndex"]


class AdvisoryIndex:
    """Live records keyed by (stored ecosystem, stored name); same answers as the store."""

    def __init__(self, store: AdvisoryStore) -> None:
        self.store = store
        self._by_package: dict[tuple[str, str], list[OsvRecord]] = {}
        self._entries: dict[tuple[str, str, str], tuple[Affected, ...]] = {}
        self._lookups: dict[tuple[str, str], list[tuple[OsvRecord, list[Affected]]]] = {}
        self._generation: tuple[int, float] | None = None

    def _current_generation(self) -> tuple[int, float]:
        with self.store.db.session() as s:
            count, newest = s.execute(
                select(func.count(Vulnerability.id), func.max(Vulnerability.imported_at))
            ).one()
        return int(count or 0), float(newest or 0.0)

    def refresh(self) -> bool:
        """Reload if the store changed since the last load; ``True`` when it reloaded."""
        generation = self._current_generation()
        if generation == self._generation:
            return False
        by_package: dict[tuple[str, str], list[OsvRecord]] = defaultdict(list)
        with self.store.db.session() as s:
            raws: dict[str, Any] = dict(
                s.execute(
                    select(Vulnerability.id, Vulnerability.raw).where(
                        Vulnerability.withdrawn.is_(None)
                    )
                ).all()
            )
            rows = s.execute(
                select(
                    AffectedPackage.ecosystem,
                    AffectedPackage.name,
                    AffectedPackage.vulnerability_id,
                )
            ).all()
        parsed = {ident: OsvRecord.from_dict(raw) for ident, raw in raws.items()}
        for ecosystem, name, ident in rows:
            record = parsed.get(ident)
            if record is not None:
                bucket = by_package[(ecosystem, name)]
                if record not in bucket:
                    bucket.append(record)
        for bucket in by_package.values():
            bucket.sort(key=lambda r: r.id)
        entries: dict[tuple[str, str, str], tuple[Affected, ...]] = {}
        for (eco, name), bucket in by_package.items():
            for record in bucket:
                entries[(record.id, eco, name)] = tuple(
                    a
                    for a in record.affected
                    if a.ecosystem == eco
                    and normalise_name(a.ecosystem.split(":", 1)[0], a.name) == name
                )
        self._by_package = dict(by_package)
        self._entries = entries
        self._lookups = {}
        self._generation = generation
        # The index is hundreds of thousands of long-lived, acyclic objects: moving them out of
        # the collector's generations keeps every full collection from walking them again
        # (each one cost a matching call ~50 ms). They are freed by reference counting when
        # the next load replaces them.
        gc.freeze()
        return True

    def entries(self, record: OsvRecord, ecosystem: str, name: str) -> list[Affected]:
        """Like :func:`~sealyard.vulndb.store.affected_for`, precomputed at load."""
        ecosystems = _ecosystems(ecosystem)
        wanted = normalise_name(ecosystems[-1], name)
        found: list[Affected] = []
        for eco in ecosystems:
            found += self._entries.get((record.id, eco, wanted), ())
        return found

    def lookup(self, ecosystem: str, name: str) -> list[tuple[OsvRecord, list[Affected]]]:
        """:meth:`candidates` with each record's entries for the package, kept per query until
        the next load (images share their packages: the same queries come back)."""
        key = (ecosystem, name)
        found = self._lookups.get(key)
        if found is None:
            found = self._lookups[key] = [
                (record, self.entries(record, ecosystem, name))
                for record in self.candidates(ecosystem, name)
            ]
        return found

    def candidates(self, ecosystem: str, name: str) -> list[OsvRecord]:
        """Like :meth:`AdvisoryStore.candidates`, from memory."""
        ecosystems = _ecosystems(ecosystem)
        wanted = normalise_name(ecosystems[-1], name)
        found: dict[str, OsvRecord] = {}
        for eco in ecosystems:
            for record in self._by_package.get((eco, wanted), ()):
                found.setdefault(record.id, record)
        return [found[k] for k in sorted(found)]
