"""Alpine (and Wolfi/Chainguard) packages from the apk database.

``lib/apk/db/installed`` (``usr/lib/apk/db/installed`` on images that moved it) holds one
record per installed package, records separated by a blank line, one ``X:value`` line per
field (apk-tools' "installed database" format):

``P`` name, ``V`` version, ``A`` arch, ``L`` license, ``o`` origin (source package),
``m`` maintainer, ``U`` url, ``T`` description, ``c`` aports commit, ``C`` checksum,
``S``/``I`` package/installed size, ``t`` build time, ``D``/``p`` depends/provides, and the
file list: ``F`` a directory, each following ``R`` a file in it (``a``/``M``/``Z`` lines
describe them and are ignored here).

``introduced_layer`` comes from the file's history, as for dpkg: the earliest layer of the
uninterrupted run of versions of the database that list a package of the same name and
architecture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sealyard.sbom.catalogers._history import introduced_layers
from sealyard.sbom.catalogers.interface import (
    Cataloger,
    CatalogResult,
    FileRecord,
    ImageFiles,
    decode_text,
    warn,
)
from sealyard.sbom.licenses import spdx_expression, to_spdx, try_spdx
from sealyard.sbom.model import Distro, Location, Package, ScanWarning
from sealyard.sbom.purl import purl

__all__ = ["ApkCataloger", "ApkRecord", "apk_licenses", "parse_apk_installed"]

NAME = "apk"
DB_PATHS = ("lib/apk/db/installed", "usr/lib/apk/db/installed")

_NAME_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
_PER_ENTRY = frozenset("aMZ")  # owner/mode, ACL and checksum of the previous F/R entry
_VERSION_OK = re.compile(r"\S+")
_OPERATOR = re.compile(r"[()]|(?:^|\s)(?:and|or|with)(?:\s|$)", re.IGNORECASE)


@dataclass(frozen=True)
class ApkRecord:
    """One package record of the installed database."""

    name: str
    version: str
    arch: str = ""
    license: str = ""
    origin: str = ""
    maintainer: str = ""
    url: str = ""
    description: str = ""
    commit: str = ""
    checksum: str = ""
    size: int | None = None
    installed_size: int | None = None
    build_time: int | None = None
    depends: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    files: tuple[str, ...] = field(default=(), repr=False)
    line: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.arch)


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() else None


class _Builder:
    """Collects the lines of one record."""

    def __init__(self, line: int) -> None:
        self.line = line
        self.fields: dict[str, str] = {}
        self.files: list[str] = []
        self.directory = ""

    def add(self, key: str, value: str) -> bool:
        """Add one line; ``False`` if it repeats a field (the first value is kept)."""
        if key == "F":
            self.directory = value.strip("/")
        elif key == "R":
            name = value.strip("/")
            if name:
                self.files.append(f"{self.directory}/{name}" if self.directory else name)
        elif key in _PER_ENTRY:
            pass  # attributes of the preceding F or R line
        elif key in self.fields:
            return False
        else:
            self.fields[key] = value
        return True

    def build(self) -> ApkRecord | None:
        get = self.fields.get
        name, version = get("P", ""), get("V", "")
        if not name or not version:
            return None
        return ApkRecord(
            name=name,
            version=version,
            arch=get("A", ""),
            license=get("L", ""),
            origin=get("o", "") or name,
            maintainer=get("m", ""),
            url=get("U", ""),
            description=get("T", ""),
            commit=get("c", ""),
            checksum=get("C", ""),
            size=_int(get("S", "")),
            installed_size=_int(get("I", "")),
            build_time=_int(get("t", "")),
            depends=tuple(get("D", "").split()),
            provides=tuple(get("p", "").split()),
            files=tuple(self.files),
            line=self.line,
        )


def parse_apk_installed(text: str) -> tuple[list[ApkRecord], list[str]]:
    """Records of an apk installed database, with descriptions of problems found.

    Records lacking ``P`` or ``V`` (or with an impossible name or version), repeated
    ``(name, arch)`` records and lines that are not ``X:value`` are dropped and described.
    """
    records: list[ApkRecord] = []
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    builder: _Builder | None = None

    def finish() -> None:
        nonlocal builder
        if builder is None:
            return
        record = builder.build()
        line = builder.line
        builder = None
        if record is None:
            problems.append(f"line {line}: record without P (name) or V (version)")
        elif (
            _NAME_OK.fullmatch(record.name) is None or _VERSION_OK.fullmatch(record.version) is None
        ):
            problems.append(f"line {line}: invalid package name or version")
        elif record.key in seen:
            problems.append(f"line {line}: duplicate record for {record.name}")
        else:
            seen.add(record.key)
            records.append(record)

    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            finish()
            continue
        if len(line) < 2 or line[1] != ":":
            problems.append(f"line {number}: not an 'X:value' line")
            continue
        if builder is None:
            builder = _Builder(number)
        if not builder.add(line[0], line[2:].strip()):
            problems.append(f"line {number}: repeated field {line[0]!r}")
    finish()
    return records, problems


def apk_licenses(declared: str) -> tuple[str, ...]:
    """The ``L:`` field as one SPDX expression (see module :mod:`~sealyard.sbom.licenses`).

    A valid expression (``MIT AND BSD-2-Clause``) is kept (canonically spelled); a
    space-separated list without operators (``MIT BSD GPL2+``), which older aports use, is
    normalised entry by entry and conjoined: ``MIT AND BSD AND GPL-2.0-or-later``.
    Anything else is kept as declared.
    """
    declared = " ".join(declared.split())
    if not declared:
        return ()
    whole = try_spdx(declared)
    if whole is not None:
        return (whole,)
    if _OPERATOR.search(declared) is None:
        parts = [to_spdx(part) or part for part in declared.split()]
        return (spdx_expression(parts),)
    return (declared,)


def _purl(record: ApkRecord, distro: Distro | None) -> str:
    distro_q = None
    if distro is not None:
        distro_q = f"{distro.id}-{distro.version_id}" if distro.version_id else distro.id
    return purl(
        "apk",
        record.name,
        record.version,
        namespace=distro.id if distro is not None else "alpine",
        qualifiers={
            "arch": record.arch,
            "distro": distro_q,
            "upstream": record.origin if record.origin != record.name else None,
        },
    )


def _metadata(record: ApkRecord) -> dict[str, Any]:
    return {
        "arch": record.arch,
        "source": record.origin,
        "license": record.license,
        "maintainer": record.maintainer,
        "url": record.url,
        "description": record.description,
        "commit": record.commit,
        "checksum": record.checksum,
        "size": record.size,
        "installed_size": record.installed_size,
        "build_time": record.build_time,
        "depends": list(record.depends),
        "provides": list(record.provides),
    }


def _decode(record: FileRecord, warnings: list[ScanWarning]) -> str | None:
    return decode_text(record, NAME, warnings)


class ApkCataloger(Cataloger):
    """Installed apk packages (Alpine, Wolfi, Chainguard)."""

    name = NAME
    track_history = True

    def wants(self, path: str) -> bool:
        return path in DB_PATHS

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        files = image.by_name()
        # Both paths exist only when one is a copy of the other: read the first present.
        for path in DB_PATHS:
            record = files.get(path)
            if record is not None:
                self._catalog_db(record, image.distro, result)
                break
        return result

    def _catalog_db(self, record: FileRecord, distro: Distro | None, result: CatalogResult) -> None:
        text = _decode(record, result.warnings)
        if text is None:
            return
        records, problems = parse_apk_installed(text)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            result.warnings.append(
                warn(NAME, "malformed", f"{problems[0]}{more}", record.path, record.layer)
            )
        introduced = introduced_layers(
            record,
            (r.key for r in records),
            lambda data: {
                r.key for r in parse_apk_installed(data.decode("utf-8", errors="replace"))[0]
            },
        )
        location = Location(record.path, record.layer)
        for apk in records:
            result.owned_files.update(apk.files)
            result.packages.append(
                Package(
                    name=apk.name,
                    version=apk.version,
                    type="apk",
                    purl=_purl(apk, distro),
                    found_by=NAME,
                    locations=(location,),
                    licenses=apk_licenses(apk.license),
                    metadata=_metadata(apk),
                    layer=record.layer,
                    introduced_layer=introduced[apk.key],
                )
            )
