"""The Debian security tracker's JSON export.

The export (``https://security-tracker.debian.org/tracker/data/json``) is one object keyed
by **source package**, then by issue id, then by release::

    {"zlib": {"CVE-2023-45853": {"description": "…", "scope": "local", "debianbug": 1054290,
              "releases": {"bookworm": {"status": "open", "urgency": "unimportant",
                                         "repositories": {"bookworm": "1:1.2.13.dfsg-1"},
                                         "nodsa": "…", "nodsa_reason": "ignored"}}}}}

Every CVE becomes **one** OSV record for all the source packages that mention it, named as
OSV's own conversion of this export names them: ``id`` ``DEBIAN-CVE-…``, the CVE as alias
(and as ``upstream``), the description (of the first package by name) as ``details``. Per
(package, release):

* ``resolved`` with ``fixed_version`` ``"0"``: never affected; no ``affected`` entry (the
  package and release are listed in the record's ``database_specific.not_affected``);
* ``resolved`` with a version: range ``introduced 0, fixed <version>`` in ``Debian:<N>``;
* ``open`` and ``undetermined``: ``introduced 0`` only (no fix known).

Each entry's ``ecosystem_specific`` keeps ``urgency`` and a ``fix_state``: ``fixed``,
``end_of_life`` (urgency ``end-of-life``: support for the package ended unfixed),
``will_not_fix`` (``nodsa_reason`` ``ignored``) or ``unfixed`` (also for ``postponed``);
``nodsa_reason`` is kept when set, the tracker ``status``, ``nodsa`` note and Debian bug go to
``database_specific``. Releases are numbered through
:data:`~sealyard.vulndb.sources.debian_lists.DEBIAN_RELEASES`; ``sid`` and ``experimental``
have no number (an image of them cannot be matched to a release) and are skipped silently,
any other unknown codename is skipped and reported once with its count. ``TEMP-…`` issues are
skipped like OSV does: they are placeholders that vanish when a CVE is assigned, and records
are never deleted, so they would keep matching. The export has no per-record time, so
``modified`` is the snapshot file's modification time (UTC).

The document is read whole under :attr:`SourceLimits.max_snapshot_bytes` and decoded one
package at a time, keeping only a compact summary of each entry, so memory stays near the
size of the file. A document that is not valid JSON is refused as a whole (a truncated
download would otherwise drop packages from records); a wrongly typed package, issue or
release is a :class:`ScanProblem` and only that part is skipped.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sealyard.errors import UsageError
from sealyard.vulndb.osv import OsvError, OsvRecord
from sealyard.vulndb.sources.debian_lists import DEBIAN_RELEASES
from sealyard.vulndb.sources.interface import (
    AdvisorySource,
    ScanProblem,
    SourceLimits,
    SourceRecord,
)
from sealyard.vulndb.versions.dpkg import DpkgVersionScheme
from sealyard.vulndb.versions.interface import InvalidVersionError

__all__ = ["UNNUMBERED_SUITES", "DebianTrackerSource", "looks_like_tracker"]

#: Suites the tracker follows that have no release number: skipped without a problem.
UNNUMBERED_SUITES = frozenset({"sid", "experimental"})

_CVE = re.compile(r"CVE-\d{4}-\d{4,}")
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]*")
_WS = re.compile(r"[ \t\n\r]*")
_STATUSES = ("resolved", "open", "undetermined")
_RELEASE_ORDER = {codename: i for i, codename in enumerate(DEBIAN_RELEASES)}
_TRACKER = "https://security-tracker.debian.org/tracker/"
_DEFAULT_URGENCY = "not yet assigned"
_SHOWN_MAX = 60


class _Malformed(Exception):
    """Internal: the document is not a JSON object; the message becomes the problem's reason."""


class _BadEntry(Exception):
    """Internal: one release entry was refused; the message becomes the problem's reason."""


class _Entry(NamedTuple):
    """What one (package, release) contributes to a record, kept compact."""

    package: str
    release: str
    status: str
    fixed: str | None  # "0": not affected
    urgency: str
    nodsa: str | None
    nodsa_reason: str | None
    debianbug: int | None


@dataclass
class _Issue:
    description: str = ""
    described_by: str = ""  # the package the description came from: the first by name
    entries: list[_Entry] = field(default_factory=list)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def _skip_ws(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return f"line {line} column {column}"


def _members(text: str) -> Iterator[tuple[str, Any]]:
    """The (key, value) pairs of the top-level JSON object ``text``, decoded one at a time.

    Raises:
        _Malformed: ``text`` is not exactly one JSON object.
    """
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if not text.startswith("{", pos):
        raise _Malformed("the document is not a JSON object")
    pos = _skip_ws(text, pos + 1)
    if text.startswith("}", pos):
        pos += 1
    else:
        while True:
            if not text.startswith('"', pos):
                raise _Malformed(f"expected a package name at {_where(text, pos)}")
            try:
                key, pos = decoder.raw_decode(text, pos)
                pos = _skip_ws(text, pos)
                if not text.startswith(":", pos):
                    raise _Malformed(f"expected ':' at {_where(text, pos)}")
                value, pos = decoder.raw_decode(text, _skip_ws(text, pos + 1))
            except json.JSONDecodeError as exc:
                raise _Malformed(f"{exc.msg} at {_where(text, exc.pos)}") from exc
            except RecursionError as exc:
                raise _Malformed(f"nested too deeply near {_where(text, pos)}") from exc
            yield key, value
            pos = _skip_ws(text, pos)
            if text.startswith(",", pos):
                pos = _skip_ws(text, pos + 1)
                continue
            if text.startswith("}", pos):
                pos += 1
                break
            raise _Malformed(f"expected ',' or '}}' at {_where(text, pos)}")
    if _skip_ws(text, pos) != len(text):
        raise _Malformed(f"extra data after the object at {_where(text, pos)}")


def looks_like_tracker(head: bytes) -> bool:
    """Whether ``head`` (the first few KiB of a file) starts like the tracker's JSON export.

    The export opens with a source package whose first key is an issue id:
    ``{"0ad": {"CVE-2020-0001": {…``. Cheap: nothing after the first issue id is decoded.
    """
    text = head.decode("utf-8", errors="ignore")
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    for _ in range(2):
        if not text.startswith("{", pos):
            return False
        pos = _skip_ws(text, pos + 1)
        if not text.startswith('"', pos):
            return False
        try:
            key, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return False
        pos = _skip_ws(text, pos)
        if not text.startswith(":", pos):
            return False
        pos = _skip_ws(text, pos + 1)
    return isinstance(key, str) and (bool(_CVE.fullmatch(key)) or key.startswith("TEMP-"))


def _fix_state(status: str, urgency: str, nodsa_reason: str | None) -> str:
    if status == "resolved":
        return "fixed"
    if urgency == "end-of-life":
        return "end_of_life"
    if nodsa_reason == "ignored":
        return "will_not_fix"
    return "unfixed"


def _optional_text(release: dict[str, Any], key: str) -> str | None:
    value = release.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _BadEntry(f"{key} must be a string, not {type(value).__name__}")


class DebianTrackerSource(AdvisorySource):
    """The Debian security tracker's JSON export: one file, one record per CVE."""

    name = "debian-tracker"

    def __init__(self, limits: SourceLimits | None = None) -> None:
        self.limits = limits or SourceLimits()

    def records(self, path: Path) -> Iterator[SourceRecord | ScanProblem]:
        """Yield one record per CVE, sorted by id, after problems found while reading.

        Raises:
            UsageError: ``path`` does not exist or is not a file.
        """
        if path.is_file() or path.is_symlink():
            return self._from_file(path)
        if not path.exists():
            raise UsageError(f"advisory source {path} does not exist")
        raise UsageError(f"{path} is not a file (the tracker export is a single JSON file)")

    def _from_file(self, file: Path) -> Iterator[SourceRecord | ScanProblem]:
        shown = file.name
        cap = self.limits.max_snapshot_bytes
        if file.is_symlink():
            yield ScanProblem(shown, "symbolic link not followed")
            return
        try:
            info = file.stat()
            if info.st_size > cap:
                yield ScanProblem(shown, f"{info.st_size} bytes exceeds the {cap}-byte limit")
                return
            with file.open("rb") as fh:
                data = fh.read(cap + 1)
        except OSError as exc:
            yield ScanProblem(shown, f"unreadable: {exc.strerror or exc}")
            return
        if len(data) > cap:
            yield ScanProblem(shown, f"exceeds the {cap}-byte limit")
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield ScanProblem(shown, f"not UTF-8 (byte {exc.start})")
            return
        del data
        modified = datetime.fromtimestamp(int(info.st_mtime), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        issues: dict[str, _Issue] = {}
        problems: list[ScanProblem] = []
        unknown: Counter[str] = Counter()
        try:
            self._collect(text, shown, issues, problems, unknown)
        except _Malformed as exc:
            yield ScanProblem(shown, f"not valid tracker JSON: {exc}; nothing imported")
            return
        del text
        yield from problems
        for codename, count in sorted(unknown.items()):
            yield ScanProblem(
                shown,
                f"unknown Debian release {_short(codename)}: {count} entries skipped",
            )
        for cve in sorted(issues):
            yield _finish(cve, issues.pop(cve), modified, shown)

    def _collect(
        self,
        text: str,
        shown: str,
        issues: dict[str, _Issue],
        problems: list[ScanProblem],
        unknown: Counter[str],
    ) -> None:
        scheme = DpkgVersionScheme()
        seen: set[str] = set()
        for package, value in _members(text):
            where = f"package {_short(package)}"
            if package in seen:
                problems.append(ScanProblem(shown, f"{where} appears twice; repeat ignored"))
                continue
            seen.add(package)
            if not _PACKAGE.fullmatch(package) or len(package) > 256:
                problems.append(ScanProblem(shown, f"{where}: invalid source package name"))
                continue
            package = sys.intern(package)
            if not isinstance(value, dict):
                problems.append(ScanProblem(shown, f"{where}: must be an object of issues"))
                continue
            for ident, issue in value.items():
                if ident.startswith("TEMP-"):
                    continue
                here = f"{where}, {_short(ident)}"
                if not _CVE.fullmatch(ident):
                    problems.append(ScanProblem(shown, f"{here}: not a CVE or TEMP- id"))
                    continue
                if not isinstance(issue, dict) or not isinstance(issue.get("releases"), dict):
                    problems.append(
                        ScanProblem(shown, f"{here}: must be an object with a 'releases' object")
                    )
                    continue
                target = issues.setdefault(ident, _Issue())
                description = issue.get("description")
                if isinstance(description, str):
                    if description and (not target.description or package < target.described_by):
                        target.description, target.described_by = description, package
                elif description is not None:
                    problems.append(ScanProblem(shown, f"{here}: description is not a string"))
                bug = issue.get("debianbug")
                if bug is not None and (not isinstance(bug, int) or isinstance(bug, bool)):
                    problems.append(ScanProblem(shown, f"{here}: debianbug is not a number"))
                    bug = None
                for codename, release in issue["releases"].items():
                    if codename in UNNUMBERED_SUITES:
                        continue
                    if codename not in _RELEASE_ORDER:
                        unknown[codename] += 1
                        continue
                    try:
                        entry = _entry(package, codename, release, bug, scheme)
                    except _BadEntry as exc:
                        problems.append(ScanProblem(shown, f"{here}, {codename}: {exc}"))
                        continue
                    target.entries.append(entry)


def _entry(
    package: str, codename: str, release: Any, bug: int | None, scheme: DpkgVersionScheme
) -> _Entry:
    if not isinstance(release, dict):
        raise _BadEntry("must be an object")
    status = release.get("status")
    if status not in _STATUSES:
        raise _BadEntry(f"unknown status {_short(status)}")
    urgency = _optional_text(release, "urgency") or _DEFAULT_URGENCY
    nodsa = _optional_text(release, "nodsa") or None
    nodsa_reason = _optional_text(release, "nodsa_reason") or None
    fixed: str | None = None
    if status == "resolved":
        fixed = _optional_text(release, "fixed_version")
        if not fixed:
            raise _BadEntry("resolved without a fixed_version")
        if fixed != "0":
            try:
                scheme.cached_key(fixed)
            except InvalidVersionError as exc:
                raise _BadEntry(f"invalid Debian version {_short(fixed)}: {exc}") from exc
    return _Entry(
        package=package,
        release=sys.intern(codename),
        status=sys.intern(status),
        fixed=fixed,
        urgency=sys.intern(urgency),
        nodsa=nodsa,
        nodsa_reason=sys.intern(nodsa_reason) if nodsa_reason else None,
        debianbug=bug,
    )


def _affected(entry: _Entry) -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": "0"}]
    if entry.fixed is not None:
        events.append({"fixed": entry.fixed})
    ecosystem_specific: dict[str, Any] = {
        "urgency": entry.urgency,
        "fix_state": _fix_state(entry.status, entry.urgency, entry.nodsa_reason),
    }
    if entry.nodsa_reason:
        ecosystem_specific["nodsa_reason"] = entry.nodsa_reason
    database_specific: dict[str, Any] = {"release": entry.release, "status": entry.status}
    if entry.nodsa:
        database_specific["nodsa"] = entry.nodsa
    if entry.debianbug is not None:
        database_specific["debianbug"] = entry.debianbug
    return {
        "package": {"ecosystem": f"Debian:{DEBIAN_RELEASES[entry.release]}", "name": entry.package},
        "ranges": [{"type": "ECOSYSTEM", "events": events}],
        "ecosystem_specific": ecosystem_specific,
        "database_specific": database_specific,
    }


def _finish(cve: str, issue: _Issue, modified: str, shown: str) -> SourceRecord | ScanProblem:
    affected: list[dict[str, Any]] = []
    not_affected: dict[str, list[str]] = {}
    for entry in sorted(issue.entries, key=lambda e: (e.package, _RELEASE_ORDER[e.release])):
        if entry.fixed == "0":
            not_affected.setdefault(entry.package, []).append(entry.release)
        else:
            affected.append(_affected(entry))
    doc: dict[str, Any] = {
        "id": f"DEBIAN-{cve}",
        "modified": modified,
        "aliases": [cve],
        "upstream": [cve],
        "affected": affected,
        "references": [{"type": "ADVISORY", "url": _TRACKER + cve}],
    }
    if issue.description:
        doc["details"] = issue.description
    if not_affected:
        doc["database_specific"] = {"not_affected": not_affected}
    try:
        record = OsvRecord.from_dict(doc)
    except OsvError as exc:  # pragma: no cover - the document is built valid
        return ScanProblem(shown, f"{cve}: {exc}")
    return SourceRecord(record=record, raw=doc, path=f"{shown}:{cve}")
