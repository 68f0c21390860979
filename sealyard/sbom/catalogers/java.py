"""Java archives: jar, war, ear, Jenkins plugins (jpi, hpi) and archives nested in them.

Identity of an archive, best evidence first:

1. ``META-INF/maven/<groupId>/<artifactId>/pom.properties`` → ``pkg:maven/<g>/<a>@<v>``.
   The one describing the archive itself (its artifactId matches the file name or the
   manifest, or it is the only one) *is* the archive's package: the manifest adds licenses
   and metadata but no second package. Every other ``pom.properties`` (shaded/fat jars) is
   a package of its own, located at the archive.
2. Otherwise ``META-INF/MANIFEST.MF`` (Jenkins ``Short-Name``/``Plugin-Version``,
   ``Implementation-*``, ``Bundle-SymbolicName``/``Bundle-Version``, ``Specification-*``)
   together with
3. the file name (``name-1.2.3.jar``). As in Syft, the file name gives the *name* (manifest
   titles are prose such as "Apache Commons IO", symbolic names are not artifactIds) and
   the manifest gives the *version*, the file name's version being the fallback.

Nested archives (``WEB-INF/lib/*.jar``, ``BOOT-INF/lib/*.jar``, a war in an ear) are read
recursively; their packages are located at ``outer.war:WEB-INF/lib/inner.jar`` as Syft does.
Licenses come from the manifest's ``Bundle-License``.

Zip bombs and other hostile archives are bounded by :class:`JavaLimits`: nesting depth, a
total decompression budget per scanned file, per-member caps checked against the declared
size *and* enforced while reading, and caps on entry counts. Whatever is refused becomes a
:class:`~sealyard.sbom.model.ScanWarning`.
"""

from __future__ import annotations

import importlib
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sealyard.sbom.catalogers.interface import (
    Cataloger,
    CatalogResult,
    FileRecord,
    ImageFiles,
    warn,
)
from sealyard.sbom.model import Location, Package, ScanWarning
from sealyard.sbom.purl import purl

__all__ = [
    "ARCHIVE_EXTENSIONS",
    "JavaArchiveCataloger",
    "JavaLimits",
    "parse_archive_filename",
    "parse_manifest",
    "parse_pom_properties",
]

#: Extensions of the zip-based Java archives read, at the top level and nested.
ARCHIVE_EXTENSIONS = (".jar", ".war", ".ear", ".jpi", ".hpi", ".par", ".sar", ".nar", ".kar")
_JENKINS_EXTENSIONS = (".jpi", ".hpi")

_POM_PROPERTIES = re.compile(r"(?:^|/)META-INF/maven/([^/]+)/([^/]+)/pom\.properties$")
_MANIFEST = "META-INF/MANIFEST.MF"
_SOURCE = "java-archive"


@dataclass(frozen=True)
class JavaLimits:
    """Bounds on the work one archive may cause.

    Attributes:
        max_depth: deepest nesting read (the scanned file is depth 0; a jar in a war in an
            ear is depth 2).
        max_total_uncompressed: bytes decompressed for one scanned file, nested archives
            and metadata files together.
        max_nested_archive: largest nested archive decompressed (it is held in memory).
        max_metadata_file: largest ``MANIFEST.MF`` or ``pom.properties`` read.
        max_entries: most entries in one archive's central directory.
        max_pom_properties: most ``pom.properties`` read from one archive.
        max_nested_archives: most nested archives read from one archive.
        max_total_entries: most central-directory entries parsed for one scanned file,
            nested archives included.
    """

    max_depth: int = 4
    max_total_uncompressed: int = 512 * 1024 * 1024
    max_nested_archive: int = 128 * 1024 * 1024
    max_metadata_file: int = 1024 * 1024
    max_entries: int = 200_000
    max_pom_properties: int = 10_000
    max_nested_archives: int = 10_000
    max_total_entries: int = 1_000_000


# --- parsers of the metadata files ---------------------------------------------------------


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a JAR manifest: ``Name: value`` lines, continuation lines start
    with one space, the section ends at the first blank line. Later duplicates are ignored."""
    attrs: dict[str, str] = {}
    key: str | None = None
    for line in text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line:
            if attrs:
                break
            continue
        if line[0] == " ":
            if key is not None:
                attrs[key] += line[1:]
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name:
            key = None
            continue
        if name in attrs:
            key = None
            continue
        key = name
        attrs[key] = value[1:] if value.startswith(" ") else value
    return {k: v.strip() for k, v in attrs.items()}


def parse_pom_properties(text: str) -> dict[str, str]:
    """A ``pom.properties`` file: ``key=value`` (or ``key: value``) lines, ``#``/``!``
    comments. Escapes beyond ``\\:``/``\\=`` and line continuations are not used by Maven."""
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"((?:[^=:\s\\]|\\.)+)\s*[=:\s]\s*(.*)$", line)
        if match:
            key = match.group(1).replace("\\", "")
            props.setdefault(key, match.group(2).replace("\\:", ":").replace("\\=", "=").strip())
    return props


_VERSION_START = re.compile(r"^(?:\d|build\d|rc?\d+(?![a-z]))", re.IGNORECASE)
_SECONDARY_VERSION = re.compile(r"^(.*?[A-Za-z][\w.]*?)[._](\d[\w.+~]*)$")


def parse_archive_filename(path: str) -> tuple[str, str]:
    """``(name, version)`` from an archive's file name, Syft's way: dash-separated groups
    belong to the name until one starts with a digit (or ``build<N>``, ``r<N>``, ``rc<N>``),
    which starts the version; ``name_1.2``/``name.1.2`` are tried next.

    >>> parse_archive_filename("lib/guava-31.1-jre.jar")
    ('guava', '31.1-jre')
    """
    base = path.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base else base
    groups = stem.split("-")
    for i in range(1, len(groups)):
        if _VERSION_START.match(groups[i]):
            return "-".join(groups[:i]), "-".join(groups[i:])
    secondary = _SECONDARY_VERSION.match(stem)
    if secondary:
        return secondary.group(1), secondary.group(2)
    return stem, ""


def _clean_osgi(value: str) -> str:
    """``org.foo;singleton:=true`` → ``org.foo``."""
    return value.split(";", 1)[0].strip()


def _split_osgi_clauses(value: str) -> list[str]:
    """The licenses of a ``Bundle-License`` header: OSGi clauses split on commas outside
    quotes, each without its ``;attributes``. Real manifests also hold unquoted prose with
    commas ("Apache License, Version 2.0"): unless every clause is quoted or a single token
    (an SPDX id or a URL), the whole value is one license."""
    clauses: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            clauses.append("".join(current))
            current = []
        else:
            current.append(ch)
    clauses.append("".join(current))
    heads = [c.split(";", 1)[0].strip() for c in clauses]
    heads = [h for h in heads if h]
    if all(h.startswith('"') or not any(ch.isspace() for ch in h) for h in heads):
        return [h.strip('"').strip() for h in heads if h.strip('"').strip()]
    whole = value.split(";", 1)[0].strip().strip('"').strip()
    return [whole] if whole else []


def _to_spdx() -> Callable[[str], str | None] | None:
    """``sealyard.sbom.licenses.to_spdx`` if that module is present (imported lazily)."""
    try:
        module = importlib.import_module("sealyard.sbom.licenses")
    except ImportError:
        return None
    func = getattr(module, "to_spdx", None)
    return func if callable(func) else None


def _licenses(manifest: Mapping[str, str]) -> tuple[str, ...]:
    declared = manifest.get("Bundle-License", "")
    if not declared:
        return ()
    to_spdx = _to_spdx()
    out: list[str] = []
    for text in _split_osgi_clauses(declared) or [declared.strip()]:
        spdx: str | None = None
        if to_spdx is not None:
            try:
                spdx = to_spdx(text)
            except Exception:  # another module's bug must not lose the package
                spdx = None
        value = spdx or text
        if value not in out:
            out.append(value)
    return tuple(out)


# --- reading archives ----------------------------------------------------------------------


class _Refused(Exception):
    """A member or archive was not read; the message says why (becomes a warning)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class _Budget:
    remaining: int
    exhausted: bool = False

    def take(self, size: int) -> None:
        if size > self.remaining:
            self.exhausted = True
            raise _Refused("budget-exhausted", "decompression budget for this file is exhausted")
        self.remaining -= size


@dataclass(frozen=True)
class _Pom:
    group_id: str
    artifact_id: str
    version: str
    path: str


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    NotImplementedError,  # unsupported compression method
    RuntimeError,  # encrypted member
    EOFError,
    OSError,
    ValueError,
    struct.error,
    IndexError,
    KeyError,
    OverflowError,
)


def _declared_entry_count(data: bytes) -> int | None:
    """Entry count from the end-of-central-directory record (zip64 aware), read *before*
    ``zipfile`` builds a ZipInfo per entry; ``None`` if there is no record."""
    tail_start = max(0, len(data) - (0xFFFF + 22))
    at = data.rfind(b"PK\x05\x06", tail_start)
    if at < 0 or at + 22 > len(data):
        return None
    count: int = struct.unpack_from("<H", data, at + 10)[0]
    if count == 0xFFFF and at >= 20 and data[at - 20 : at - 16] == b"PK\x06\x07":
        zip64_at: int = struct.unpack_from("<Q", data, at - 20 + 8)[0]
        if zip64_at + 56 <= len(data) and data[zip64_at : zip64_at + 4] == b"PK\x06\x06":
            count = struct.unpack_from("<Q", data, zip64_at + 32)[0]
    return count


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, budget: _Budget) -> bytes:
    if info.file_size > cap:
        raise _Refused(
            "member-too-large",
            f"{info.filename} declares {info.file_size} bytes, over the {cap} limit",
        )
    budget.take(info.file_size)
    with zf.open(info) as fh:
        data = fh.read(cap + 1)
    if len(data) > cap:  # zipfile stops at the declared size; never trust that alone
        raise _Refused("member-too-large", f"{info.filename} is over the {cap} limit")
    return data


@dataclass
class _Scan:
    """State of one scanned file: where it is, limits, and what was found."""

    record: FileRecord
    limits: JavaLimits
    budget: _Budget
    entries: int = 0
    packages: list[Package] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)

    def warn(self, kind: str, message: str, vpath: str) -> None:
        self.warnings.append(warn(_SOURCE, kind, message, vpath, self.record.layer))


class JavaArchiveCataloger(Cataloger):
    """Maven packages from Java archives and the archives nested in them."""

    name = _SOURCE
    max_file_size = 256 * 1024 * 1024

    def __init__(self, limits: JavaLimits | None = None) -> None:
        self.limits = limits or JavaLimits()

    def wants(self, path: str) -> bool:
        return path.lower().endswith(ARCHIVE_EXTENSIONS)

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        for record in image.files:
            if record.data is None:
                continue
            scan = _Scan(record, self.limits, _Budget(self.limits.max_total_uncompressed))
            self._archive(scan, record.data, record.path, depth=0)
            result.packages.extend(scan.packages)
            result.warnings.extend(scan.warnings)
        return result

    # One archive (the scanned file or a nested one).
    def _archive(self, scan: _Scan, data: bytes, vpath: str, depth: int) -> None:
        limits = scan.limits
        count = _declared_entry_count(data)
        if count is not None and count > limits.max_entries:
            scan.warn(
                "archive-too-large", f"{count} entries, over the {limits.max_entries} limit", vpath
            )
            return
        scan.entries += count or 0
        if scan.entries > limits.max_total_entries:
            scan.warn(
                "archive-too-large",
                f"more than {limits.max_total_entries} entries in this file's archives; not read",
                vpath,
            )
            return
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                infos = zf.infolist()
                if len(infos) > limits.max_entries:
                    scan.warn("archive-too-large", f"{len(infos)} entries", vpath)
                    return
                manifest, poms, nested = self._read_metadata(scan, zf, infos, vpath)
                self._identify(scan, vpath, manifest, poms)
                self._nested(scan, zf, nested, vpath, depth)
        except _ZIP_ERRORS as exc:
            scan.warn("unreadable", f"not a readable zip archive: {exc}", vpath)

    def _read_metadata(
        self, scan: _Scan, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], vpath: str
    ) -> tuple[dict[str, str], list[_Pom], list[zipfile.ZipInfo]]:
        limits = scan.limits
        manifest: dict[str, str] = {}
        poms: dict[tuple[str, str, str], _Pom] = {}
        nested: list[zipfile.ZipInfo] = []
        pom_count = 0
        for info in infos:
            name = info.filename
            if info.is_dir():
                continue
            if name.lower().endswith(ARCHIVE_EXTENSIONS):
                nested.append(info)
                continue
            pom_match = _POM_PROPERTIES.search(name)
            is_manifest = name.upper() == _MANIFEST and not manifest
            if not pom_match and not is_manifest:
                continue
            if pom_match:
                pom_count += 1
                if pom_count > limits.max_pom_properties:
                    if pom_count == limits.max_pom_properties + 1:
                        scan.warn(
                            "too-many-entries",
                            f"more than {limits.max_pom_properties} pom.properties; "
                            "the rest ignored",
                            vpath,
                        )
                    continue
            if scan.budget.exhausted:
                break
            try:
                raw = _read_member(zf, info, limits.max_metadata_file, scan.budget)
            except _Refused as exc:
                scan.warn(exc.kind, str(exc), f"{vpath}:{name}")
                continue
            except _ZIP_ERRORS as exc:
                scan.warn("unreadable", f"{name}: {exc}", vpath)
                continue
            text = raw.decode("utf-8", "replace")
            if is_manifest:
                manifest = parse_manifest(text)
            elif pom_match:
                props = parse_pom_properties(text)
                pom = _Pom(
                    group_id=props.get("groupId") or pom_match.group(1),
                    artifact_id=props.get("artifactId") or pom_match.group(2),
                    version=props.get("version", ""),
                    path=name,
                )
                poms.setdefault((pom.group_id, pom.artifact_id, pom.version), pom)
        ordered = [poms[k] for k in sorted(poms)]
        return manifest, ordered, nested

    def _identify(
        self, scan: _Scan, vpath: str, manifest: Mapping[str, str], poms: list[_Pom]
    ) -> None:
        file_name, file_version = parse_archive_filename(vpath)
        own = _own_pom(poms, file_name, file_version, manifest)
        licenses = _licenses(manifest)
        location = Location(vpath, scan.record.layer)
        is_jenkins = vpath.lower().endswith(_JENKINS_EXTENSIONS)

        if own is None:
            name, version, group, group_source = _manifest_identity(
                manifest, file_name, file_version, is_jenkins
            )
            if name and version:
                found: dict[str, Any] = {
                    "groupIdSource": group_source,
                    "identifiedBy": "manifest" if manifest else "filename",
                    **_manifest_metadata(manifest),
                }
                scan.packages.append(
                    _maven_package(group, name, version, location, licenses, found)
                )
            elif not poms:
                scan.warn(
                    "unidentified-archive",
                    "no pom.properties, and no version in the manifest or file name",
                    vpath,
                )
        for pom in poms:
            mine = pom is own
            version = pom.version
            if mine and not version:
                version = _manifest_version(manifest, is_jenkins) or file_version
            meta: dict[str, Any] = {"pomProperties": pom.path, "groupIdSource": "pom.properties"}
            if mine:
                meta.update(_manifest_metadata(manifest))
            else:
                meta["shadedIn"] = vpath
            scan.packages.append(
                _maven_package(
                    pom.group_id, pom.artifact_id, version, location,
                    licenses if mine else (), meta,
                )
            )  # fmt: skip

    def _nested(
        self,
        scan: _Scan,
        zf: zipfile.ZipFile,
        nested: list[zipfile.ZipInfo],
        vpath: str,
        depth: int,
    ) -> None:
        limits = scan.limits
        if not nested:
            return
        if depth + 1 > limits.max_depth:
            scan.warn(
                "nesting-too-deep",
                f"{len(nested)} nested archive(s) beyond depth {limits.max_depth} not read",
                vpath,
            )
            return
        if len(nested) > limits.max_nested_archives:
            scan.warn(
                "too-many-entries",
                f"{len(nested)} nested archives; only the first {limits.max_nested_archives} read",
                vpath,
            )
        for info in nested[: limits.max_nested_archives]:
            inner = f"{vpath}:{info.filename}"
            if scan.budget.exhausted:
                break
            try:
                data = _read_member(zf, info, limits.max_nested_archive, scan.budget)
            except _Refused as exc:
                scan.warn(exc.kind, str(exc), inner)
                continue
            except _ZIP_ERRORS as exc:
                scan.warn("unreadable", str(exc), inner)
                continue
            self._archive(scan, data, inner, depth + 1)


# --- identity ------------------------------------------------------------------------------


def _norm(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())


def _own_pom(
    poms: list[_Pom], file_name: str, file_version: str, manifest: Mapping[str, str]
) -> _Pom | None:
    """The pom.properties that describes the archive itself, if any, by (in order): its
    artifactId is the file's name; it is named by the manifest; it is the only one with the
    archive's version (file name or manifest); it is the only one and the archive states no
    version of its own (a different version means shading: ``app-1.0.jar`` with gson's)."""
    if not poms:
        return None
    name = _norm(file_name)
    for pom in poms:
        if name and _norm(pom.artifact_id) == name:
            return pom
    hints = {
        _norm(_clean_osgi(manifest.get(key, "")).rsplit(".", 1)[-1])
        for key in ("Short-Name", "Bundle-SymbolicName", "Automatic-Module-Name",
                    "Implementation-Title", "Extension-Name")
    }  # fmt: skip
    hints.add(_norm(manifest.get("Implementation-Title", "")))
    hints.discard("")
    for pom in poms:
        if _norm(pom.artifact_id) in hints:
            return pom
    versions = {file_version, _manifest_version(manifest, jenkins=False)} - {""}
    same_version = [pom for pom in poms if pom.version in versions]
    if len(same_version) == 1:
        return same_version[0]
    if len(poms) == 1 and not versions:
        return poms[0]
    return None


def _manifest_version(manifest: Mapping[str, str], jenkins: bool) -> str:
    keys = ["Implementation-Version", "Bundle-Version", "Specification-Version"]
    if jenkins:
        keys.insert(0, "Plugin-Version")
    for key in keys:
        value = _clean_osgi(manifest.get(key, ""))
        if value:
            return value
    return ""


def _choose_version(manifest_version: str, file_version: str) -> str:
    """The version of an archive without pom.properties.

    The file name's version wins when the manifest's merely decorates it (``5.13.0 (b0)``,
    OSGi ``3.17.0.v20210823-1805``) or is not a plain version at all: that is the version
    the artifact is published under (Maven coordinates), which advisories name. Otherwise
    the manifest's version, then the file name's.
    """
    if file_version and (
        not manifest_version
        or manifest_version.startswith(file_version)
        or any(ch.isspace() for ch in manifest_version)
    ):
        return file_version
    return manifest_version.split()[0] if manifest_version else file_version


def _manifest_identity(
    manifest: Mapping[str, str], file_name: str, file_version: str, jenkins: bool
) -> tuple[str, str, str, str]:
    """``(name, version, groupId, where the groupId came from)`` of an archive without its
    own pom.properties. Without a groupId field the name stands in for it, as Syft does."""
    name = ""
    if jenkins:
        name = manifest.get("Short-Name", "").strip()
    if not name and file_name[:1].isalpha():
        name = file_name  # the most reliable artifact name, as Syft finds
    if not name:
        # Titles are often prose ("Apache Commons IO"): only identifier-like values count.
        for key in ("Implementation-Title", "Bundle-SymbolicName", "Specification-Title",
                    "Extension-Name"):  # fmt: skip
            value = _clean_osgi(manifest.get(key, ""))
            if value and not any(ch.isspace() for ch in value):
                name = value
                break
    if not name:
        name = file_name
    version = _choose_version(_manifest_version(manifest, jenkins), file_version)
    for key in ("Group-Id", "Implementation-Vendor-Id"):
        value = _clean_osgi(manifest.get(key, ""))
        if value and " " not in value:
            return name, version, value, "manifest"
    return name, version, name, "guessed"


_MANIFEST_KEYS = (
    "Implementation-Title",
    "Implementation-Version",
    "Implementation-Vendor",
    "Bundle-SymbolicName",
    "Bundle-Version",
    "Bundle-License",
    "Specification-Title",
    "Specification-Version",
    "Automatic-Module-Name",
    "Short-Name",
    "Plugin-Version",
    "Main-Class",
)


def _manifest_metadata(manifest: Mapping[str, str]) -> dict[str, Any]:
    picked = {k: manifest[k][:1024] for k in _MANIFEST_KEYS if manifest.get(k)}
    return {"manifest": picked} if picked else {}


def _maven_package(
    group: str,
    artifact: str,
    version: str,
    location: Location,
    licenses: Iterable[str],
    metadata: Mapping[str, Any],
) -> Package:
    return Package(
        name=artifact,
        version=version,
        type="maven",
        purl=purl("maven", artifact, version, namespace=group or None),
        found_by=_SOURCE,
        locations=(location,),
        licenses=tuple(licenses),
        metadata={
            "groupId": group,
            "artifactId": artifact,
            "virtualPath": location.path,
            **metadata,
        },
        layer=location.layer,
    )
