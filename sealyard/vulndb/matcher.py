"""Match an SBOM against the advisory store: one :class:`Finding` per (package, advisory).

Each package is mapped to its advisory coordinates (:mod:`.ecosystems`), the store returns
candidate records by (ecosystem, name) through its index, and OSV's evaluation decides with
the ecosystem's own version ordering. Packages that cannot be matched (no mapping, or a
version the ecosystem's grammar refuses) are reported as ``skipped``, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sealyard.sbom.model import Package, Sbom
from sealyard.vulndb.cvss import score_of
from sealyard.vulndb.ecosystems import Coordinates, coordinates
from sealyard.vulndb.index import AdvisoryIndex
from sealyard.vulndb.osv import OsvRecord, affects, fixed_versions
from sealyard.vulndb.store import AdvisoryStore, affected_for
from sealyard.vulndb.versions import InvalidVersionError, scheme

__all__ = ["Finding", "MatchResult", "match_sbom"]


@dataclass(frozen=True)
class Finding:
    vulnerability: str
    aliases: tuple[str, ...]
    package: Package
    coordinates: Coordinates
    fixed: tuple[str, ...]
    summary: str
    severity: tuple[Mapping[str, str], ...]

    @property
    def score(self) -> tuple[float | None, str | None]:
        """The highest CVSS base score among the advisory's vectors, and its rating."""
        scored = [score_of(s.get("score", "")) for s in self.severity]
        best = max(
            (s for s in scored if s[0] is not None), default=(None, None), key=lambda s: s[0] or 0.0
        )
        return best

    def to_dict(self) -> dict[str, object]:
        return {
            "vulnerability": self.vulnerability,
            "aliases": list(self.aliases),
            "package": {
                "name": self.package.name,
                "version": self.package.version,
                "type": self.package.type,
                "purl": self.package.purl,
            },
            "advisoryPackage": {
                "ecosystem": self.coordinates.ecosystem,
                "name": self.coordinates.name,
                "version": self.coordinates.version,
            },
            "fixedVersions": list(self.fixed),
            "summary": self.summary,
            "severity": [dict(s) for s in self.severity],
            "cvssScore": self.score[0],
            "rating": self.score[1],
        }


@dataclass
class MatchResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (purl, reason)


def _severity(record: OsvRecord, ecosystem: str, name: str) -> tuple[Mapping[str, str], ...]:
    own = [s for a in affected_for(record, ecosystem, name) for s in a.severity]
    return tuple(own) or record.severity


def match_sbom(sbom: Sbom, store: AdvisoryStore | AdvisoryIndex) -> MatchResult:
    """Findings of ``sbom``; ``store`` may be an :class:`AdvisoryIndex` for repeated use."""
    result = MatchResult()
    cache: dict[tuple[str, str], list[OsvRecord]] = {}
    for package in sbom.packages:
        coords = coordinates(package, sbom.distro)
        if coords is None:
            result.skipped.append((package.purl, "no advisory mapping for this package type"))
            continue
        try:
            vs = scheme(coords.scheme)
            vs.key(coords.version)
        except InvalidVersionError as exc:
            result.skipped.append((package.purl, f"version not understood: {exc}"))
            continue
        records = cache.setdefault(
            (coords.ecosystem, coords.name), store.candidates(coords.ecosystem, coords.name)
        )
        for record in records:
            hit = False
            fixed: set[str] = set()
            for affected in affected_for(record, coords.ecosystem, coords.name):
                try:
                    if affects(affected, coords.version, vs):
                        hit = True
                        fixed.update(fixed_versions(affected, coords.version, vs))
                except InvalidVersionError as exc:
                    result.skipped.append(
                        (package.purl, f"{record.id}: bound not understood: {exc}")
                    )
            if hit:
                result.findings.append(
                    Finding(
                        vulnerability=record.id,
                        aliases=record.aliases,
                        package=package,
                        coordinates=coords,
                        fixed=tuple(sorted(fixed, key=vs.key)),
                        summary=record.summary,
                        severity=_severity(record, coords.ecosystem, coords.name),
                    )
                )
    result.findings.sort(key=lambda f: (f.package.sort_key, f.vulnerability))
    return result
