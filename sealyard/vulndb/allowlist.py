"""The allowlist: accepted risks, each with a reason and an expiry date.

A YAML (or JSON) file::

    entries:
      - id: CVE-2024-1234              # CVE, GHSA or any OSV id; matched against aliases too
        expires: 2025-06-30            # required: a date (valid through that day, UTC)
        reason: no network listener    #   or an RFC 3339 date-time with a zone
        packages:                      # optional: purl prefixes the entry is limited to
          - pkg:deb/debian/openssl

``expires`` is required: an accepted risk is revisited, not forgotten. An expired entry
suppresses nothing and is reported as a warning. A ``packages`` prefix matches at purl
boundaries only: ``pkg:pypi/requests`` covers ``pkg:pypi/requests@2.31.0`` but not
``pkg:pypi/requests-oauthlib``; ``pkg:deb/debian/`` covers every Debian package.

The model is pure; :func:`load_allowlist` is the only I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final

import yaml

from sealyard.errors import SizeLimitError, UntrustedDataError, UsageError

__all__ = [
    "MAX_ALLOWLIST_BYTES",
    "Allowlist",
    "AllowlistEntry",
    "AllowlistError",
    "load_allowlist",
    "parse_allowlist",
]

#: Largest allowlist file :func:`load_allowlist` reads.
MAX_ALLOWLIST_BYTES: Final = 1024 * 1024
#: Most entries one allowlist may hold.
MAX_ENTRIES: Final = 10_000
_MAX_DEPTH: Final = 16

_CVE: Final = re.compile(r"CVE-\d{4}-\d{4,}")
_GHSA: Final = re.compile(r"GHSA(?:-[0-9a-z]{4}){3}")
_OSV_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9._:-]*")
_PURL_BOUNDARY: Final = frozenset("/@?#")
_TOP_KEYS: Final = frozenset({"version", "entries"})
_ENTRY_KEYS: Final = frozenset({"id", "expires", "reason", "packages"})
_TIMESTAMP_TAG: Final = "tag:yaml.org,2002:timestamp"


class AllowlistError(UntrustedDataError):
    """An allowlist file is malformed: the message names the entry and the field."""


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that keeps dates as the strings they were written as."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class AllowlistEntry:
    """One accepted risk.

    Attributes:
        id: the vulnerability id as written.
        expires: the first instant at which the entry no longer applies (UTC).
        expires_text: ``expires`` as written in the file, for messages.
        reason: why the risk is accepted.
        packages: purl prefixes the entry is limited to; empty means every package.
        ref: where the entry is in its file (``entries[2]``).
    """

    id: str
    expires: datetime
    reason: str
    packages: tuple[str, ...] = ()
    expires_text: str = ""
    ref: str = ""

    def __post_init__(self) -> None:
        if self.expires.tzinfo is None:
            raise ValueError("AllowlistEntry.expires must be timezone-aware")
        if not self.reason.strip():
            raise AllowlistError(f"{self.ref or self.id}: reason is required")

    def expired(self, now: datetime) -> bool:
        return now >= self.expires

    def covers(self, identifiers: Iterable[str], purl: str) -> bool:
        """Whether the entry names one of ``identifiers`` and, if limited, ``purl``."""
        wanted = self.id.casefold()
        if not any(i.casefold() == wanted for i in identifiers):
            return False
        return not self.packages or any(_prefix_matches(p, purl) for p in self.packages)


@dataclass(frozen=True)
class Allowlist:
    """The entries of one allowlist file; ``source`` is its path, for reports."""

    entries: tuple[AllowlistEntry, ...] = ()
    source: str = ""

    @classmethod
    def from_dict(cls, doc: Any, *, source: str = "") -> Allowlist:
        """Validate parsed YAML/JSON data.

        Raises:
            AllowlistError: the data is not an allowlist; the message names what is wrong.
        """
        if not isinstance(doc, Mapping):
            raise AllowlistError("an allowlist is a mapping with an 'entries' list")
        unknown = sorted(set(map(str, doc)) - _TOP_KEYS)
        if unknown:
            raise AllowlistError(f"unknown top-level key(s): {', '.join(unknown)}")
        if doc.get("version", 1) != 1:
            raise AllowlistError(f"unsupported allowlist version {doc.get('version')!r}")
        raw = doc.get("entries")
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            raise AllowlistError("'entries' must be a list")
        if len(raw) > MAX_ENTRIES:
            raise AllowlistError(f"more than {MAX_ENTRIES} entries")
        return cls(tuple(_entry(e, f"entries[{i}]") for i, e in enumerate(raw)), source)

    def active(self, now: datetime) -> tuple[AllowlistEntry, ...]:
        return tuple(e for e in self.entries if not e.expired(now))

    def expired(self, now: datetime) -> tuple[AllowlistEntry, ...]:
        return tuple(e for e in self.entries if e.expired(now))

    def find(self, identifiers: Iterable[str], purl: str, now: datetime) -> AllowlistEntry | None:
        """The first unexpired entry covering the finding, if any."""
        ids = tuple(identifiers)
        return next((e for e in self.active(now) if e.covers(ids, purl)), None)


def _prefix_matches(prefix: str, purl: str) -> bool:
    if purl == prefix:
        return True
    if not purl.startswith(prefix):
        return False
    return prefix[-1] in _PURL_BOUNDARY or purl[len(prefix)] in _PURL_BOUNDARY


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AllowlistError(f"{where} is required and must be text")
    return value.strip()


def _vuln_id(value: Any, where: str) -> str:
    ident = _text(value, where)
    upper = ident.upper()
    if upper.startswith("CVE-") and not _CVE.fullmatch(upper):
        raise AllowlistError(f"{where}: {ident!r} is not a CVE id (CVE-YYYY-NNNN)")
    if upper.startswith("GHSA-") and not _GHSA.fullmatch("GHSA" + ident[4:].lower()):
        raise AllowlistError(f"{where}: {ident!r} is not a GHSA id (GHSA-xxxx-xxxx-xxxx)")
    if not _OSV_ID.fullmatch(ident):
        raise AllowlistError(f"{where}: {ident!r} is not a vulnerability id")
    return ident


def _expiry(value: Any, where: str) -> tuple[datetime, str]:
    if isinstance(value, date | datetime):  # a loader other than ours produced it
        value = value.isoformat()
    if value is None:
        raise AllowlistError(f"{where} is required (a date such as 2025-06-30)")
    if not isinstance(value, str):
        raise AllowlistError(f"{where} must be a date or an RFC 3339 date-time")
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time(), UTC), text
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise AllowlistError(f"{where}: {text!r} is not a date or an RFC 3339 date-time") from None
    if when.tzinfo is None:
        raise AllowlistError(f"{where}: {text!r} needs a time zone (e.g. Z)")
    return when.astimezone(UTC), text


def _packages(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise AllowlistError(f"{where} must be a non-empty list of purl prefixes")
    out = []
    for i, item in enumerate(value):
        prefix = _text(item, f"{where}[{i}]")
        if not prefix.startswith("pkg:") or "/" not in prefix:
            raise AllowlistError(f"{where}[{i}]: {prefix!r} is not a purl prefix (pkg:TYPE/…)")
        out.append(prefix)
    return tuple(out)


def _entry(value: Any, where: str) -> AllowlistEntry:
    if not isinstance(value, Mapping):
        raise AllowlistError(f"{where} must be a mapping")
    unknown = sorted(set(map(str, value)) - _ENTRY_KEYS)
    if unknown:
        raise AllowlistError(f"{where}: unknown key(s): {', '.join(unknown)}")
    ident = _vuln_id(value.get("id"), f"{where}.id")
    expires, text = _expiry(value.get("expires"), f"{where}.expires")
    return AllowlistEntry(
        id=ident,
        expires=expires,
        expires_text=text,
        reason=_text(value.get("reason"), f"{where}.reason"),
        packages=_packages(value.get("packages"), f"{where}.packages"),
        ref=where,
    )


def _check_shape(doc: Any, budget: int) -> None:
    """Bound nesting and the expanded node count (YAML aliases can share subtrees)."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > budget:
            raise AllowlistError("document expands far beyond its size (YAML alias bomb?)")
        if depth > _MAX_DEPTH:
            raise AllowlistError(f"document nests deeper than {_MAX_DEPTH} levels")
        if isinstance(value, Mapping):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def parse_allowlist(data: bytes, *, source: str = "") -> Allowlist:
    """Parse allowlist bytes (YAML; JSON is YAML too).

    Raises:
        AllowlistError: not YAML, or not a valid allowlist.
    """
    try:
        try:
            doc = yaml.load(data, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except (yaml.YAMLError, ValueError, RecursionError) as exc:
            raise AllowlistError(f"not valid YAML: {str(exc).splitlines()[0]}") from None
        if doc is None:
            raise AllowlistError("the file is empty")
        _check_shape(doc, 2 * len(data) + 64)
        return Allowlist.from_dict(doc, source=source)
    except AllowlistError as exc:
        raise AllowlistError(f"{source}: {exc}" if source else str(exc)) from None


def load_allowlist(path: Path, *, max_bytes: int = MAX_ALLOWLIST_BYTES) -> Allowlist:
    """Read and parse the allowlist at ``path``.

    Raises:
        UsageError: the file cannot be read.
        SizeLimitError: the file is larger than ``max_bytes``.
        AllowlistError: the content is not a valid allowlist.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"cannot read allowlist {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SizeLimitError(f"{path}: allowlist larger than {max_bytes} bytes")
    return parse_allowlist(data, source=str(path))
