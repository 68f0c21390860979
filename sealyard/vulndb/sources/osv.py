"""OSV snapshots: a directory tree or a ``.zip`` of ``.json``/``.yaml``/``.yml`` documents.

Both the layout of the OSV bulk exports (``all.zip``) and of git checkouts of advisory
databases (PyPA: ``vulns/<package>/*.yaml``; RustSec ``osv`` branch: ``crates/*.json``) are
read. Every document is size-capped before it is read; archives are checked on their declared
sizes and on the bytes actually inflated, so a zip bomb stops at the cap. YAML is loaded
with a safe loader that keeps timestamps as strings (OSV times are RFC 3339 strings) and
documents whose alias expansion outgrows their size are refused.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from sealyard.errors import UsageError
from sealyard.vulndb.osv import OsvError, OsvRecord
from sealyard.vulndb.sources.interface import (
    AdvisorySource,
    ScanProblem,
    SourceLimits,
    SourceRecord,
)

__all__ = ["OsvSource", "parse_document"]

_SUFFIXES = (".json", ".yaml", ".yml")
_MAX_DEPTH = 64
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _OsvYamlLoader(_SafeLoader):
    """``SafeLoader`` that leaves timestamps as the strings they were written as."""


_OsvYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}


class _Refused(Exception):
    """Internal: a document was refused; the message becomes the problem's reason."""


def _check_shape(doc: Any, budget: int) -> None:
    """Bound depth and the expanded node count (YAML aliases can share subtrees)."""
    stack: list[tuple[Any, int]] = [(doc, 0)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > budget:
            raise _Refused("document expands far beyond its size (YAML alias bomb?)")
        if depth > _MAX_DEPTH:
            raise _Refused(f"document nests deeper than {_MAX_DEPTH} levels")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _Refused(f"non-string key {key!r}")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise _Refused(f"value of type {type(value).__name__} is not JSON data")


def parse_document(data: bytes, path: str) -> SourceRecord | ScanProblem:
    """Decode one OSV document (JSON, or YAML when ``path`` ends in ``.yaml``/``.yml``)."""
    try:
        if path.lower().endswith((".yaml", ".yml")):
            doc = yaml.load(data, Loader=_OsvYamlLoader)  # noqa: S506 - a SafeLoader subclass
        else:
            doc = json.loads(data)
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        return ScanProblem(path, f"not valid {_kind(path)}: {_first_line(exc)}")
    if not isinstance(doc, Mapping):
        return ScanProblem(path, "an OSV document must be an object")
    try:
        _check_shape(doc, 2 * len(data) + 64)
        record = OsvRecord.from_dict(doc)
    except (_Refused, OsvError) as exc:
        return ScanProblem(path, str(exc))
    return SourceRecord(record=record, raw=doc, path=path)


def _kind(path: str) -> str:
    return "JSON" if path.lower().endswith(".json") else "YAML"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _wanted(name: str) -> bool:
    return name.lower().endswith(_SUFFIXES)


class OsvSource(AdvisorySource):
    """OSV documents from a directory (searched recursively), a ``.zip`` or a single file."""

    name = "osv"

    def __init__(self, limits: SourceLimits | None = None) -> None:
        self.limits = limits or SourceLimits()

    def records(self, path: Path) -> Iterator[SourceRecord | ScanProblem]:
        """Yield the records under ``path``, sorted by file name.

        Raises:
            UsageError: ``path`` does not exist or is neither a directory, a zip archive nor
                a ``.json``/``.yaml`` file.
        """
        if path.is_dir():
            return self._from_directory(path)
        if path.is_file() and zipfile.is_zipfile(path):
            return self._from_zip(path)
        if path.is_file() and _wanted(path.name):
            return self._from_files(path.parent, [path])
        if not path.exists():
            raise UsageError(f"advisory source {path} does not exist")
        raise UsageError(f"{path} is neither a directory, a zip archive nor an OSV file")

    def _from_directory(self, root: Path) -> Iterator[SourceRecord | ScanProblem]:
        files: list[Path] = []
        for directory, subdirs, names in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            files.extend(Path(directory, n) for n in names if _wanted(n))
        files.sort()
        if len(files) > self.limits.max_members:
            yield ScanProblem(
                str(root), f"more than {self.limits.max_members} files; the rest is ignored"
            )
            files = files[: self.limits.max_members]
        yield from self._from_files(root, files)

    def _from_files(self, root: Path, files: list[Path]) -> Iterator[SourceRecord | ScanProblem]:
        cap = self.limits.max_file_bytes
        for file in files:
            shown = str(file.relative_to(root)) if file.is_relative_to(root) else str(file)
            if file.is_symlink():
                yield ScanProblem(shown, "symbolic link not followed")
                continue
            try:
                size = file.stat().st_size
                if size > cap:
                    yield ScanProblem(shown, f"{size} bytes exceeds the {cap}-byte limit")
                    continue
                with file.open("rb") as fh:
                    data = fh.read(cap + 1)
            except OSError as exc:
                yield ScanProblem(shown, f"unreadable: {exc.strerror or exc}")
                continue
            if len(data) > cap:
                yield ScanProblem(shown, f"exceeds the {cap}-byte limit")
                continue
            yield parse_document(data, shown)

    def _from_zip(self, archive: Path) -> Iterator[SourceRecord | ScanProblem]:
        cap, total_cap = self.limits.max_file_bytes, self.limits.max_total_bytes
        try:
            zf = zipfile.ZipFile(archive)
        except (OSError, zipfile.BadZipFile) as exc:
            yield ScanProblem(archive.name, f"unreadable zip archive: {exc}")
            return
        with zf:
            members = sorted(
                (i for i in zf.infolist() if not i.is_dir() and _wanted(i.filename)),
                key=lambda i: i.filename,
            )
            if len(members) > self.limits.max_members:
                yield ScanProblem(
                    archive.name,
                    f"more than {self.limits.max_members} members; the rest is ignored",
                )
                members = members[: self.limits.max_members]
            total = 0
            for info in members:
                shown = f"{archive.name}!{info.filename}"
                if info.file_size > cap:
                    yield ScanProblem(
                        shown, f"declares {info.file_size} bytes, over the {cap}-byte limit"
                    )
                    continue
                if total + info.file_size > total_cap:
                    yield ScanProblem(
                        shown,
                        f"archive expands beyond {total_cap} bytes; remaining members skipped",
                    )
                    return
                try:
                    with zf.open(info) as member:
                        data = member.read(cap + 1)
                except (
                    OSError,
                    zipfile.BadZipFile,
                    zlib.error,
                    EOFError,
                    NotImplementedError,
                    RuntimeError,
                ) as exc:
                    yield ScanProblem(shown, f"unreadable member: {exc}")
                    continue
                total += len(data)
                if len(data) > cap:
                    yield ScanProblem(shown, f"inflates beyond the {cap}-byte limit")
                    continue
                yield parse_document(data, shown)
