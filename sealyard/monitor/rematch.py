"""Incremental re-matching: when advisories change, update stored matches and raise alerts.

Input is the list of advisory ids an import wrote (the ``advisories.changed`` job). Only those
records are evaluated, and only against inventory coordinates they name — never against
images, and never all advisories. The difference between the stored matches of those records
and the fresh evaluation is the news:

* ``new`` — a record now affects a coordinate it did not affect before;
* ``changed`` — it still does, but the fix, fix state or rating changed;
* ``resolved`` — it no longer does (fixed range moved, record withdrawn or rewritten).

Each piece of news becomes one alert per stored image containing the coordinate. A record
that merely duplicates one already matching the same package (a DSA and the Debian CVE
record it fixes share the CVE alias) raises no alert of its own: the image already had that
vulnerability. Matches and alerts are written in one transaction.
"""

from __future__ import annotations

import gc
import json
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from sealyard.db import Database
from sealyard.db.models import (
    ImageScan,
    InventoryPackage,
    PackageMatch,
    ScanPackage,
    VulnAlias,
    Vulnerability,
    table_of,
)
from sealyard.monitor.alerts import lock_for_append
from sealyard.monitor.inventory import match_row
from sealyard.vulndb.ecosystems import Coordinates
from sealyard.vulndb.matcher import Evaluation, display_id, evaluate
from sealyard.vulndb.osv import OsvError, OsvRecord
from sealyard.vulndb.store import ecosystem_matches, normalise_name
from sealyard.vulndb.versions import InvalidVersionError, scheme

__all__ = ["RematchReport", "rematch"]

_CHUNK = 500


@dataclass(frozen=True)
class RematchReport:
    records: int
    coordinates: int
    new: int
    changed: int
    resolved: int
    alerts: int

    def as_dict(self) -> dict[str, int]:
        return {
            "records": self.records,
            "coordinates": self.coordinates,
            "new": self.new,
            "changed": self.changed,
            "resolved": self.resolved,
            "alerts": self.alerts,
        }


@dataclass(frozen=True)
class _News:
    kind: str
    package_id: int
    record: str
    fixed: list[Any]
    rating: str
    score: float | None
    fix_state: str | None
    previous: Mapping[str, Any] | None = None


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _shown(record_id: str, aliases: Iterable[str]) -> tuple[str, list[str]]:
    names = {record_id, *aliases}
    shown = display_id(names, [record_id])
    return shown, sorted(names - {shown})


def _state(ev: Evaluation) -> tuple[list[Any], str, float | None, str | None]:
    return (list(ev.fixed), ev.rating, ev.score, ev.fix_state)


def _news(kind: str, key: tuple[int, str], ev: Evaluation, previous: Any = None) -> _News:
    return _News(
        kind,
        key[0],
        key[1],
        list(ev.fixed),
        ev.rating,
        ev.score,
        ev.fix_state,
        previous=previous,
    )


def rematch(db: Database, ids: Sequence[str], *, now: float | None = None) -> RematchReport:
    """Re-evaluate records ``ids`` against the inventory; store matches and alerts."""
    now = time.time() if now is None else now
    ids = sorted(set(ids))
    with db.session() as s:
        records: dict[str, OsvRecord] = {}
        aliases: dict[str, list[str]] = {}
        for chunk in _chunks(ids):
            for ident, raw, withdrawn, names in s.execute(
                select(
                    Vulnerability.id,
                    Vulnerability.raw,
                    Vulnerability.withdrawn,
                    Vulnerability.aliases,
                ).where(Vulnerability.id.in_(chunk))
            ):
                aliases[ident] = list(names or [])
                if withdrawn is not None:
                    continue
                try:
                    records[ident] = OsvRecord.from_dict(raw)
                except OsvError:
                    continue  # stored documents were validated on import; be safe anyway

        # Inventory coordinates the changed records name.
        names_wanted: dict[str, list[tuple[str, OsvRecord]]] = defaultdict(list)
        for record in records.values():
            for entry in record.affected:
                base = entry.ecosystem.split(":", 1)[0]
                names_wanted[normalise_name(base, entry.name)].append((entry.ecosystem, record))
        packages: list[Any] = []
        names_list = sorted(names_wanted)
        for chunk in _chunks(names_list):
            packages += s.execute(
                select(
                    InventoryPackage.id,
                    InventoryPackage.ecosystem,
                    InventoryPackage.name,
                    InventoryPackage.version,
                    InventoryPackage.scheme,
                ).where(InventoryPackage.name.in_(chunk))
            ).all()

        fresh: dict[tuple[int, str], Evaluation] = {}
        evaluated: set[int] = set()
        for pkg in packages:
            coords = Coordinates(pkg.ecosystem, pkg.name, pkg.version, pkg.scheme)
            vs = scheme(pkg.scheme)
            seen: set[str] = set()
            for stored_eco, record in names_wanted.get(pkg.name, ()):
                if record.id in seen or not ecosystem_matches(pkg.ecosystem, stored_eco):
                    continue
                seen.add(record.id)
                evaluated.add(pkg.id)
                try:
                    ev = evaluate(record, coords, vs)
                except InvalidVersionError:
                    continue
                if ev is not None:
                    fresh[(pkg.id, record.id)] = ev

        matches = table_of(PackageMatch)
        old: dict[tuple[int, str], Any] = {}
        for chunk in _chunks(ids):
            for row in s.execute(select(matches).where(matches.c.vulnerability_id.in_(chunk))):
                old[(row.package_id, row.vulnerability_id)] = row

        news: list[_News] = []
        inserts: list[dict[str, Any]] = []
        for key, ev in fresh.items():
            before = old.get(key)
            if before is None:
                inserts.append(match_row(key[0], key[1], ev, now))
                news.append(_news("new", key, ev))
            elif (before.fixed, before.rating, before.score, before.fix_state) != _state(ev):
                previous = {
                    "fixed": before.fixed,
                    "rating": before.rating,
                    "score": before.score,
                    "fix_state": before.fix_state,
                }
                s.execute(
                    update(matches)
                    .where(
                        matches.c.package_id == key[0],
                        matches.c.vulnerability_id == key[1],
                    )
                    .values(**match_row(key[0], key[1], ev, now))
                )
                news.append(_news("changed", key, ev, previous))
        gone = [key for key in old if key not in fresh]
        for key in gone:
            before = old[key]
            news.append(
                _News(
                    "resolved",
                    key[0],
                    key[1],
                    before.fixed,
                    before.rating,
                    before.score,
                    before.fix_state,
                )
            )
            s.execute(
                delete(matches).where(
                    matches.c.package_id == key[0], matches.c.vulnerability_id == key[1]
                )
            )
        if inserts:
            s.execute(insert(matches), inserts)

        news = _drop_duplicates_of_known(s, news)
        # Tens of thousands of small rows at once: keep the cyclic collector from walking the
        # growing heap again and again while they are built and written (no cycles here).
        collecting = gc.isenabled()
        gc.disable()
        try:
            alerts = _fan_out(s, news, packages, aliases, now)
            if alerts:
                lock_for_append(s)  # ids must become visible in order: webhooks keep a cursor
                s.execute(insert(_ALERT_ROWS), alerts)
        finally:
            if collecting:
                gc.enable()
    return RematchReport(
        records=len(ids),
        coordinates=len(evaluated),
        new=sum(n.kind == "new" for n in news),
        changed=sum(n.kind == "changed" for n in news),
        resolved=sum(n.kind == "resolved" for n in news),
        alerts=len(alerts),
    )


def _drop_duplicates_of_known(s: Session, news: list[_News]) -> list[_News]:
    """Drop ``new``/``resolved`` news when another record of the same alias group matches the
    same coordinate (after this run's changes): the image's vulnerability did not change."""
    interesting = [n for n in news if n.kind in ("new", "resolved")]
    if not interesting:
        return news
    reps: dict[str, str] = {}
    records = sorted({n.record for n in interesting})
    for chunk in _chunks(records):
        reps.update(
            s.execute(
                select(VulnAlias.alias, VulnAlias.vulnerability_id).where(
                    VulnAlias.alias.in_(chunk)
                )
            ).all()
        )
    members: dict[str, set[str]] = defaultdict(set)
    rep_list = sorted(set(reps.values()))
    for chunk in _chunks(rep_list):
        for alias, rep in s.execute(
            select(VulnAlias.alias, VulnAlias.vulnerability_id).where(
                VulnAlias.vulnerability_id.in_(chunk)
            )
        ):
            members[rep].add(alias)
    package_ids = sorted({n.package_id for n in interesting})
    matched: dict[int, set[str]] = defaultdict(set)
    for chunk in _chunks(package_ids):
        for pid, vid in s.execute(
            select(PackageMatch.package_id, PackageMatch.vulnerability_id).where(
                PackageMatch.package_id.in_(chunk)
            )
        ):
            matched[pid].add(vid)
    kept = []
    for n in news:
        if n.kind in ("new", "resolved"):
            group = members.get(reps.get(n.record, ""), set()) - {n.record}
            if group & matched[n.package_id]:
                continue
        kept.append(n)
    return kept


# The alerts table as the bulk insert sees it: JSON columns as their serialised text, so the
# parts shared by every image an alert fans out to are encoded once, not once per row.
_ALERT_ROWS = Table(
    "alerts",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("ts", Float),
    Column("kind", String),
    Column("project", String),
    Column("repository", String),
    Column("digest", String),
    Column("vulnerability_id", String),
    Column("aliases", Text),
    Column("package", Text),
    Column("rating", String),
    Column("score", Float),
    Column("fixed", Text),
    Column("detail", Text),
)


def _fan_out(
    s: Session,
    news: list[_News],
    packages: list[Any],
    aliases: Mapping[str, list[str]],
    now: float,
) -> list[dict[str, Any]]:
    """One alert row per (news, stored image containing its coordinate)."""
    if not news:
        return []
    coords = {p.id: p for p in packages}
    package_ids = sorted({n.package_id for n in news})
    holders: dict[int, dict[tuple[str, str], list[str]]] = defaultdict(lambda: defaultdict(list))
    for chunk in _chunks(package_ids):
        for pid, purl, repository, digest in s.execute(
            select(ScanPackage.package_id, ScanPackage.purl, ImageScan.repository, ImageScan.digest)
            .join(ImageScan, and_(ImageScan.id == ScanPackage.scan_id, ImageScan.status == "ok"))
            .where(ScanPackage.package_id.in_(chunk))
        ):
            holders[pid][(repository, digest)].append(purl)
    rows = []
    for n in news:
        pkg = coords.get(n.package_id)
        if pkg is None:  # a resolved match of a coordinate the record no longer names
            pkg = s.get(InventoryPackage, n.package_id)
            if pkg is None:
                continue
        shown, other = _shown(n.record, aliases.get(n.record, []))
        detail: dict[str, Any] = {"record": n.record, "fix_state": n.fix_state}
        if n.previous is not None:
            detail["previous"] = dict(n.previous)
        shared = {
            "ts": now,
            "kind": n.kind,
            "vulnerability_id": shown,
            "aliases": json.dumps(other),
            "rating": n.rating,
            "score": n.score,
            "fixed": json.dumps(list(n.fixed)),
            "detail": json.dumps(detail),
        }
        package_tail = json.dumps(
            {"ecosystem": pkg.ecosystem, "name": pkg.name, "version": pkg.version}
        )[1:]
        for (repository, digest), purls in holders.get(n.package_id, {}).items():
            purls.sort()
            rows.append(
                {
                    **shared,
                    "project": repository.split("/", 1)[0],
                    "repository": repository,
                    "digest": digest,
                    "package": f'{{"purls": {json.dumps(purls)}, {package_tail}',
                }
            )
    rows.sort(key=lambda r: (r["repository"], r["digest"]))
    return rows
