"""The inventory: every stored scan's packages as advisory coordinates, and their matches.

Whether an advisory affects a package depends only on its coordinate (ecosystem, name,
version), never on the image it sits in. So each distinct coordinate is evaluated once and
its matches are kept in ``package_matches``; an image's findings are the join of its packages
with those matches. A scan evaluates only coordinates the inventory has never seen; the
monitor (:mod:`.rematch`) keeps every stored match current as advisories change. Nothing here
reads an image: re-matching never rescans.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.orm import Session

from sealyard.db import Database
from sealyard.db.models import (
    ImageScan,
    InventoryPackage,
    PackageMatch,
    ScanPackage,
    Vulnerability,
    table_of,
)
from sealyard.sbom.model import Sbom
from sealyard.vulndb.ecosystems import Coordinates, coordinates
from sealyard.vulndb.index import AdvisoryIndex
from sealyard.vulndb.matcher import FIX_STATES, Evaluation, alias_groups, display_id, evaluate
from sealyard.vulndb.ratings import rating_rank
from sealyard.vulndb.versions import InvalidVersionError, scheme

__all__ = [
    "Inventory",
    "ScanSummary",
    "evaluate_coordinates",
    "inventory_coordinates",
    "match_row",
]

_CHUNK = 500


@dataclass(frozen=True)
class ScanSummary:
    scan_id: int
    packages: int
    coordinates: int
    new_coordinates: int
    skipped: int


def inventory_coordinates(
    sbom: Sbom,
) -> tuple[list[tuple[str, Coordinates]], list[tuple[str, str]]]:
    """``(purl, coordinates)`` of every matchable package, and ``(purl, reason)`` skips."""
    found: list[tuple[str, Coordinates]] = []
    skipped: list[tuple[str, str]] = []
    for package in sbom.packages:
        coords = coordinates(package, sbom.distro)
        if coords is None:
            skipped.append((package.purl, "no advisory mapping for this package type"))
            continue
        try:
            scheme(coords.scheme).cached_key(coords.version)
        except InvalidVersionError as exc:
            skipped.append((package.purl, f"version not understood: {exc}"))
            continue
        found.append((package.purl, coords))
    return found, skipped


def evaluate_coordinates(index: AdvisoryIndex, coords: Coordinates) -> list[tuple[str, Evaluation]]:
    """``(record id, evaluation)`` for every live advisory affecting ``coords``."""
    vs = scheme(coords.scheme)
    out = []
    for record in index.candidates(coords.ecosystem, coords.name):
        try:
            ev = evaluate(record, coords, vs)
        except InvalidVersionError:
            continue  # a bound this ecosystem cannot parse: the record cannot decide
        if ev is not None:
            out.append((record.id, ev))
    return out


def match_row(package_id: int, vulnerability_id: str, ev: Evaluation, now: float) -> dict[str, Any]:
    return {
        "package_id": package_id,
        "vulnerability_id": vulnerability_id,
        "fixed": list(ev.fixed),
        "rating": ev.rating,
        "score": ev.score,
        "fix_state": ev.fix_state,
        "updated_at": now,
    }


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Inventory:
    """Stored scans in ``db``: record them, read their findings."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writing --------------------------------------------------------------------------

    def _package_ids(self, s: Session, coords: Iterable[Coordinates]) -> dict[Coordinates, int]:
        wanted = {(c.ecosystem, c.name, c.version): c for c in coords}
        ids: dict[Coordinates, int] = {}
        keys = sorted(wanted)
        for chunk in _chunks(keys):
            for row in s.execute(
                select(
                    InventoryPackage.id,
                    InventoryPackage.ecosystem,
                    InventoryPackage.name,
                    InventoryPackage.version,
                ).where(
                    tuple_(
                        InventoryPackage.ecosystem, InventoryPackage.name, InventoryPackage.version
                    ).in_(list(chunk))
                )
            ):
                ids[wanted[(row.ecosystem, row.name, row.version)]] = row.id
        return ids

    def record_scan(
        self,
        *,
        repository: str,
        digest: str,
        sbom: Sbom,
        index: AdvisoryIndex,
        sbom_digest: str | None = None,
    ) -> ScanSummary:
        """Store the scan of ``repository@digest`` (replacing an earlier one) and match the
        coordinates the inventory has not seen before."""
        pairs, skipped = inventory_coordinates(sbom)
        distinct = sorted({c for _, c in pairs}, key=lambda c: (c.ecosystem, c.name, c.version))
        now = time.time()
        with self.db.session() as s:
            known = self._package_ids(s, distinct)
            new = [c for c in distinct if c not in known]
            if new:
                s.execute(
                    insert(table_of(InventoryPackage)),
                    [
                        {
                            "ecosystem": c.ecosystem,
                            "name": c.name,
                            "version": c.version,
                            "scheme": c.scheme,
                        }
                        for c in new
                    ],
                )
                ids = self._package_ids(s, new)
                rows = [
                    match_row(ids[c], vuln, ev, now)
                    for c in new
                    for vuln, ev in evaluate_coordinates(index, c)
                ]
                if rows:
                    s.execute(insert(table_of(PackageMatch)), rows)
                known.update(ids)
            s.execute(
                delete(ImageScan).where(
                    ImageScan.repository == repository, ImageScan.digest == digest
                )
            )
            scan = ImageScan(
                repository=repository,
                digest=digest,
                status="ok",
                distro=(
                    f"{sbom.distro.id} {sbom.distro.version_id}".strip() if sbom.distro else None
                ),
                sbom_digest=sbom_digest,
                packages=len(sbom.packages),
                skipped=[list(x) for x in skipped[:1000]],
                scanned_at=now,
            )
            s.add(scan)
            s.flush()
            links = sorted({(known[c], purl) for purl, c in pairs})
            if links:
                s.execute(
                    insert(table_of(ScanPackage)),
                    [{"scan_id": scan.id, "package_id": pid, "purl": purl} for pid, purl in links],
                )
            return ScanSummary(scan.id, len(sbom.packages), len(distinct), len(new), len(skipped))

    def record_failure(self, *, repository: str, digest: str, error: str) -> None:
        """Remember that ``repository@digest`` could not be scanned, and why."""
        with self.db.session() as s:
            s.execute(
                delete(ImageScan).where(
                    ImageScan.repository == repository, ImageScan.digest == digest
                )
            )
            s.add(
                ImageScan(
                    repository=repository,
                    digest=digest,
                    status="failed",
                    error=error[:4000],
                    scanned_at=time.time(),
                )
            )

    # -- reading --------------------------------------------------------------------------

    def scan(self, repository: str, digest: str) -> dict[str, Any] | None:
        """The stored scan record of ``repository@digest`` (``None`` when never scanned)."""
        with self.db.session() as s:
            row = s.scalars(
                select(ImageScan).where(
                    ImageScan.repository == repository, ImageScan.digest == digest
                )
            ).first()
            if row is None:
                return None
            return {
                "repository": row.repository,
                "digest": row.digest,
                "status": row.status,
                "error": row.error,
                "distro": row.distro,
                "sbom": row.sbom_digest,
                "packages": row.packages,
                "skipped": len(row.skipped),
                "scanned_at": row.scanned_at,
            }

    def findings(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """Current findings of a stored scan, aliases merged per package, worst first."""
        with self.db.session() as s:
            scan_id = s.scalar(
                select(ImageScan.id).where(
                    ImageScan.repository == repository, ImageScan.digest == digest
                )
            )
            if scan_id is None:
                return []
            rows = s.execute(
                select(
                    ScanPackage.purl,
                    InventoryPackage.ecosystem,
                    InventoryPackage.name,
                    InventoryPackage.version,
                    InventoryPackage.scheme,
                    PackageMatch.vulnerability_id,
                    PackageMatch.fixed,
                    PackageMatch.rating,
                    PackageMatch.score,
                    PackageMatch.fix_state,
                    Vulnerability.aliases,
                    Vulnerability.summary,
                )
                .join(InventoryPackage, InventoryPackage.id == ScanPackage.package_id)
                .join(PackageMatch, PackageMatch.package_id == ScanPackage.package_id)
                .join(Vulnerability, Vulnerability.id == PackageMatch.vulnerability_id)
                .where(ScanPackage.scan_id == scan_id)
            ).all()
        by_purl: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_purl[row.purl].append(row)
        out = []
        for purl, matches in by_purl.items():
            out += _merged(purl, matches)
        out.sort(
            key=lambda f: (-rating_rank(f["rating"]), f["package"]["purl"], f["vulnerability"])
        )
        return out


def _state(value: str | None) -> str:
    return value if value in FIX_STATES else "unfixed"


def _version_key(name: str) -> Callable[[str], Any]:
    vs = scheme(name)

    def key(version: str) -> Any:
        try:
            return (0, vs.cached_key(version), version)
        except InvalidVersionError:
            return (1, None, version)

    return key


def _merged(purl: str, matches: list[Any]) -> list[dict[str, Any]]:
    """One finding per alias group among one package's matches (like the matcher's merge)."""
    out = []
    for names, members in alias_groups(matches, lambda m: (m.vulnerability_id, *m.aliases)):
        records = sorted(m.vulnerability_id for m in members)
        shown = display_id(names, records)
        fixed = sorted({v for m in members for v in m.fixed}, key=_version_key(members[0].scheme))
        scores = [m.score for m in members if m.score is not None]
        first = members[0]
        out.append(
            {
                "vulnerability": shown,
                "aliases": sorted(names - {shown}),
                "records": records,
                "package": {
                    "purl": purl,
                    "ecosystem": first.ecosystem,
                    "name": first.name,
                    "version": first.version,
                },
                "fixedVersions": fixed,
                "fixState": "fixed"
                if fixed
                else min((_state(m.fix_state) for m in members), key=FIX_STATES.index),
                "rating": max((m.rating for m in members), key=rating_rank),
                "cvssScore": max(scores) if scores else None,
                "summary": next((m.summary for m in members if m.summary), ""),
            }
        )
    return out
