"""Debian security tracker announcement lists (``data/DSA/list``, ``data/DLA/list``).

Each announcement becomes one OSV record::

    [29 Mar 2023] DSA-5380-1 xorg-server - security update
        {CVE-2023-1393}
        [bullseye] - xorg-server 2:1.20.11-1+deb11u6

``id`` is the announcement id, ``aliases`` the ids between braces, ``summary`` the text after
the id, ``published``/``modified`` the date at 00:00Z and ``details`` the ``NOTE:`` lines.
Every ``[release] - source version`` line is one ``affected`` entry in ``Debian:<N>`` with an
``ECOSYSTEM`` range ``introduced 0, fixed version``; ``<unfixed>`` and ``<end-of-life>`` leave
the range open and ``<not-affected>`` produces no entry. Pre-2008 ids without a revision
(``DSA-1304``) are kept as written. The file is read line by line under
:class:`DebianListLimits`; anything that does not parse is a :class:`ScanProblem` naming the
line, and only the offending line (or entry, for a bad header) is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from sealyard.errors import UsageError
from sealyard.vulndb.osv import OsvError, OsvRecord
from sealyard.vulndb.sources.interface import AdvisorySource, ScanProblem, SourceRecord
from sealyard.vulndb.versions.dpkg import DpkgVersionScheme
from sealyard.vulndb.versions.interface import InvalidVersionError

__all__ = ["DEBIAN_RELEASES", "DebianListLimits", "DebianListSource"]

#: Release codename → the version used in OSV ``Debian:<version>`` ecosystems.
DEBIAN_RELEASES: dict[str, str] = {
    "buzz": "1.1",
    "rex": "1.2",
    "bo": "1.3",
    "hamm": "2.0",
    "slink": "2.1",
    "potato": "2.2",
    "woody": "3.0",
    "sarge": "3.1",
    "etch": "4.0",
    "lenny": "5.0",
    "squeeze": "6.0",
    "wheezy": "7",
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
}

_KINDS = ("DSA", "DLA")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_HEADER = re.compile(r"\[(?P<date>[^\]]*)\]\s+(?P<id>D[SL]A-\d+(?:-\d+)?)(?:\s+(?P<title>.*))?")
_DATE = re.compile(r"(\d{1,2}) ([A-Z][a-z]{2}) (\d{4})")
_RELEASE = re.compile(
    r"\[(?P<release>[^\]\s]+)\]\s+-\s+(?P<package>\S+)(?:\s+(?P<version>\S+)(?:\s+(?P<note>.*))?)?"
)
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]*")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9._:-]+")
#: Markers meaning "affected, no fixed version" (``<end-of-life>``: support ended unfixed).
_OPEN_MARKERS = ("<unfixed>", "<end-of-life>")
_TRACKER = "https://security-tracker.debian.org/tracker/"
_SCHEME = DpkgVersionScheme()


@dataclass(frozen=True)
class DebianListLimits:
    """Bounds on an untrusted announcement list.

    Attributes:
        max_file_bytes: largest list file read (the real DSA list is under 1 MiB).
        max_line_bytes: longest line accepted; longer lines are skipped as problems.
        max_entry_lines: most continuation lines one announcement may have.
    """

    max_file_bytes: int = 64 * 1024 * 1024
    max_line_bytes: int = 64 * 1024
    max_entry_lines: int = 10_000


class _BadLine(Exception):
    """Internal: a line was refused; the message becomes the problem's reason."""


@dataclass
class _Entry:
    """An announcement being collected."""

    line: int
    ident: str
    published: str
    summary: str
    aliases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    affected: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.ident,
            "modified": self.published,
            "published": self.published,
            "aliases": list(dict.fromkeys(self.aliases)),
            "summary": self.summary,
            "affected": self.affected,
            "references": [{"type": "ADVISORY", "url": _TRACKER + self.ident}],
        }
        if self.notes:
            doc["details"] = "\n".join(self.notes)
        return doc


def _kind_of(path: Path) -> str | None:
    """``"DSA"``/``"DLA"`` when ``path`` (a ``list`` file or its directory) names one."""
    for part in (path.name, path.parent.name) if path.name == "list" else (path.name,):
        if part.upper() in _KINDS:
            return part.upper()
    return None


def _date(text: str) -> str:
    match = _DATE.fullmatch(text.strip())
    month = _MONTHS.get(match.group(2)) if match else None
    if match is None or month is None:
        raise _BadLine(f"malformed date {text!r} (expected e.g. '02 Apr 2023')")
    day, year = int(match.group(1)), int(match.group(3))
    try:
        return date(year, month, day).isoformat() + "T00:00:00Z"
    except ValueError as exc:
        raise _BadLine(f"invalid date {text!r}: {exc}") from exc


def _header(text: str, lineno: int) -> _Entry:
    match = _HEADER.fullmatch(text.rstrip())
    if match is None:
        raise _BadLine("malformed announcement header (expected '[date] DSA-N-M ...')")
    published = _date(match.group("date"))
    summary = " ".join((match.group("title") or "").split())
    return _Entry(line=lineno, ident=match.group("id"), published=published, summary=summary)


def _aliases(body: str) -> list[str]:
    if not body.endswith("}"):
        raise _BadLine("unterminated '{' alias list")
    tokens = body[1:-1].split()
    bad = [t for t in tokens if not _ALIAS.fullmatch(t)]
    if bad:
        raise _BadLine(f"malformed alias {bad[0]!r}")
    return tokens


def _affected(body: str) -> dict[str, Any] | None:
    """The ``affected`` entry of a ``[release] - source version`` line (None: not affected)."""
    match = _RELEASE.fullmatch(body)
    if match is None:
        raise _BadLine("malformed release line (expected '[release] - source version')")
    release, package, version = match.group("release", "package", "version")
    if release not in DEBIAN_RELEASES:
        raise _BadLine(f"unknown Debian release codename {release!r}")
    if not _PACKAGE.fullmatch(package):
        raise _BadLine(f"invalid source package name {package!r}")
    if version is None:
        raise _BadLine(f"no version for {package} in {release}")
    if version == "<not-affected>":
        return None
    events: list[dict[str, str]] = [{"introduced": "0"}]
    if version not in _OPEN_MARKERS:
        if version.startswith("<"):
            raise _BadLine(f"unsupported marker {version!r}")
        try:
            _SCHEME.key(version)
        except InvalidVersionError as exc:
            raise _BadLine(f"invalid Debian version {version!r}: {exc}") from exc
        events.append({"fixed": version})
    entry: dict[str, Any] = {
        "package": {"ecosystem": f"Debian:{DEBIAN_RELEASES[release]}", "name": package},
        "ranges": [{"type": "ECOSYSTEM", "events": events}],
        "database_specific": {"release": release},
    }
    if version in _OPEN_MARKERS:
        entry["database_specific"]["status"] = version.strip("<>")
    note = " ".join((match.group("note") or "").split())
    if note:
        entry["database_specific"]["note"] = note
    return entry


class DebianListSource(AdvisorySource):
    """Debian DSA/DLA announcement lists: a ``list`` file or a tracker checkout directory.

    ``kind`` (``"DSA"`` or ``"DLA"``) restricts a directory to that list and names the
    source ``debian-dsa``/``debian-dla``; without it a directory yields both lists (DLA then
    DSA) and the source is called ``debian``. :meth:`for_path` picks the kind from the path.
    """

    def __init__(self, kind: str | None = None, limits: DebianListLimits | None = None) -> None:
        if kind is not None and kind.upper() not in _KINDS:
            raise UsageError(f"unknown Debian list kind {kind!r} (expected DSA or DLA)")
        self.kind = kind.upper() if kind else None
        self.limits = limits or DebianListLimits()
        self.name = f"debian-{self.kind.lower()}" if self.kind else "debian"

    @classmethod
    def for_path(cls, path: Path, limits: DebianListLimits | None = None) -> DebianListSource:
        """A source whose kind (and so name) comes from ``path``: ``…/DSA/list`` → DSA."""
        return cls(_kind_of(path), limits)

    def records(self, path: Path) -> Iterator[SourceRecord | ScanProblem]:
        """Yield one record per announcement, in file order.

        Raises:
            UsageError: ``path`` does not exist, or is a directory without a DSA/DLA list.
        """
        if path.is_file():
            return self._from_file(path, _shown(path))
        if path.is_dir():
            files = self._lists_in(path)
            if not files:
                raise UsageError(f"{path} holds no data/DSA/list or data/DLA/list")
            return self._from_files(path, files)
        if not path.exists():
            raise UsageError(f"advisory source {path} does not exist")
        raise UsageError(f"{path} is neither a list file nor a directory")

    def _lists_in(self, root: Path) -> list[Path]:
        kinds = [self.kind] if self.kind else list(_KINDS)
        own = _kind_of(root)
        if own is not None:
            return [root / "list"] if own in kinds and (root / "list").is_file() else []
        found: list[Path] = []
        for kind in kinds:
            for candidate in (root / "data" / kind / "list", root / kind / "list"):
                if candidate.is_file() or candidate.is_symlink():
                    found.append(candidate)
                    break
        return sorted(found)

    def _from_files(self, root: Path, files: list[Path]) -> Iterator[SourceRecord | ScanProblem]:
        for file in files:
            shown = _shown(file) if file.parent == root else str(file.relative_to(root))
            yield from self._from_file(file, shown)

    def _from_file(self, file: Path, shown: str) -> Iterator[SourceRecord | ScanProblem]:
        cap = self.limits.max_file_bytes
        if file.is_symlink():
            yield ScanProblem(shown, "symbolic link not followed")
            return
        try:
            size = file.stat().st_size
            if size > cap:
                yield ScanProblem(shown, f"{size} bytes exceeds the {cap}-byte limit")
                return
            with file.open("rb") as fh:
                yield from self._parse(fh, shown)
        except OSError as exc:
            yield ScanProblem(shown, f"unreadable: {exc.strerror or exc}")

    def _parse(self, fh: BinaryIO, shown: str) -> Iterator[SourceRecord | ScanProblem]:
        limits = self.limits
        entry: _Entry | None = None
        skipping = False  # inside an entry whose header was refused
        total = 0
        lineno = 0

        def problem(reason: str) -> ScanProblem:
            return ScanProblem(shown, f"line {lineno}: {reason}")

        while True:
            raw: bytes = fh.readline(limits.max_line_bytes + 1)
            if not raw:
                break
            lineno += 1
            total += len(raw)
            if total > limits.max_file_bytes:
                yield ScanProblem(shown, f"grew beyond the {limits.max_file_bytes}-byte limit")
                entry = None
                break
            if len(raw) > limits.max_line_bytes and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # drain the rest of the long line
                    raw = fh.readline(limits.max_line_bytes + 1)
                    total += len(raw)
                yield problem(f"longer than {limits.max_line_bytes} bytes; skipped")
                continue
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                yield problem("not UTF-8; skipped")
                continue
            if not text.strip():
                continue
            if not text[0].isspace():
                if entry is not None:
                    yield _finish(entry, shown)
                    entry = None
                try:
                    entry = _header(text, lineno)
                    skipping = False
                except _BadLine as exc:
                    skipping = True
                    yield problem(f"{exc}; announcement skipped")
                continue
            if entry is None:
                if not skipping:
                    yield problem("indented line outside an announcement")
                continue
            entry.lines += 1
            if entry.lines > limits.max_entry_lines:
                if entry.lines == limits.max_entry_lines + 1:
                    yield problem(f"{entry.ident} has more than {limits.max_entry_lines} lines")
                continue
            try:
                self._continuation(entry, text.strip())
            except _BadLine as exc:
                yield problem(f"{entry.ident}: {exc}")
        if entry is not None:
            yield _finish(entry, shown)

    @staticmethod
    def _continuation(entry: _Entry, body: str) -> None:
        if body.startswith("{"):
            entry.aliases.extend(_aliases(body))
        elif body.startswith("NOTE:"):
            entry.notes.append(body[len("NOTE:") :].strip())
        elif body.startswith("["):
            affected = _affected(body)
            if affected is not None:
                entry.affected.append(affected)
        else:
            raise _BadLine("unrecognised line")


def _shown(path: Path) -> str:
    """``DSA/list`` for ``…/DSA/list``; the file name otherwise."""
    return f"{path.parent.name}/{path.name}" if path.name == "list" else path.name


def _finish(entry: _Entry, shown: str) -> SourceRecord | ScanProblem:
    doc = entry.to_dict()
    try:
        record = OsvRecord.from_dict(doc)
    except OsvError as exc:
        return ScanProblem(shown, f"line {entry.line}: {exc}")
    return SourceRecord(record=record, raw=doc, path=f"{shown}:{entry.line}")
