"""Match an SBOM against the advisory store: one :class:`Finding` per (package, vulnerability).

Each package is mapped to its advisory coordinates (:mod:`.ecosystems`), the store returns
candidate records by (ecosystem, name) through its index, and OSV's evaluation decides with
the ecosystem's own version ordering (:func:`evaluate`). Records of one package that are
aliases of each other (a DSA and the CVE it fixes, a GHSA and its PYSEC twin) become one
finding that lists them all. Packages that cannot be matched (no mapping, or a version the
ecosystem's grammar refuses) are reported as ``skipped``, never silently dropped.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

from sealyard.sbom.model import Package, Sbom
from sealyard.vulndb.cvss import score_of
from sealyard.vulndb.ecosystems import Coordinates, coordinates
from sealyard.vulndb.index import AdvisoryIndex
from sealyard.vulndb.osv import Affected, OsvRecord, vulnerable_and_fixed
from sealyard.vulndb.ratings import Rating, normalise_rating, rating_rank
from sealyard.vulndb.store import AdvisoryStore, affected_for
from sealyard.vulndb.versions import InvalidVersionError, VersionScheme, scheme

__all__ = [
    "FIX_STATES",
    "Evaluation",
    "Finding",
    "MatchResult",
    "alias_groups",
    "display_id",
    "evaluate",
    "match_sbom",
]

_T = TypeVar("_T")

#: ``fixed``: an upgrade exists; ``unfixed``: none yet; ``will_not_fix``: the distro decided
#: not to fix it (e.g. Debian ``nodsa … ignored``); ``end_of_life``: the release lost support.
FIX_STATES = ("fixed", "unfixed", "will_not_fix", "end_of_life")
_DEBIAN_STATUS = {"unfixed": "unfixed", "end-of-life": "end_of_life"}


@dataclass(frozen=True)
class Evaluation:
    """How one advisory record affects one package version."""

    fixed: tuple[str, ...]
    fix_state: str
    severity: tuple[Mapping[str, str], ...]
    score: float | None
    rating: Rating


@dataclass(frozen=True)
class Finding:
    """A vulnerability of a package; ``records`` are the advisory records merged into it.

    ``vulnerability`` is the identifier shown to people: the CVE when the records name one,
    otherwise the smallest record id; ``aliases`` holds every other identifier.
    """

    vulnerability: str
    aliases: tuple[str, ...]
    package: Package
    coordinates: Coordinates
    fixed: tuple[str, ...]
    summary: str
    severity: tuple[Mapping[str, str], ...]
    fix_state: str = "unfixed"
    rating: Rating = "UNKNOWN"
    cvss_score: float | None = None
    records: tuple[str, ...] = ()

    @property
    def score(self) -> tuple[float | None, str | None]:
        """The highest CVSS score among the advisories' vectors, and its CVSS rating.

        A v4.0 score includes the threat and environmental metrics its vector carries.
        """
        scored = [score_of(s.get("score", "")) for s in self.severity]
        return max(
            (s for s in scored if s[0] is not None), default=(None, None), key=lambda s: s[0] or 0.0
        )

    @property
    def identifiers(self) -> frozenset[str]:
        return frozenset((self.vulnerability, *self.aliases, *self.records))

    def to_dict(self) -> dict[str, object]:
        return {
            "vulnerability": self.vulnerability,
            "aliases": list(self.aliases),
            "records": list(self.records),
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
            "fixState": self.fix_state,
            "summary": self.summary,
            "severity": [dict(s) for s in self.severity],
            "cvssScore": self.cvss_score,
            "rating": self.rating,
        }


@dataclass
class MatchResult:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (purl, reason)


_score = lru_cache(maxsize=65536)(score_of)  # vectors repeat across advisories


def _fix_state(fixed: set[str], entries: Iterable[Affected]) -> str:
    if fixed:
        return "fixed"
    for entry in entries:
        state = entry.ecosystem_specific.get("fix_state")
        if state in FIX_STATES:
            return str(state)
        status = entry.database_specific.get("status")
        if isinstance(status, str) and status in _DEBIAN_STATUS:
            return _DEBIAN_STATUS[status]
    return "unfixed"


def _label_rating(record: OsvRecord, entries: Iterable[Affected]) -> Rating:
    """The advisory's own rating when it carries no CVSS vector (GHSA, Debian urgency …)."""
    labels: list[object] = []
    for entry in entries:
        labels += [entry.ecosystem_specific.get(k) for k in ("severity", "urgency")]
        labels += [entry.database_specific.get(k) for k in ("severity", "urgency")]
    labels.append(record.database_specific.get("severity"))
    labels += [s.get("score") for s in record.severity if not s.get("type", "").startswith("CVSS")]
    found = [r for r in (normalise_rating(label) for label in labels) if r is not None]
    return max(found, key=rating_rank, default="UNKNOWN")


def evaluate(
    record: OsvRecord,
    coords: Coordinates,
    vs: VersionScheme,
    entries: Sequence[Affected] | None = None,
) -> Evaluation | None:
    """How ``record`` affects the package at ``coords``; ``None`` when it does not.

    ``entries`` are the record's ``affected`` entries for this package when the caller has
    them (:meth:`AdvisoryIndex.entries`); otherwise they are picked here.

    Raises:
        InvalidVersionError: a range bound of the record does not parse in ``vs``.
    """
    if entries is None:
        entries = affected_for(record, coords.ecosystem, coords.name)
    hit = False
    fixed: set[str] = set()
    for entry in entries:
        entry_hit, entry_fixed = vulnerable_and_fixed(entry, coords.version, vs)
        if entry_hit:
            hit = True
            fixed.update(entry_fixed)
    if not hit:
        return None
    key = (coords.ecosystem, coords.name)
    rated = record.derived.get(key)
    if rated is None:
        rated = record.derived[key] = _rate(record, entries)
    severity, score, rating = rated
    return Evaluation(
        fixed=tuple(sorted(fixed, key=vs.cached_key)) if len(fixed) > 1 else tuple(fixed),
        fix_state=_fix_state(fixed, entries),
        severity=severity,
        score=score,
        rating=rating,
    )


def _rate(
    record: OsvRecord, entries: Sequence[Affected]
) -> tuple[tuple[Mapping[str, str], ...], float | None, Rating]:
    """Severity vectors, best CVSS score and rating of ``record`` for one package: the same
    for every version, so :func:`evaluate` keeps them on the record."""
    severity = tuple(s for e in entries for s in e.severity) or record.severity
    scored = [_score(s.get("score", "")) for s in severity]
    score, cvss_rating = max(
        (s for s in scored if s[0] is not None), default=(None, None), key=lambda s: s[0] or 0.0
    )
    rating: Rating = cvss_rating if cvss_rating is not None else _label_rating(record, entries)
    return severity, score, rating


def display_id(identifiers: Iterable[str], records: Sequence[str]) -> str:
    """The identifier a vulnerability is shown by: its CVE when one is known (the smallest,
    if an alias group joined several), otherwise the smallest record id."""
    cves = sorted(i for i in identifiers if i.startswith("CVE-"))
    return cves[0] if cves else min(records)


def alias_groups(
    items: Iterable[_T], names_of: Callable[[_T], Iterable[str]]
) -> list[tuple[set[str], list[_T]]]:
    """``items`` grouped so that any two sharing an identifier (id or alias) are together,
    with each group's identifiers; groups in order of their last member."""
    owner: dict[str, int] = {}  # identifier -> group number
    groups: dict[int, tuple[set[str], list[_T]]] = {}
    for number, item in enumerate(items):
        names = set(names_of(item))
        merged_names, members = set(names), [item]
        for other in {owner[n] for n in names if n in owner}:
            other_names, other_members = groups.pop(other)
            merged_names |= other_names
            members += other_members
        groups[number] = (merged_names, members)
        for n in merged_names:
            owner[n] = number
    return list(groups.values())


def _merge(
    package: Package,
    coords: Coordinates,
    vs: VersionScheme,
    hits: list[tuple[OsvRecord, Evaluation]],
) -> list[Finding]:
    """One finding per alias group among ``hits`` (records sharing any identifier)."""
    findings = []
    for names, members in alias_groups(hits, lambda hit: (hit[0].id, *hit[0].aliases)):
        if len(members) == 1:  # the common case: one record, nothing to merge
            record, ev = members[0]
            shown = display_id(names, [record.id])
            findings.append(
                Finding(
                    vulnerability=shown,
                    aliases=tuple(sorted(names - {shown})),
                    package=package,
                    coordinates=coords,
                    fixed=ev.fixed,
                    summary=record.summary,
                    severity=ev.severity,
                    fix_state=ev.fix_state,
                    rating=ev.rating,
                    cvss_score=ev.score,
                    records=(record.id,),
                )
            )
            continue
        members.sort(key=lambda m: m[0].id)
        record_ids = [r.id for r, _ in members]
        shown = display_id(names, record_ids)
        fixed = {v for _, ev in members for v in ev.fixed}
        scores = [ev.score for _, ev in members if ev.score is not None]
        severity: dict[tuple[str, str], Mapping[str, str]] = {}
        for _, ev in members:
            for s in ev.severity:
                severity.setdefault((s.get("type", ""), s.get("score", "")), s)
        findings.append(
            Finding(
                vulnerability=shown,
                aliases=tuple(sorted(names - {shown})),
                package=package,
                coordinates=coords,
                fixed=tuple(sorted(fixed, key=vs.cached_key)) if len(fixed) > 1 else tuple(fixed),
                summary=next((r.summary for r, _ in members if r.summary), ""),
                severity=tuple(severity.values()),
                fix_state="fixed"
                if fixed
                else min((ev.fix_state for _, ev in members), key=FIX_STATES.index),
                rating=max((ev.rating for _, ev in members), key=rating_rank),
                cvss_score=max(scores) if scores else None,
                records=tuple(record_ids),
            )
        )
    return findings


def match_sbom(sbom: Sbom, store: AdvisoryStore | AdvisoryIndex) -> MatchResult:
    """Findings of ``sbom``; ``store`` may be an :class:`AdvisoryIndex` for repeated use.

    The cyclic garbage collector is paused while matching: it builds thousands of small,
    acyclic objects, and collections triggered by them only re-walk the heap (a third of the
    time on a 1,000-package SBOM).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _match(sbom, store)
    finally:
        if collecting:
            gc.enable()


def _match(sbom: Sbom, store: AdvisoryStore | AdvisoryIndex) -> MatchResult:
    result = MatchResult()
    cache: dict[tuple[str, str], Sequence[tuple[OsvRecord, Sequence[Affected] | None]]] = {}
    for package in sbom.packages:
        coords = coordinates(package, sbom.distro)
        if coords is None:
            result.skipped.append((package.purl, "no advisory mapping for this package type"))
            continue
        try:
            vs = scheme(coords.scheme)
            vs.cached_key(coords.version)
        except InvalidVersionError as exc:
            result.skipped.append((package.purl, f"version not understood: {exc}"))
            continue
        key = (coords.ecosystem, coords.name)
        pairs = cache.get(key)
        if pairs is None:
            pairs = cache[key] = (
                store.lookup(*key)
                if isinstance(store, AdvisoryIndex)
                else [(r, None) for r in store.candidates(*key)]
            )
        hits = []
        for record, entries in pairs:
            try:
                ev = evaluate(record, coords, vs, entries)
            except InvalidVersionError as exc:
                result.skipped.append((package.purl, f"{record.id}: bound not understood: {exc}"))
                continue
            if ev is not None:
                hits.append((record, ev))
        if hits:
            result.findings.extend(_merge(package, coords, vs, hits))
    result.findings.sort(key=lambda f: (f.package.sort_key, f.vulnerability))
    return result
