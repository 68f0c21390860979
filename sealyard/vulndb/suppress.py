"""Judge findings against VEX documents and the allowlist: active, suppressed, and why.

Nothing is dropped: :func:`apply` splits findings into ``active`` and ``suppressed`` and
every suppressed finding carries the :class:`Assessment` that suppressed it (which document
and statement, or which allowlist entry; status, justification, reason, expiry), so every
report format can show it.

Precedence, for each finding:

1. the latest VEX statement covering it (:meth:`~sealyard.vulndb.vex.VexSet.decide`)
   suppresses it when its status is ``not_affected`` or ``fixed``;
2. otherwise an unexpired allowlist entry covering it suppresses it (accepted risk);
3. otherwise it stays active. A VEX ``affected`` or ``under_investigation`` statement never
   suppresses; it is attached to the finding (``vex``) and an ``affected`` statement with an
   action statement is also raised as a warning.

Expired allowlist entries suppress nothing and each is raised as a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sealyard.sbom.formats import _common
from sealyard.sbom.formats.cyclonedx import package_bom_ref
from sealyard.sbom.model import Package, Sbom
from sealyard.vulndb.allowlist import Allowlist, AllowlistEntry
from sealyard.vulndb.matcher import Finding
from sealyard.vulndb.ratings import RATINGS, rating_at_least
from sealyard.vulndb.vex import Target, VexDocument, VexMatch, VexSet

__all__ = [
    "Assessment",
    "BomRefs",
    "Judged",
    "Judgement",
    "JudgementWarning",
    "apply",
    "identifiers_of",
    "rating_of",
]


def rating_of(finding: Finding) -> str:
    """The finding's rating (CVSS, else the advisory's own), ``UNKNOWN`` when there is none."""
    rating = finding.rating or finding.score[1]
    return rating.upper() if rating else "UNKNOWN"


def identifiers_of(finding: Finding) -> tuple[str, ...]:
    """Every identifier of the finding (its id first, then aliases and merged record ids)."""
    rest = sorted(finding.identifiers - {finding.vulnerability})
    return (finding.vulnerability, *rest)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Assessment:
    """What a VEX statement or an allowlist entry says about a finding.

    Attributes:
        by: ``vex`` or ``allowlist``.
        source: the VEX document (its id, else its file) or the allowlist file.
        ref: the statement (``@id``, ``statements[3]``) or entry (``entries[0]``).
        status: OpenVEX status for VEX; ``accepted`` for the allowlist.
        label: the status as the document wrote it (CycloneDX ``false_positive`` …).
        justification: the VEX justification label.
        reason: the VEX impact statement / CycloneDX detail, or the allowlist reason.
        action: the VEX action statement (for ``affected``).
        timestamp: when the VEX statement was made.
        expires: when the allowlist entry stops applying.
        expires_text: the expiry as the allowlist wrote it.
    """

    by: Literal["vex", "allowlist"]
    source: str
    ref: str
    status: str
    label: str = ""
    justification: str = ""
    reason: str = ""
    action: str = ""
    timestamp: datetime | None = None
    expires: datetime | None = None
    expires_text: str = ""

    @classmethod
    def from_vex(cls, match: VexMatch) -> Assessment:
        stmt = match.statement
        return cls(
            by="vex",
            source=match.document.name,
            ref=stmt.ref,
            status=stmt.status,
            label=stmt.label or stmt.status,
            justification=stmt.justification,
            reason=stmt.impact_statement,
            action=stmt.action_statement,
            timestamp=match.timestamp,
        )

    @classmethod
    def from_entry(cls, entry: AllowlistEntry, source: str) -> Assessment:
        return cls(
            by="allowlist",
            source=source,
            ref=entry.ref or entry.id,
            status="accepted",
            label="accepted",
            reason=entry.reason,
            expires=entry.expires,
            expires_text=entry.expires_text,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "source": self.source,
            "ref": self.ref,
            "status": self.status,
            "label": self.label,
            "justification": self.justification,
            "reason": self.reason,
            "action": self.action,
            "timestamp": _iso(self.timestamp),
            "expires": _iso(self.expires),
            "expiresAsWritten": self.expires_text or None,
        }


@dataclass(frozen=True)
class Judged:
    """A finding with its verdict: ``suppressed_by`` (``None``: active) and VEX context."""

    finding: Finding
    suppressed_by: Assessment | None = None
    vex: Assessment | None = None

    @property
    def suppressed(self) -> bool:
        return self.suppressed_by is not None

    @property
    def rating(self) -> str:
        return rating_of(self.finding)

    def to_dict(self) -> dict[str, Any]:
        doc = self.finding.to_dict()
        doc["rating"] = self.rating
        doc["vex"] = None if self.vex is None else self.vex.to_dict()
        doc["suppression"] = None if self.suppressed_by is None else self.suppressed_by.to_dict()
        return doc


@dataclass(frozen=True)
class JudgementWarning:
    """Something a person should look at: an expired entry, an ``affected`` VEX statement."""

    kind: Literal["allowlist-expired", "vex-affected"]
    message: str
    source: str = ""
    ref: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message, "source": self.source, "ref": self.ref}


@dataclass(frozen=True)
class Judgement:
    """The findings of a scan after VEX and the allowlist, in the order they were given."""

    active: tuple[Judged, ...] = ()
    suppressed: tuple[Judged, ...] = ()
    warnings: tuple[JudgementWarning, ...] = ()

    def at_or_above(self, threshold: str) -> tuple[Judged, ...]:
        """Active findings rated ``threshold`` or higher (``UNKNOWN`` < ``NONE`` < ``LOW`` …).

        Raises:
            ValueError: ``threshold`` is not a rating.
        """
        if threshold.upper() not in RATINGS:
            raise ValueError(f"unknown rating {threshold!r}")
        return tuple(j for j in self.active if rating_at_least(j.rating, threshold.upper()))


class BomRefs:
    """The ``bom-ref`` Sealyard's CycloneDX SBOM gives each package of ``sbom``.

    Packages are matched by equality (they are not hashable: ``metadata`` is a mapping).
    """

    def __init__(self, sbom: Sbom) -> None:
        self._by_purl: dict[str, list[tuple[Package, str]]] = {}
        for ip in _common.identified_packages(sbom):
            entry = (ip.package, package_bom_ref(ip.id))
            self._by_purl.setdefault(ip.package.purl, []).append(entry)

    def ref(self, package: Package) -> str:
        """The package's ``bom-ref``, or ``""`` when it is not in the SBOM."""
        for candidate, ref in self._by_purl.get(package.purl, ()):
            if candidate is package or candidate == package:
                return ref
        return ""


def _vex_set(vex: VexSet | Sequence[VexDocument]) -> VexSet:
    return vex if isinstance(vex, VexSet) else VexSet(tuple(vex))


def _affected_warning(finding: Finding, match: VexMatch) -> JudgementWarning:
    pkg = finding.package
    return JudgementWarning(
        kind="vex-affected",
        message=(
            f"{finding.vulnerability} in {pkg.name} {pkg.version}: "
            f"VEX says affected; action: {match.statement.action_statement}"
        ),
        source=match.document.name,
        ref=match.statement.ref,
    )


def _expired_warning(
    entry: AllowlistEntry, source: str, findings: Sequence[Finding]
) -> JudgementWarning:
    hits = sum(1 for f in findings if entry.covers(identifiers_of(f), f.package.purl))
    would = f"; it would have suppressed {hits} finding(s)" if hits else ""
    return JudgementWarning(
        kind="allowlist-expired",
        message=(
            f"allowlist entry {entry.id} ({entry.ref}) expired on "
            f"{entry.expires_text or _iso(entry.expires)} and suppresses nothing{would}"
        ),
        source=source,
        ref=entry.ref,
    )


def apply(
    findings: Iterable[Finding],
    *,
    now: datetime,
    vex: VexSet | Sequence[VexDocument] = (),
    allowlist: Allowlist | None = None,
    sbom: Sbom | None = None,
) -> Judgement:
    """Split ``findings`` into active and suppressed (see the module docstring).

    ``sbom`` (the scanned image's) lets VEX documents name the image (``pkg:oci`` purl or
    manifest digest) and Sealyard's package ``bom-ref``s; without it only package purls match.

    Raises:
        ValueError: ``now`` has no time zone.
    """
    if now.tzinfo is None:
        raise ValueError("apply() needs a timezone-aware 'now'")
    documents = _vex_set(vex)
    refs = BomRefs(sbom) if sbom is not None else None
    image_purl = (_common.image_purl(sbom.image) or "") if sbom is not None else ""
    digests: tuple[str, ...] = ()
    if sbom is not None:
        digests = tuple(d for d in (sbom.image.manifest_digest, *sbom.image.repo_digests) if d)

    listed = list(findings)
    active: list[Judged] = []
    suppressed: list[Judged] = []
    warnings: list[JudgementWarning] = []
    for finding in listed:
        ids = identifiers_of(finding)
        target = Target(
            purl=finding.package.purl,
            bom_ref=refs.ref(finding.package) if refs is not None else "",
            image_purl=image_purl,
            image_digests=digests,
        )
        match = documents.decide(ids, target)
        said = Assessment.from_vex(match) if match is not None else None
        verdict: Assessment | None = None
        if match is not None and match.statement.suppresses:
            verdict = said
        elif allowlist is not None:
            entry = allowlist.find(ids, finding.package.purl, now)
            if entry is not None:
                verdict = Assessment.from_entry(entry, allowlist.source)
        judged = Judged(finding, verdict, said)
        (suppressed if verdict is not None else active).append(judged)
        if (
            match is not None
            and match.statement.status == "affected"
            and match.statement.action_statement
        ):
            warnings.append(_affected_warning(finding, match))
    if allowlist is not None:
        warnings.extend(
            _expired_warning(e, allowlist.source, listed) for e in allowlist.expired(now)
        )
    return Judgement(tuple(active), tuple(suppressed), tuple(warnings))
