"""OSV records (https://ossf.github.io/osv-schema/): a typed model and the exact evaluation.

``OsvRecord.from_dict`` validates the parts Sealyard relies on and keeps the rest as data.
:func:`affects` implements the schema's ``IsVulnerable`` pseudocode to the letter:

* explicit ``versions`` lists match by equality;
* each ``SEMVER``/``ECOSYSTEM`` range is evaluated on its events sorted by version (``"0"``
  sorts before everything): ``introduced`` switches to vulnerable when ``v >= introduced``,
  ``fixed`` back to safe when ``v >= fixed``, ``last_affected`` when ``v > last_affected``;
* a range with ``limit`` events applies only below at least one limit (``"*"`` = infinity);
* ``GIT`` ranges need the repository's commit graph and are not evaluated (their enumerated
  ``versions`` still are).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sealyard.errors import UntrustedDataError
from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme

__all__ = [
    "Affected",
    "Event",
    "OsvError",
    "OsvRecord",
    "Range",
    "affects",
    "fixed_versions",
    "vulnerable_and_fixed",
]

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_MAX_EVENTS = 10_000


class OsvError(UntrustedDataError):
    """An OSV record violates the schema in a way that would make matching wrong."""


@dataclass(frozen=True)
class Event:
    kind: str  # introduced | fixed | last_affected | limit
    version: str


@dataclass(frozen=True)
class Range:
    type: str  # SEMVER | ECOSYSTEM | GIT
    events: tuple[Event, ...]
    repo: str = ""

    @cached_property
    def compiled(self) -> dict[object, Any]:
        """Per version scheme: this range prepared for evaluation (see ``_compiled``)."""
        return {}


@dataclass(frozen=True)
class Affected:
    ecosystem: str
    name: str
    purl: str = ""
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    ecosystem_specific: Mapping[str, Any] = field(default_factory=dict)
    database_specific: Mapping[str, Any] = field(default_factory=dict)
    severity: tuple[Mapping[str, str], ...] = ()

    @cached_property
    def version_set(self) -> frozenset[str]:
        """``versions`` as a set: advisories often list hundreds of affected versions."""
        return frozenset(self.versions)


@dataclass(frozen=True)
class OsvRecord:
    id: str
    modified: datetime
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    published: datetime | None = None
    withdrawn: datetime | None = None
    summary: str = ""
    details: str = ""
    severity: tuple[Mapping[str, str], ...] = ()
    affected: tuple[Affected, ...] = ()
    references: tuple[Mapping[str, str], ...] = ()
    database_specific: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def derived(self) -> dict[Any, Any]:
        """Facts computed from this record by its users and kept with it (e.g. the matcher's
        rating per package), so they are computed once per loaded record."""
        return {}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> OsvRecord:
        """Parse an OSV document. Raises OsvError with the offending field named."""
        if not isinstance(doc, Mapping):
            raise OsvError("an OSV record must be a JSON object")
        ident = doc.get("id")
        if not isinstance(ident, str) or not ident:
            raise OsvError("OSV record without an id")
        return cls(
            id=ident,
            modified=_required_time(doc.get("modified"), f"{ident}: modified"),
            aliases=_strings(doc.get("aliases"), f"{ident}: aliases"),
            related=_strings(doc.get("related"), f"{ident}: related"),
            published=_time(doc.get("published"), f"{ident}: published"),
            withdrawn=_time(doc.get("withdrawn"), f"{ident}: withdrawn"),
            summary=str(doc.get("summary") or ""),
            details=str(doc.get("details") or ""),
            severity=_severity(doc.get("severity"), ident),
            affected=tuple(
                _affected(a, f"{ident}: affected[{i}]")
                for i, a in enumerate(_list(doc.get("affected"), f"{ident}: affected"))
            ),
            references=tuple(
                r
                for r in _list(doc.get("references"), f"{ident}: references")
                if isinstance(r, Mapping)
            ),
            database_specific=_mapping(doc.get("database_specific")),
        )


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OsvError(f"{where} must be a list")
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = _list(value, where)
    if not all(isinstance(v, str) for v in items):
        raise OsvError(f"{where} must hold strings")
    return tuple(items)


def _time(value: Any, where: str, *, required: bool = False) -> datetime | None:
    if value is None or value == "":
        if required:
            raise OsvError(f"{where} is required")
        return None
    if not isinstance(value, str):
        raise OsvError(f"{where} must be an RFC 3339 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise OsvError(f"{where}: {value!r} is not an RFC 3339 time") from exc
    if parsed.tzinfo is None:
        raise OsvError(f"{where}: {value!r} has no time zone")
    return parsed


def _required_time(value: Any, where: str) -> datetime:
    parsed = _time(value, where, required=True)
    assert parsed is not None
    return parsed


def _severity(value: Any, where: str) -> tuple[Mapping[str, str], ...]:
    out = []
    for item in _list(value, f"{where}: severity"):
        if (
            isinstance(item, Mapping)
            and isinstance(item.get("type"), str)
            and isinstance(item.get("score"), str)
        ):
            out.append({"type": item["type"], "score": item["score"]})
    return tuple(out)


def _range(value: Any, where: str) -> Range:
    if not isinstance(value, Mapping):
        raise OsvError(f"{where} must be an object")
    kind = value.get("type")
    if kind not in ("SEMVER", "ECOSYSTEM", "GIT"):
        raise OsvError(f"{where}: unknown range type {kind!r}")
    raw_events = _list(value.get("events"), f"{where}.events")
    if len(raw_events) > _MAX_EVENTS:
        raise OsvError(f"{where}: more than {_MAX_EVENTS} events")
    events = []
    for j, raw in enumerate(raw_events):
        keys = [k for k in _EVENT_KINDS if isinstance(raw, Mapping) and k in raw]
        if len(keys) != 1 or not isinstance(raw[keys[0]], str):
            raise OsvError(f"{where}.events[{j}] must hold exactly one string event")
        events.append(Event(keys[0], raw[keys[0]]))
    if not any(e.kind == "introduced" for e in events):
        raise OsvError(f"{where}: a range needs at least one 'introduced' event")
    kinds = {e.kind for e in events}
    if {"fixed", "last_affected"} <= kinds:
        raise OsvError(f"{where}: 'fixed' and 'last_affected' cannot be mixed in one range")
    return Range(str(kind), tuple(events), str(value.get("repo") or ""))


def _affected(value: Any, where: str) -> Affected:
    if not isinstance(value, Mapping):
        raise OsvError(f"{where} must be an object")
    package = value.get("package")
    if not isinstance(package, Mapping):
        raise OsvError(f"{where}.package is required")
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if not isinstance(ecosystem, str) or not isinstance(name, str) or not ecosystem or not name:
        raise OsvError(f"{where}.package needs ecosystem and name")
    return Affected(
        ecosystem=ecosystem,
        name=name,
        purl=str(package.get("purl") or ""),
        ranges=tuple(
            _range(r, f"{where}.ranges[{i}]")
            for i, r in enumerate(_list(value.get("ranges"), f"{where}.ranges"))
        ),
        versions=_strings(value.get("versions"), f"{where}.versions"),
        ecosystem_specific=_mapping(value.get("ecosystem_specific")),
        database_specific=_mapping(value.get("database_specific")),
        severity=_severity(value.get("severity"), where),
    )


def _event_key(event: Event, scheme: VersionScheme) -> tuple[int, Any]:
    if event.kind == "introduced" and event.version == "0":
        return (0, None)
    if event.kind == "limit" and "*" in event.version:
        return (2, None)
    return (1, scheme.cached_key(event.version))


@dataclass(frozen=True)
class _Compiled:
    """A range prepared for one scheme: limit keys and the ordered events with their keys."""

    limits: tuple[Any, ...] | None  # None: no limit; a '*' limit is no restriction either
    ordered: tuple[tuple[str, Any], ...]  # (kind, key); key None for introduced "0"
    fixed: tuple[tuple[Any, str], ...]  # (key, version) of each fixed event


def _compile(events: tuple[Event, ...], scheme: VersionScheme) -> _Compiled:
    limit_events = [e for e in events if e.kind == "limit"]
    limits = None
    if limit_events and not any("*" in e.version for e in limit_events):
        limits = tuple(scheme.cached_key(e.version) for e in limit_events)
    ordered = sorted((e for e in events if e.kind != "limit"), key=lambda e: _event_key(e, scheme))
    return _Compiled(
        limits,
        tuple(
            (
                e.kind,
                None
                if e.kind == "introduced" and e.version == "0"
                else scheme.cached_key(e.version),
            )
            for e in ordered
        ),
        tuple((scheme.cached_key(e.version), e.version) for e in events if e.kind == "fixed"),
    )


def _compiled(rng: Range, scheme: VersionScheme) -> _Compiled:
    """:func:`_compile` of ``rng``, kept on the range itself, per scheme.

    Advisories are evaluated again and again (every package version looked up, every image);
    the range's bounds are parsed once. A bound that does not parse is remembered too and
    raised again. Living on the range, the cache goes when the record goes.
    """
    found = rng.compiled.get(scheme)
    if found is None:
        try:
            found = _compile(rng.events, scheme)
        except InvalidVersionError as exc:
            found = exc
        rng.compiled[scheme] = found
    if isinstance(found, InvalidVersionError):
        raise found
    result: _Compiled = found
    return result


def _in_range(version_key: Any, rng: Range, scheme: VersionScheme) -> bool:
    return _in_compiled(version_key, _compiled(rng, scheme))


def _in_compiled(version_key: Any, compiled: _Compiled) -> bool:
    if compiled.limits is not None and not any(version_key < k for k in compiled.limits):
        return False
    vulnerable = False
    for kind, key in compiled.ordered:
        if kind == "introduced":
            if key is None or version_key >= key:
                vulnerable = True
        elif kind == "fixed":
            if version_key >= key:
                vulnerable = False
        elif kind == "last_affected" and version_key > key:
            vulnerable = False
    return vulnerable


def affects(affected: Affected, version: str, scheme: VersionScheme) -> bool:
    """Whether ``version`` of ``affected``'s package is vulnerable (OSV ``IsVulnerable``).

    Raises:
        InvalidVersionError: ``version`` or a range bound does not parse in ``scheme``.
    """
    if affected.versions and version in affected.version_set:
        return True
    ranges = [r for r in affected.ranges if r.type in ("SEMVER", "ECOSYSTEM")]
    if not ranges:
        return False
    key = scheme.cached_key(version)
    return any(_in_range(key, rng, scheme) for rng in ranges)


def vulnerable_and_fixed(
    affected: Affected, version: str, scheme: VersionScheme
) -> tuple[bool, list[str]]:
    """:func:`affects` and :func:`fixed_versions` in one pass (the matcher's hot path).

    Raises:
        InvalidVersionError: ``version`` or a range bound does not parse in ``scheme``.
    """
    key = scheme.cached_key(version)
    hit = bool(affected.versions) and version in affected.version_set
    fixed: list[str] = []
    for rng in affected.ranges:
        if rng.type not in ("SEMVER", "ECOSYSTEM"):
            continue
        compiled = _compiled(rng, scheme)
        if not hit and _in_compiled(key, compiled):
            hit = True
        fixed += [v for k, v in compiled.fixed if k > key]
    return hit, fixed


def fixed_versions(affected: Affected, version: str, scheme: VersionScheme) -> Sequence[str]:
    """The ``fixed`` versions above ``version`` (the upgrade targets), lowest first."""
    key = scheme.cached_key(version)
    found: dict[str, Any] = {}
    for rng in affected.ranges:
        try:
            compiled = _compiled(rng, scheme)
        except InvalidVersionError:
            # One unparsable bound must not hide the others: fall back to event by event.
            for event in rng.events:
                if event.kind == "fixed":
                    try:
                        fixed_key = scheme.cached_key(event.version)
                    except InvalidVersionError:
                        continue
                    if fixed_key > key:
                        found[event.version] = fixed_key
            continue
        for fixed_key, fixed in compiled.fixed:
            if fixed_key > key:
                found[fixed] = fixed_key
    return sorted(found, key=found.__getitem__)
