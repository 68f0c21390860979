"""Alpine secdb (``https://secdb.alpinelinux.org/v3.20/main.json``): one file per branch and repo.

A secdb file lists, per **origin** package, the identifiers each package version fixes::

    {"distroversion": "v3.20", "reponame": "main", "urlprefix": "…", "apkurl": "…",
     "archs": ["x86_64", …],
     "packages": [{"pkg": {"name": "xen",
                           "secfixes": {"4.18.2-r0": ["CVE-2024-31142 XSA-455"],
                                        "0": ["CVE-2020-1234"]}}}]}

Every identifier becomes one OSV record **per file**, ``ALPINE-<distroversion>-<reponame>-<id>``
(``ALPINE-v3.20-main-CVE-2024-31142``): the same CVE appears in several files (v3.19/main,
v3.20/community…) that are imported on their own, so the ids must differ; the identifier is
an alias, and alias groups join the records of one flaw. An entry may carry several
whitespace-separated identifiers: the first CVE-like one is the vulnerability and the others
are its aliases (without a CVE, the first identifier is the vulnerability).

Each package fixing the identifier is one ``affected`` entry in ``Alpine:<distroversion>``,
range ``introduced 0, fixed V`` with V the lowest version (apk ordering) listing it. The
version ``"0"`` means "never affected in Alpine": no ``affected`` entry, the package is listed
in the record's ``database_specific.not_affected`` instead; an identifier only ever listed
under ``"0"`` still gets its record (so a lookup by the CVE shows Alpine's verdict), which can
never match. ``modified`` is the file's modification time (UTC).

Files are read under :attr:`SourceLimits.max_file_bytes`; anything malformed is a
:class:`ScanProblem` and only the offending part (file, package, version or identifier) is
skipped.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sealyard.errors import UsageError
from sealyard.vulndb.osv import OsvError, OsvRecord
from sealyard.vulndb.sources.interface import (
    AdvisorySource,
    ScanProblem,
    SourceLimits,
    SourceRecord,
)
from sealyard.vulndb.versions.apk import ApkVersionScheme
from sealyard.vulndb.versions.interface import InvalidVersionError

__all__ = ["SECDB_KEYS", "AlpineSecdbSource", "looks_like_secdb", "parse_secdb"]

#: The top-level keys of a secdb document.
SECDB_KEYS = frozenset({"apkurl", "archs", "distroversion", "packages", "reponame", "urlprefix"})

_NOT_AFFECTED = "0"
_DISTROVERSION = re.compile(r"v\d+\.\d+|edge")
_REPONAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]{0,255}")
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9._:-]+")
_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
_SEPARATORS = re.compile(r"[\s,]+")
_MAX_IDENT = 100
_SHOWN_MAX = 60
_TRACKER = "https://security.alpinelinux.org/vuln/"
_WS = " \t\n\r"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def looks_like_secdb(head: bytes) -> bool:
    """Whether ``head`` (the first few KiB of a file) starts like a secdb document.

    Only the first key of the top-level object is decoded: it must be a secdb key.
    """
    text = head.decode("utf-8", errors="ignore").lstrip(_WS)
    if not text.startswith("{"):
        return False
    text = text[1:].lstrip(_WS)
    if not text.startswith('"'):
        return False
    try:
        key, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        return False
    return key in SECDB_KEYS


@dataclass
class _Issue:
    """What one file says about one identifier."""

    aliases: dict[str, None] = field(default_factory=dict)
    fixed: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (key, version)
    not_affected: set[str] = field(default_factory=set)


class _Refused(Exception):
    """Internal: the document was refused; the message becomes the problem's reason."""


def _header(doc: Any) -> tuple[str, str, list[Any]]:
    if not isinstance(doc, dict):
        raise _Refused("a secdb document must be a JSON object")
    distroversion, reponame, packages = (
        doc.get("distroversion"),
        doc.get("reponame"),
        doc.get("packages"),
    )
    if not isinstance(distroversion, str) or not _DISTROVERSION.fullmatch(distroversion):
        raise _Refused(f"distroversion {_short(distroversion)} is not like 'v3.20' or 'edge'")
    if not isinstance(reponame, str) or not _REPONAME.fullmatch(reponame):
        raise _Refused(f"reponame {_short(reponame)} is not a repository name")
    if not isinstance(packages, list):
        raise _Refused("'packages' must be a list")
    return distroversion, reponame, packages


def _identifiers(text: str) -> tuple[list[str], list[str]]:
    """The valid identifiers of one secfixes entry (the vulnerability first) and the bad ones."""
    good: list[str] = []
    bad: list[str] = []
    for token in _SEPARATORS.split(text.strip()):
        if not token:
            continue
        if len(token) > _MAX_IDENT or not _IDENT.fullmatch(token):
            bad.append(token)
        else:
            good.append(token.upper() if _CVE.fullmatch(token) else token)
    first_cve = next((i for i, t in enumerate(good) if _CVE.fullmatch(t)), 0)
    if good:
        good.insert(0, good.pop(first_cve))
    return list(dict.fromkeys(good)), bad


def parse_secdb(data: bytes, shown: str, modified: str) -> Iterator[SourceRecord | ScanProblem]:
    """The records of one secdb document, sorted by identifier, after its problems.

    ``shown`` names the document in problems; ``modified`` (RFC 3339) stamps every record.
    """
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        yield ScanProblem(shown, f"not valid JSON: {reason}")
        return
    try:
        distroversion, reponame, packages = _header(doc)
    except _Refused as exc:
        yield ScanProblem(shown, f"not an Alpine secdb document: {exc}")
        return
    scheme = ApkVersionScheme()
    issues: dict[str, _Issue] = {}
    for index, item in enumerate(packages):
        pkg = item.get("pkg") if isinstance(item, dict) else None
        name = pkg.get("name") if isinstance(pkg, dict) else None
        if not isinstance(pkg, dict) or not isinstance(name, str):
            yield ScanProblem(shown, f"packages[{index}]: expected {{'pkg': {{'name': …}}}}")
            continue
        where = f"packages[{index}] {_short(name)}"
        if not _PACKAGE.fullmatch(name):
            yield ScanProblem(shown, f"{where}: invalid package name")
            continue
        secfixes = pkg.get("secfixes")
        if not isinstance(secfixes, dict):
            yield ScanProblem(shown, f"{where}: 'secfixes' must be an object")
            continue
        for version, entries in secfixes.items():
            here = f"{where} {_short(version)}"
            key: Any = None
            if version != _NOT_AFFECTED:
                try:
                    key = scheme.key(version)
                except InvalidVersionError as exc:
                    yield ScanProblem(shown, f"{here}: not an apk version ({exc}); skipped")
                    continue
            if entries is None or entries == {}:
                continue  # seen in real files: a version that lists nothing
            if not isinstance(entries, list):
                yield ScanProblem(shown, f"{here}: must be a list of identifiers")
                continue
            for entry in entries:
                if not isinstance(entry, str):
                    yield ScanProblem(shown, f"{here}: {_short(entry)} is not a string")
                    continue
                good, bad = _identifiers(entry)
                if bad:
                    yield ScanProblem(shown, f"{here}: malformed identifier {_short(bad[0])}")
                if not good:
                    continue
                issue = issues.setdefault(good[0], _Issue())
                issue.aliases.update(dict.fromkeys(good))
                if key is None:
                    issue.not_affected.add(name)
                elif name not in issue.fixed or key < issue.fixed[name][0]:
                    issue.fixed[name] = (key, version)
    for ident in sorted(issues):
        yield _finish(ident, issues[ident], distroversion, reponame, modified, shown)


def _finish(
    ident: str, issue: _Issue, distroversion: str, reponame: str, modified: str, shown: str
) -> SourceRecord | ScanProblem:
    affected = [
        {
            "package": {"ecosystem": f"Alpine:{distroversion}", "name": name},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": version}]}],
            "database_specific": {"reponame": reponame},
        }
        for name, (_, version) in sorted(issue.fixed.items())
    ]
    database_specific: dict[str, Any] = {"distroversion": distroversion, "reponame": reponame}
    not_affected = sorted(issue.not_affected - set(issue.fixed))
    if not_affected:
        database_specific["not_affected"] = not_affected
    doc: dict[str, Any] = {
        "id": f"ALPINE-{distroversion}-{reponame}-{ident}",
        "modified": modified,
        "aliases": list(issue.aliases),
        "affected": affected,
        "references": (
            [{"type": "ADVISORY", "url": _TRACKER + ident}] if _CVE.fullmatch(ident) else []
        ),
        "database_specific": database_specific,
    }
    try:
        record = OsvRecord.from_dict(doc)
    except OsvError as exc:  # pragma: no cover - the document is built valid
        return ScanProblem(shown, f"{ident}: {exc}")
    return SourceRecord(record=record, raw=doc, path=f"{shown}:{ident}")


class AlpineSecdbSource(AdvisorySource):
    """Alpine secdb documents: one ``.json`` file or a directory of them (searched recursively)."""

    name = "alpine-secdb"

    def __init__(self, limits: SourceLimits | None = None) -> None:
        self.limits = limits or SourceLimits()

    def records(self, path: Path) -> Iterator[SourceRecord | ScanProblem]:
        """Yield the records of every secdb file under ``path``, file by file, sorted by path.

        Raises:
            UsageError: ``path`` does not exist or is neither a file nor a directory.
        """
        if path.is_dir():
            return self._from_directory(path)
        if path.is_file() or path.is_symlink():
            return self._from_files(path.parent, [path])
        if not path.exists():
            raise UsageError(f"advisory source {path} does not exist")
        raise UsageError(f"{path} is neither a secdb file nor a directory")

    def _from_directory(self, root: Path) -> Iterator[SourceRecord | ScanProblem]:
        files: list[Path] = []
        for directory, subdirs, names in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            files.extend(Path(directory, n) for n in names if n.lower().endswith(".json"))
        files.sort()
        if not files:
            yield ScanProblem(str(root), "no .json secdb files found")
        if len(files) > self.limits.max_members:
            yield ScanProblem(
                str(root), f"more than {self.limits.max_members} files; the rest is ignored"
            )
            files = files[: self.limits.max_members]
        yield from self._from_files(root, files)

    def _from_files(self, root: Path, files: list[Path]) -> Iterator[SourceRecord | ScanProblem]:
        cap = self.limits.max_file_bytes
        for file in files:
            shown = str(file.relative_to(root))
            if file.is_symlink():
                yield ScanProblem(shown, "symbolic link not followed")
                continue
            try:
                info = file.stat()
                if info.st_size > cap:
                    yield ScanProblem(shown, f"{info.st_size} bytes exceeds the {cap}-byte limit")
                    continue
                with file.open("rb") as fh:
                    data = fh.read(cap + 1)
            except OSError as exc:
                yield ScanProblem(shown, f"unreadable: {exc.strerror or exc}")
                continue
            if len(data) > cap:
                yield ScanProblem(shown, f"exceeds the {cap}-byte limit")
                continue
            modified = datetime.fromtimestamp(int(info.st_mtime), UTC)
            yield from parse_secdb(data, shown, modified.strftime("%Y-%m-%dT%H:%M:%SZ"))
