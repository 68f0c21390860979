"""The advisory store: OSV records kept in the metadata database, indexed for matching.

Importing is incremental: a record is written only when its ``modified`` time is newer than
the stored copy's. A withdrawn record is retired: its row stays (with ``withdrawn`` set, so a
lookup by id still explains it) but its ``affected_packages`` rows are removed, so
:meth:`AdvisoryStore.candidates` never returns it.

Alias groups: every identifier a record carries (its own id and each alias — CVE, GHSA,
PYSEC, GO, RUSTSEC …) is a row of ``vuln_aliases`` pointing at the group's representative,
the smallest record id of the group. Importing a record that shares any identifier with
existing groups merges them (union-find with every member pointing straight at the
representative), so records describing the same flaw in different databases form one group
and a lookup by any identifier finds all of them. Groups only ever merge: an alias dropped by
a later version of a record does not split its group.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from sealyard.db import Database, jobs
from sealyard.db.models import AdvisorySource, AffectedPackage, VulnAlias, Vulnerability
from sealyard.vulndb.osv import Affected, OsvRecord
from sealyard.vulndb.sources.interface import ScanProblem, SourceRecord

__all__ = [
    "AdvisoryStore",
    "ImportReport",
    "affected_for",
    "ecosystem_matches",
    "normalise_name",
]

_BATCH = 500
_MAX_PROBLEMS_KEPT = 1000
_MAX_ID = 128
_MAX_ECOSYSTEM = 128
_MAX_NAME = 512
_PEP503 = re.compile(r"[-_.]+")


def normalise_name(ecosystem: str, name: str) -> str:
    """The package name as stored and queried: PEP 503 for PyPI, unchanged otherwise."""
    if ecosystem == "PyPI":
        return _PEP503.sub("-", name).lower()
    return name


def _ecosystems(ecosystem: str) -> tuple[str, ...]:
    base = ecosystem.split(":", 1)[0]
    return (ecosystem,) if base == ecosystem else (ecosystem, base)


def ecosystem_matches(queried: str, stored: str) -> bool:
    """Whether an advisory for ``stored`` applies to ``queried``.

    ``Debian:12`` is served by advisories for ``Debian:12`` and for plain ``Debian``; plain
    ``Debian`` only by ``Debian``.
    """
    return stored in _ecosystems(queried)


def affected_for(record: OsvRecord, ecosystem: str, name: str) -> list[Affected]:
    """The ``affected`` entries of ``record`` that concern ``name`` in ``ecosystem``."""
    wanted = normalise_name(ecosystem.split(":", 1)[0], name)
    return [
        a
        for a in record.affected
        if ecosystem_matches(ecosystem, a.ecosystem)
        and normalise_name(a.ecosystem.split(":", 1)[0], a.name) == wanted
    ]


@dataclass(frozen=True)
class ImportReport:
    """What an import did.

    ``added``/``updated`` count records written; ``withdrawn`` counts records written in their
    withdrawn state (newly retired or imported already withdrawn), which are not counted as
    added or updated; ``unchanged`` counts records no newer than the stored copy; ``invalid``
    counts documents refused, the first of which are listed in ``problems``.
    """

    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    invalid: int = 0
    problems: tuple[ScanProblem, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "withdrawn": self.withdrawn,
            "invalid": self.invalid,
        }


@dataclass
class _Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    invalid: int = 0
    problems: list[ScanProblem] = field(default_factory=list)

    def problem(self, problem: ScanProblem) -> None:
        self.invalid += 1
        if len(self.problems) < _MAX_PROBLEMS_KEPT:
            self.problems.append(problem)


def _same_content(stored: Mapping[str, Any], received: Mapping[str, Any]) -> bool:
    """Whether two documents differ in nothing but ``modified``.

    Sources without per-record times (the Debian tracker, Alpine secdb) stamp records with
    their snapshot's time; an unchanged record must not count as an update.
    """
    return {k: v for k, v in stored.items() if k != "modified"} == {
        k: v for k, v in received.items() if k != "modified"
    }


def _ts(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _size_problem(item: SourceRecord) -> ScanProblem | None:
    record = item.record
    if len(record.id) > _MAX_ID:
        return ScanProblem(item.path, f"id longer than {_MAX_ID} characters")
    for a in record.affected:
        if len(a.ecosystem) > _MAX_ECOSYSTEM or len(a.name) > _MAX_NAME:
            return ScanProblem(item.path, f"{record.id}: package ecosystem or name too long")
    return None


class AdvisoryStore:
    """Advisories in ``db``: import, lookup by package or by any identifier, status."""

    def __init__(self, db: Database, *, batch_size: int = _BATCH) -> None:
        self.db = db
        self.batch_size = batch_size

    # -- import ---------------------------------------------------------------------------

    def import_records(
        self, source_name: str, records: Iterable[SourceRecord | ScanProblem]
    ) -> ImportReport:
        """Import ``records`` (as yielded by an advisory source) under ``source_name``.

        Each batch of records is written in its own transaction; problems are counted as
        invalid. Source statistics are refreshed at the end.
        """
        counts = _Counts()
        batch: list[SourceRecord] = []
        for item in records:
            if isinstance(item, ScanProblem):
                counts.problem(item)
                continue
            problem = _size_problem(item)
            if problem is not None:
                counts.problem(problem)
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                self._import_batch(source_name, batch, counts)
                batch = []
        if batch:
            self._import_batch(source_name, batch, counts)
        self._refresh_sources(source_name)
        return ImportReport(
            source=source_name,
            added=counts.added,
            updated=counts.updated,
            unchanged=counts.unchanged,
            withdrawn=counts.withdrawn,
            invalid=counts.invalid,
            problems=tuple(counts.problems),
        )

    def _import_batch(self, source: str, batch: list[SourceRecord], counts: _Counts) -> None:
        newest: dict[str, SourceRecord] = {}
        for item in batch:
            current = newest.get(item.record.id)
            if current is None or item.record.modified > current.record.modified:
                if current is not None:
                    counts.unchanged += 1
                newest[item.record.id] = item
            else:
                counts.unchanged += 1
        now = time.time()
        with self.db.session() as s:
            stored = dict(
                s.execute(
                    select(Vulnerability.id, Vulnerability.modified).where(
                        Vulnerability.id.in_(list(newest))
                    )
                ).all()
            )
            newer = [
                ident
                for ident, item in newest.items()
                if ident in stored and item.record.modified.timestamp() > stored[ident]
            ]
            stored_raw: dict[str, Any] = (
                dict(
                    s.execute(
                        select(Vulnerability.id, Vulnerability.raw).where(
                            Vulnerability.id.in_(newer)
                        )
                    ).all()
                )
                if newer
                else {}
            )
            new_rows: list[dict[str, Any]] = []
            changed_rows: list[dict[str, Any]] = []
            written: list[SourceRecord] = []
            for ident, item in newest.items():
                modified = item.record.modified.timestamp()
                if ident in stored and (
                    modified <= stored[ident] or _same_content(stored_raw[ident], item.raw)
                ):
                    counts.unchanged += 1
                    continue
                row = self._row(source, item, now)
                if item.record.withdrawn is not None:
                    counts.withdrawn += 1
                elif ident in stored:
                    counts.updated += 1
                else:
                    counts.added += 1
                (changed_rows if ident in stored else new_rows).append(row)
                written.append(item)
            if not written:
                return
            if changed_rows:
                s.execute(
                    delete(AffectedPackage).where(
                        AffectedPackage.vulnerability_id.in_([r["id"] for r in changed_rows])
                    )
                )
                s.execute(update(Vulnerability), changed_rows)
            if new_rows:
                s.execute(insert(Vulnerability), new_rows)
            affected = [
                {"vulnerability_id": item.record.id, "ecosystem": eco, "name": name}
                for item in written
                if item.record.withdrawn is None
                for eco, name in sorted(
                    {
                        (a.ecosystem, normalise_name(a.ecosystem.split(":", 1)[0], a.name))
                        for a in item.record.affected
                    }
                )
            ]
            if affected:
                s.execute(insert(AffectedPackage), affected)
            for item in written:
                self._merge_aliases(s, item.record)
            # The monitor re-matches stored SBOMs against exactly these records; the job
            # commits with them, so no change is ever missed or seen before it is visible.
            jobs.enqueue(s, "advisories.changed", {"ids": sorted(r.record.id for r in written)})

    @staticmethod
    def _row(source: str, item: SourceRecord, now: float) -> dict[str, Any]:
        record = item.record
        return {
            "id": record.id,
            "modified": record.modified.timestamp(),
            "published": _ts(record.published),
            "withdrawn": _ts(record.withdrawn),
            "summary": record.summary,
            "severity": [dict(s) for s in record.severity],
            "aliases": list(record.aliases),
            "source": source,
            "raw": dict(item.raw),
            "imported_at": now,
        }

    @staticmethod
    def _merge_aliases(s: Session, record: OsvRecord) -> None:
        identifiers = {record.id} | {a for a in record.aliases if 0 < len(a) <= _MAX_ID}
        known = dict(
            s.execute(
                select(VulnAlias.alias, VulnAlias.vulnerability_id).where(
                    VulnAlias.alias.in_(sorted(identifiers))
                )
            ).all()
        )
        groups = set(known.values())
        representative = min(groups | {record.id})
        others = groups - {representative}
        if others:
            s.execute(
                update(VulnAlias)
                .where(VulnAlias.vulnerability_id.in_(sorted(others)))
                .values(vulnerability_id=representative)
            )
        missing = sorted(identifiers - set(known))
        if missing:
            s.execute(
                insert(VulnAlias),
                [{"alias": a, "vulnerability_id": representative} for a in missing],
            )

    def _refresh_sources(self, source_name: str) -> None:
        with self.db.session() as s:
            stats = {
                name: (count, newest)
                for name, count, newest in s.execute(
                    select(
                        Vulnerability.source,
                        func.count(),
                        func.max(Vulnerability.modified),
                    ).group_by(Vulnerability.source)
                ).all()
            }
            rows = {r.name: r for r in s.scalars(select(AdvisorySource))}
            if source_name not in rows:
                rows[source_name] = AdvisorySource(name=source_name)
                s.add(rows[source_name])
            rows[source_name].last_import = time.time()
            for name, row in rows.items():
                row.records, row.newest_modified = stats.get(name, (0, None))

    # -- queries --------------------------------------------------------------------------

    def candidates(self, ecosystem: str, name: str) -> list[OsvRecord]:
        """Live (not withdrawn) records naming package ``name`` in ``ecosystem``, by id.

        ``name`` is normalised like stored names (PEP 503 for PyPI). A distro ecosystem with
        a release (``Debian:12``) also finds records filed under the bare distro
        (``Debian``). Records are returned whole; :func:`affected_for` picks the entries
        that concern the package.
        """
        ecosystems = _ecosystems(ecosystem)
        wanted = normalise_name(ecosystems[-1], name)
        ids = select(AffectedPackage.vulnerability_id).where(
            AffectedPackage.ecosystem.in_(ecosystems), AffectedPackage.name == wanted
        )
        with self.db.session() as s:
            raws = s.scalars(
                select(Vulnerability.raw)
                .where(Vulnerability.id.in_(ids), Vulnerability.withdrawn.is_(None))
                .order_by(Vulnerability.id)
            ).all()
        return [OsvRecord.from_dict(raw) for raw in raws]

    def group(self, identifier: str) -> list[str]:
        """Every identifier in ``identifier``'s alias group, sorted (empty when unknown)."""
        with self.db.session() as s:
            representative = s.scalar(
                select(VulnAlias.vulnerability_id).where(VulnAlias.alias == identifier)
            )
            if representative is None:
                return []
            return list(
                s.scalars(
                    select(VulnAlias.alias)
                    .where(VulnAlias.vulnerability_id == representative)
                    .order_by(VulnAlias.alias)
                )
            )

    def lookup(self, identifier: str) -> list[OsvRecord]:
        """The records of ``identifier``'s alias group (withdrawn ones included), by id."""
        members = self.group(identifier)
        if not members:
            return []
        with self.db.session() as s:
            raws = s.scalars(
                select(Vulnerability.raw)
                .where(Vulnerability.id.in_(members))
                .order_by(Vulnerability.id)
            ).all()
        return [OsvRecord.from_dict(raw) for raw in raws]

    def status(self) -> list[dict[str, Any]]:
        """Per source: ``name``, ``records``, ``newest_modified`` and ``last_import`` (epoch)."""
        with self.db.session() as s:
            return [
                {
                    "name": row.name,
                    "records": row.records,
                    "newest_modified": row.newest_modified,
                    "last_import": row.last_import,
                }
                for row in s.scalars(select(AdvisorySource).order_by(AdvisorySource.name))
            ]
