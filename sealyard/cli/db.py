"""``sealyard db``: import advisory snapshots and show what the advisory database holds."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sealyard.cli._common import data_options, emit, fmt_time, open_from_ctx, output_option

if TYPE_CHECKING:
    from sealyard.vulndb.sources import AdvisorySource

__all__ = ["db", "detect_format"]

_PROBLEMS_SHOWN = 20


@click.group()
def db() -> None:
    """Advisory database: import advisory snapshots, show their status."""


_FORMATS = ("auto", "osv", "debian-tracker", "alpine-secdb", "debian-list")
_HEAD_BYTES = 4096
_DEBIAN_LIST_PATHS = ("data/DSA/list", "data/DLA/list", "DSA/list", "DLA/list", "list")


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(_HEAD_BYTES)
    except OSError:
        return b""  # the source itself reports the unreadable file


def _first_json(root: Path) -> Path | None:
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found = sorted(n for n in names if n.lower().endswith(".json"))
        if found:
            return Path(directory, found[0])
    return None


def detect_format(path: Path) -> str:
    """The advisory format of ``path``, judged by its layout and the first bytes of a JSON file.

    A directory holding ``data/DSA/list`` and the like is a tracker checkout; one whose first
    ``.json`` file opens like a secdb document is Alpine secdb; any other directory is OSV. A
    file named ``list`` is a DSA/DLA list, a zip is OSV, a JSON file opening with a package
    whose first key is a CVE/TEMP id is the tracker export and one opening with a secdb key
    (``distroversion``, ``packages``…) is secdb; anything else is OSV.
    """
    from sealyard.vulndb.sources.alpine_secdb import looks_like_secdb
    from sealyard.vulndb.sources.debian_tracker import looks_like_tracker

    if path.is_dir():
        if any((path / sub).is_file() for sub in _DEBIAN_LIST_PATHS):
            return "debian-list"
        sample = _first_json(path)
        return "alpine-secdb" if sample and looks_like_secdb(_head(sample)) else "osv"
    if path.name == "list":
        return "debian-list"
    if zipfile.is_zipfile(path):
        return "osv"
    head = _head(path)
    if looks_like_tracker(head):
        return "debian-tracker"
    if looks_like_secdb(head):
        return "alpine-secdb"
    return "osv"


def _source(fmt: str, path: Path) -> AdvisorySource:
    from sealyard.vulndb.sources import (
        AlpineSecdbSource,
        DebianListSource,
        DebianTrackerSource,
        OsvSource,
    )

    if fmt == "debian-list":
        return DebianListSource.for_path(path)
    if fmt == "debian-tracker":
        return DebianTrackerSource()
    if fmt == "alpine-secdb":
        return AlpineSecdbSource()
    return OsvSource()


@db.command("import")
@data_options
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="auto",
    show_default=True,
    help="Format of every SOURCE; 'auto' recognises each one by its layout and content.",
)
@click.option(
    "--source-name",
    help="Name the records are filed under (default: the format's name, or for OSV each "
    "SOURCE's file or directory name).",
)
@output_option
def import_(
    data_dir: Path | None,
    config_file: Path | None,
    sources: tuple[Path, ...],
    fmt: str,
    source_name: str | None,
    output: str,
) -> None:
    """Import advisory snapshots from local files.

    \b
    Formats (--format, recognised automatically by default):
      osv             OSV: directories (searched recursively), .zip, .json/.yaml files
      debian-tracker  the Debian security tracker's JSON export (tracker/data/json), one file
      alpine-secdb    Alpine secdb files (v3.20/main.json…), one file or a directory of them
      debian-list     DSA/DLA lists: a `list` file, or a tracker checkout with data/DSA/list

    Only records newer than the stored copy and different from it are written; withdrawn
    records are retired.
    """
    from sealyard.vulndb.store import AdvisoryStore

    registry = open_from_ctx(data_dir, config_file)
    try:
        store = AdvisoryStore(registry.db)
        rows = []
        for path in sources:
            kind = detect_format(path) if fmt == "auto" else fmt
            source = _source(kind, path)
            if source_name:
                name = source_name
            elif kind == "osv":
                name = path.stem if path.is_file() else path.resolve().name
            else:
                name = source.name
            report = store.import_records(name, source.records(path))
            rows.append({"source": name, "format": kind, "path": str(path), **report.as_dict()})
            for problem in report.problems[:_PROBLEMS_SHOWN]:
                click.echo(f"{name}: skipped {problem.path}: {problem.reason}", err=True)
            if report.invalid > _PROBLEMS_SHOWN:
                click.echo(
                    f"{name}: … and {report.invalid - _PROBLEMS_SHOWN} more invalid documents",
                    err=True,
                )
    finally:
        registry.close()
    emit(
        rows,
        ["source", "format", "path", "added", "updated", "unchanged", "withdrawn", "invalid"],
        output,
    )


@db.command()
@data_options
@output_option
def status(data_dir: Path | None, config_file: Path | None, output: str) -> None:
    """Show each advisory source: records held, newest record, last import."""
    from sealyard.vulndb.store import AdvisoryStore

    registry = open_from_ctx(data_dir, config_file)
    try:
        rows = AdvisoryStore(registry.db).status()
    finally:
        registry.close()
    if output != "json":
        rows = [
            {
                **row,
                "newest_modified": fmt_time(row["newest_modified"]),
                "last_import": fmt_time(row["last_import"]),
            }
            for row in rows
        ]
    emit(rows, ["name", "records", "newest_modified", "last_import"], output)
