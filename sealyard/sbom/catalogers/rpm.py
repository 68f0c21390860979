"""Installed rpm packages, from the rpm database in any of its three backends.

* SQLite ``rpmdb.sqlite`` (Fedora 33+, RHEL/CentOS/Rocky/Alma 9, Amazon Linux 2023): table
  ``Packages(hnum, blob)``, read in memory with :meth:`sqlite3.Connection.deserialize`;
* Berkeley DB hash ``Packages`` (RHEL/CentOS 7 and 8, Amazon Linux 2, Oracle Linux 8), read by
  :mod:`._rpmdb_bdb` in pure Python, either byte order;
* ndb ``Packages.db`` (SUSE: SLES 15, openSUSE Leap/Tumbleweed), read by :mod:`._rpmdb_ndb`;

each under ``var/lib/rpm/`` or ``usr/lib/sysimage/rpm/``. The backend is chosen by the
file's magic bytes, not its name. Every value is an rpm header blob, decoded by
:mod:`._rpm_header`. Packages and their purls follow syft (and so match what grype expects)::

    pkg:rpm/<namespace>/<name>@<version>-<release>
        ?arch=<arch>&distro=<id>-<version_id>&epoch=<epoch>&upstream=<source rpm>

(``epoch`` only when the header has one), where the namespace is the os-release ``ID``
except ``rhel`` → ``redhat`` and ``opensuse-*`` → ``opensuse``; the package version is
``[epoch:]version-release``.

``gpg-pubkey`` entries (imported signing keys rpm keeps as pseudo-packages) are not software
and are skipped, as Trivy does. ``introduced_layer`` comes from the earlier versions of the
database (``track_history``): the oldest layer of the unbroken run of versions that contain a
package of the same name and architecture.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from sealyard.sbom.catalogers._history import introduced_layers
from sealyard.sbom.catalogers._rpm_header import (
    DbContents,
    RpmdbError,
    RpmHeaderInfo,
    parse_header,
    read_name_arch,
)
from sealyard.sbom.catalogers._rpmdb_bdb import BTREE_MAGIC, HASH_MAGIC, read_bdb_hash
from sealyard.sbom.catalogers._rpmdb_ndb import NDB_MAGIC, read_ndb
from sealyard.sbom.catalogers.interface import (
    Cataloger,
    CatalogResult,
    FileRecord,
    ImageFiles,
    warn,
)
from sealyard.sbom.licenses import to_spdx
from sealyard.sbom.model import Distro, Location, Package, ScanWarning
from sealyard.sbom.purl import purl

__all__ = ["DB_PATHS", "RpmCataloger", "read_rpmdb", "rpm_purl"]

NAME = "rpm"

_DIRS = ("var/lib/rpm/", "usr/lib/sysimage/rpm/")
#: Every rpm database file the cataloger reads.
DB_PATHS = frozenset(d + f for d in _DIRS for f in ("rpmdb.sqlite", "Packages", "Packages.db"))
_WAL_PATHS = frozenset(d + "rpmdb.sqlite-wal" for d in _DIRS)

_SQLITE_MAGIC = b"SQLite format 3\0"
# SQLite VM instructions allowed per byte of database before a query is interrupted: a
# table scan needs a few per byte, so a hostile file cannot keep the cataloger busy.
_SQLITE_STEPS_PER_BYTE = 64
_SQLITE_PROGRESS_EVERY = 1000

_NAMESPACES = {"rhel": "redhat"}
_LISTED_BAD_HEADERS = 5


class _Budget:
    def __init__(self, calls: int) -> None:
        self.calls = calls

    def __call__(self) -> int:
        self.calls -= 1
        return 1 if self.calls < 0 else 0


def _read_sqlite(data: bytes) -> DbContents:
    """Header blobs from the ``Packages`` table of an rpm SQLite database."""
    if len(data) < 100:
        raise RpmdbError(f"SQLite file of {len(data)} bytes is truncated")
    # rpm leaves the file in WAL mode (header bytes 18/19 = 2); an in-memory database
    # cannot open a WAL, so present it as a rollback-journal database (1).
    image = data[:18] + b"\x01\x01" + data[20:] if data[18:20] == b"\x02\x02" else data
    out = DbContents()
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(image)  # SQLite takes a private copy: nothing touches the disk
        # No value can be longer than the file: this stops generated columns or views from
        # building huge strings, as the progress budget stops endless queries.
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(len(data), 1 << 20))
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA cell_size_check = ON")
        budget = _Budget(1000 + len(data) * _SQLITE_STEPS_PER_BYTE // _SQLITE_PROGRESS_EVERY)
        conn.set_progress_handler(budget, _SQLITE_PROGRESS_EVERY)
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
        if kind is None or kind[0] != "table":
            raise RpmdbError("SQLite database has no Packages table")
        rows = 0
        try:
            for hnum, blob in conn.execute('SELECT hnum, blob FROM "Packages"'):
                rows += 1
                if isinstance(blob, bytes):
                    out.blobs.append(blob)
                else:
                    out.problem(f"row {hnum}: blob is {type(blob).__name__}, not bytes")
        except sqlite3.DatabaseError as exc:
            if rows == 0:
                raise
            out.problem(f"reading stopped after {rows} rows: {exc}")
    except sqlite3.DatabaseError as exc:
        raise RpmdbError(f"unreadable SQLite database: {exc}") from exc
    finally:
        conn.close()
    return out


def read_rpmdb(data: bytes) -> DbContents:
    """The header blobs of an rpm database in any backend, recognised by its magic.

    Raises:
        RpmdbError: the content is not a readable rpm database.
    """
    if data.startswith(_SQLITE_MAGIC):
        return _read_sqlite(data)
    if data.startswith(NDB_MAGIC):
        return read_ndb(data)
    magics = {int.from_bytes(data[12:16], "little"), int.from_bytes(data[12:16], "big")}
    if len(data) >= 16 and magics & {HASH_MAGIC, BTREE_MAGIC}:
        return read_bdb_hash(data)  # which explains that a btree is not supported
    raise RpmdbError("not an rpm database (no SQLite, Berkeley DB hash or ndb magic)")


def _licenses(text: str) -> tuple[str, ...]:
    """The SPDX expression for rpm's ``License`` tag (Fedora's legacy abbreviations such as
    ``ASL 2.0`` or ``GPLv2+`` included), else the declared text."""
    spdx = to_spdx(text)
    return (spdx,) if spdx else ()


def _namespace(distro: Distro | None) -> str:
    if distro is None:
        return ""
    if distro.id.startswith("opensuse"):
        return "opensuse"
    return _NAMESPACES.get(distro.id, distro.id)


def rpm_purl(info: RpmHeaderInfo, distro: Distro | None) -> str:
    """The package URL of one installed rpm, with syft's qualifier set."""
    distro_q = ""
    if distro is not None and distro.id:
        distro_q = "-".join(p for p in (distro.id, distro.version_id) if p)
    return purl(
        "rpm",
        info.name,
        f"{info.version}-{info.release}" if info.release else info.version,
        namespace=_namespace(distro),
        qualifiers={
            "arch": info.arch,
            "epoch": str(info.epoch) if info.epoch is not None else None,
            "upstream": info.source_rpm,
            "distro": distro_q,
        },
    )


def _source(source_rpm: str) -> tuple[str, str]:
    """``("bash", "5.1.8-9.el9")`` from ``bash-5.1.8-9.el9.src.rpm``; ``("", "")`` if odd."""
    for suffix in (".src.rpm", ".nosrc.rpm"):
        if source_rpm.endswith(suffix):
            parts = source_rpm.removesuffix(suffix).rsplit("-", 2)
            if len(parts) == 3 and all(parts):
                return parts[0], f"{parts[1]}-{parts[2]}"
    return "", ""


def _package(
    info: RpmHeaderInfo, record: FileRecord, distro: Distro | None, introduced: int
) -> Package:
    evr = f"{info.version}-{info.release}" if info.release else info.version
    source_name, source_version = _source(info.source_rpm)
    return Package(
        name=info.name,
        version=f"{info.epoch}:{evr}" if info.epoch is not None else evr,
        type="rpm",
        purl=rpm_purl(info, distro),
        found_by=NAME,
        locations=(Location(record.path, record.layer),),
        licenses=_licenses(info.license),
        metadata={
            "epoch": info.epoch,
            "version": info.version,
            "release": info.release,
            "arch": info.arch,
            "sourceRpm": info.source_rpm,
            "sourceName": source_name,
            "sourceVersion": source_version,
            "vendor": info.vendor,
            "size": info.size,
            "modularityLabel": info.modularity_label,
            "license": info.license,
        },
        layer=record.layer,
        introduced_layer=introduced,
    )


def _name_arch_set(data: bytes) -> set[tuple[str, str]]:
    contents = read_rpmdb(data)
    keys: set[tuple[str, str]] = set()
    for blob in contents.blobs:
        try:
            keys.add(read_name_arch(blob))
        except RpmdbError:
            continue
    return keys


def _name_arch_or_none(data: bytes) -> set[tuple[str, str]] | None:
    try:
        return _name_arch_set(data)
    except RpmdbError:
        return None


class RpmCataloger(Cataloger):
    """rpm packages from ``rpmdb.sqlite``, ``Packages`` (Berkeley DB) or ``Packages.db``."""

    name = NAME
    track_history = True
    # rpm databases of large images exceed the default limit (100+ MB for BDB).
    max_file_size = 256 * 1024 * 1024

    def wants(self, path: str) -> bool:
        return path in DB_PATHS or path in _WAL_PATHS

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        found: dict[tuple[str, int | None, str, str, str], Package] = {}
        for record in sorted(image.files, key=lambda r: r.path):
            if record.path in _WAL_PATHS and record.size:
                result.warnings.append(
                    warn(
                        NAME,
                        "incomplete",
                        "the SQLite write-ahead log is not empty: changes not checkpointed "
                        "into rpmdb.sqlite are not reported",
                        record.path,
                        record.layer,
                    )
                )
            if record.path not in DB_PATHS or record.data is None:
                continue
            infos = _read(record.data, record, result.warnings)
            introduced = introduced_layers(
                record, {(i.name, i.arch) for i in infos}, _name_arch_or_none
            )
            for info in infos:
                key = (info.name, info.epoch, info.version, info.release, info.arch)
                previous = found.get(key)
                if previous is not None:  # the same package in a second database
                    location = Location(record.path, record.layer)
                    found[key] = replace(previous, locations=(*previous.locations, location))
                    continue
                found[key] = _package(
                    info, record, image.distro, introduced[(info.name, info.arch)]
                )
                result.owned_files.update(info.files)
        result.packages.extend(found.values())
        return result


def _read(data: bytes, record: FileRecord, warnings: list[ScanWarning]) -> list[RpmHeaderInfo]:
    """The packages of one database file; what could not be read becomes warnings."""
    try:
        contents = read_rpmdb(data)
    except RpmdbError as exc:
        warnings.append(warn(NAME, "unreadable", str(exc), record.path, record.layer))
        return []
    problems = list(contents.problems)
    infos: list[RpmHeaderInfo] = []
    bad_headers = 0
    for blob in contents.blobs:
        try:
            info = parse_header(blob)
        except RpmdbError as exc:
            bad_headers += 1
            if bad_headers <= _LISTED_BAD_HEADERS:
                problems.append(f"skipped a malformed package header: {exc}")
            continue
        if info.name != "gpg-pubkey":
            infos.append(info)
    if bad_headers > _LISTED_BAD_HEADERS:
        problems.append(
            f"{bad_headers - _LISTED_BAD_HEADERS} more malformed package headers were skipped"
        )
    if contents.suppressed:
        problems.append(f"{contents.suppressed} more problems were not listed")
    warnings.extend(
        warn(NAME, "malformed-entry", message, record.path, record.layer) for message in problems
    )
    return infos
