"""Debian packages from the dpkg database.

Sources, all parsed from bytes handed over by the layer walker:

* ``var/lib/dpkg/status``: one deb822 stanza per package. Only packages whose status word
  (the third of ``Status: want flag status``) says the files are on disk count:
  ``installed``, ``triggers-awaiting`` and ``triggers-pending``; ``hold ok installed`` and
  ``deinstall ok installed`` are installed too. Every other state (``half-installed``,
  ``unpacked``, ``config-files``, ``not-installed``, …) is skipped silently: it is a
  normal state, not bad input.
* ``var/lib/dpkg/status.d/*``: distroless images write one file per package (sometimes
  several stanzas in one file) and no ``Status`` field; a stanza without ``Status`` counts as
  installed. Their ``<file>.md5sums`` siblings are not stanzas: they list the owned files.
* ``var/lib/dpkg/info/<name>.list`` or ``<name>:<arch>.list``: the files a package owns.
* ``usr/share/doc/<name>/copyright``: licenses, from the ``License:`` fields of a
  machine-readable (DEP-5) file, or from ``/usr/share/common-licenses/X`` references in a
  free-form one (see :func:`copyright_licenses`).

Each package's ``locations`` are its status (or ``status.d``) file and, when present, its
``.list`` (or ``.md5sums``) file. ``introduced_layer`` comes from the status file's history:
the earliest layer of the uninterrupted run of versions of the file that all list a package
of the same name and architecture as installed; ``layer`` is the layer of the current status
file. Malformed lines and stanzas, and repeated ``(name, arch)`` stanzas (the first wins),
are summed up in one ``malformed`` warning per file; a database file that is not UTF-8 gets
an ``encoding`` warning and is read with replacement characters. Copyright files are read
with replacement silently: only their ASCII short names are used.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from sealyard.sbom.licenses import to_spdx, try_spdx
from sealyard.sbom.model import Distro, Location, Package, ScanWarning
from sealyard.sbom.purl import purl

__all__ = [
    "DpkgCataloger",
    "DpkgEntry",
    "Paragraph",
    "copyright_licenses",
    "parse_deb822",
    "parse_dpkg_status",
    "parse_list_file",
    "parse_md5sums",
    "split_version",
]

NAME = "dpkg"
STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"
INFO = "var/lib/dpkg/info/"
DOC = "usr/share/doc/"
MD5SUMS = ".md5sums"

_INSTALLED_STATES = frozenset({"installed", "triggers-awaiting", "triggers-pending"})
_PACKAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._-]*")
_VERSION = re.compile(r"[A-Za-z0-9.+~:-]+")  # deb-version(7) characters
_SOURCE = re.compile(r"(?P<name>\S+)(?:\s*\((?P<version>[^)]*)\))?")
_COMMON_LICENSE = re.compile(r"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9._+-]*)")
# DEP-5 needs only three fields, so copyright files get a regex scan, not parse_deb822.
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_DEP5_HEADER = re.compile(r"^Format(?:-Specification)?[ \t]*:", re.MULTILINE | re.IGNORECASE)
_FILES_FIELD = re.compile(r"^Files[ \t]*:", re.MULTILINE | re.IGNORECASE)
_LICENSE_FIELD = re.compile(r"^License[ \t]*:[ \t]*(.*)$", re.MULTILINE | re.IGNORECASE)
_LATER = re.compile(r"later\s+version", re.IGNORECASE)
# How far before a common-licenses reference the "or (at your option) any later version"
# boilerplate may be: the GPL notice's warranty and "you should have received" paragraphs.
_LOOKBACK = 1200
_GNU_FILE = re.compile(r"(?:L|A)?GPL-\d(?:\.\d)?")
# A DEP-5 short name that to_spdx does not know is kept only if it looks like a name, not
# like license text pasted on the first line ("Permission to use, copy, ...").
_SHORT_NAME = re.compile(
    r"[A-Za-z0-9][\w.+~-]*(?:,?\s+(?:and|or)\s+[A-Za-z0-9][\w.+~-]*)*"
    r"(?:\s+with\s+[\w.+-]+\s+exception)?",
    re.IGNORECASE,
)
# Debian's /usr/share/common-licenses/BSD is the 3-clause BSD license of the Regents.
_COMMON_LICENSE_FILES: Mapping[str, str] = {"BSD": "BSD-3-Clause"}


@dataclass(frozen=True)
class Paragraph:
    """One deb822 stanza: field names lower-cased, continuation lines joined with ``\\n``."""

    fields: Mapping[str, str]
    line: int  # 1-based line number of its first field

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)


def parse_deb822(text: str) -> tuple[list[Paragraph], list[str]]:
    """Split deb822 text into paragraphs; also returns descriptions of malformed lines.

    Paragraphs are separated by blank (or whitespace-only) lines. A line starting with a
    space or tab continues the previous field. A repeated field keeps its first value.
    Lines starting with ``#`` are comments.
    """
    paragraphs: list[Paragraph] = []
    problems: list[str] = []
    fields: dict[str, str] = {}
    continued: dict[str, list[str]] = {}
    start = 0
    key = ""

    def flush() -> None:
        nonlocal fields, continued, key
        if fields:
            for name, lines in continued.items():
                fields[name] = "\n".join([fields[name], *lines])
            paragraphs.append(Paragraph(fields=fields, line=start))
        fields, continued, key = {}, {}, ""

    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.isspace():
            flush()
            continue
        first = line[0]
        if first == " " or first == "\t":
            if key:
                continued.setdefault(key, []).append(line.strip())
            else:
                problems.append(f"line {number}: continuation line outside a field")
            continue
        if first == "#":
            continue
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if not sep or not name or " " in name:
            problems.append(f"line {number}: not a 'Field: value' line")
            key = ""
            continue
        if not fields:
            start = number
        if name in fields:
            problems.append(f"line {number}: repeated field {name!r}")
            key = ""
            continue
        fields[name] = value.strip()
        key = name
    flush()
    return paragraphs, problems


def split_version(version: str) -> tuple[int | None, str, str]:
    """``[epoch:]upstream[-revision]`` → ``(epoch, upstream, revision)`` (deb-version(7))."""
    epoch: int | None = None
    rest = version
    head, sep, tail = version.partition(":")
    if sep and head.isdigit():
        epoch, rest = int(head), tail
    upstream, sep, revision = rest.rpartition("-")
    if not sep:
        return epoch, rest, ""
    return epoch, upstream, revision


@dataclass(frozen=True)
class DpkgEntry:
    """An installed package as the status database records it."""

    name: str
    version: str
    arch: str
    source: str
    source_version: str
    paragraph: Paragraph

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.arch)


def _is_installed(paragraph: Paragraph) -> bool:
    status = paragraph.fields.get("status")
    if status is None:
        return True  # distroless status.d files list installed packages only
    words = status.split()
    return len(words) == 3 and words[2] in _INSTALLED_STATES


def parse_dpkg_status(text: str) -> tuple[list[DpkgEntry], list[str]]:
    """Installed packages of a status file (or a ``status.d`` file), with problems found.

    Not-installed stanzas are dropped silently; stanzas missing ``Package`` or ``Version``
    (or with an impossible name) and duplicates of an earlier ``(name, arch)`` are dropped and
    described in the problems list.
    """
    paragraphs, problems = parse_deb822(text)
    entries: list[DpkgEntry] = []
    seen: set[tuple[str, str]] = set()
    for para in paragraphs:
        if not _is_installed(para):
            continue
        name, version = para.get("package"), para.get("version")
        if not name or not version:
            problems.append(f"line {para.line}: stanza without Package or Version")
            continue
        if _PACKAGE_NAME.fullmatch(name) is None or _VERSION.fullmatch(version) is None:
            problems.append(f"line {para.line}: invalid package name or version")
            continue
        arch = para.get("architecture")
        if (name, arch) in seen:
            problems.append(f"line {para.line}: duplicate stanza for {name}")
            continue
        seen.add((name, arch))
        source, source_version = name, version
        match = _SOURCE.match(para.get("source"))
        if match is not None:
            source = match["name"]
            source_version = (match["version"] or "").strip() or version
        entries.append(
            DpkgEntry(
                name=name,
                version=version,
                arch=arch,
                source=source,
                source_version=source_version,
                paragraph=para,
            )
        )
    return entries, problems


def _field_list(value: str) -> list[str]:
    return [item.strip() for item in value.replace("\n", " ").split(",") if item.strip()]


def _metadata(entry: DpkgEntry) -> dict[str, Any]:
    para = entry.paragraph
    epoch, upstream, revision = split_version(entry.version)
    size = para.get("installed-size")
    meta: dict[str, Any] = {
        "arch": entry.arch,
        "source": entry.source,
        "source_version": entry.source_version,
        "epoch": epoch,
        "upstream_version": upstream,
        "debian_revision": revision,
        "maintainer": para.get("maintainer"),
        "installed_size": int(size) if size.isdigit() else None,
        "section": para.get("section"),
        "priority": para.get("priority"),
        "multi_arch": para.get("multi-arch"),
        "homepage": para.get("homepage"),
        "description": para.get("description").split("\n", 1)[0],
        "depends": _field_list(para.get("depends")),
        "pre_depends": _field_list(para.get("pre-depends")),
        "provides": _field_list(para.get("provides")),
    }
    return meta


def _purl(entry: DpkgEntry, distro: Distro | None) -> str:
    """syft's form: ``upstream=<source>`` when the source package has another name,
    ``upstream=<source>@<source version>`` when its version differs (binNMUs, ``+bN``)."""
    upstream = None
    if entry.source_version != entry.version:
        upstream = f"{entry.source}@{entry.source_version}"
    elif entry.source != entry.name:
        upstream = entry.source
    distro_q = None
    if distro is not None:
        distro_q = f"{distro.id}-{distro.version_id}" if distro.version_id else distro.id
    return purl(
        "deb",
        entry.name,
        entry.version,
        namespace=distro.id if distro is not None else "debian",
        qualifiers={"arch": entry.arch, "distro": distro_q, "upstream": upstream},
    )


def _norm_path(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith("/") and "/." not in raw and "//" not in raw:
        return raw[1:].rstrip("/")  # the common case, fast
    path = posixpath.normpath("/" + raw).lstrip("/")
    return "" if path in ("", ".") else path


def parse_list_file(text: str) -> set[str]:
    """Files listed in a ``.list`` file, normalised; directories (parents of other entries)
    are left out so that owning ``usr/lib/python3`` does not mean owning all below it."""
    paths = {p for p in map(_norm_path, text.split("\n")) if p}
    parents: set[str] = set()
    for path in paths:
        parent = path.rpartition("/")[0]
        while parent and parent not in parents:
            parents.add(parent)
            parent = parent.rpartition("/")[0]
    return paths - parents


def parse_md5sums(text: str) -> set[str]:
    """Paths of an ``md5sums`` file (``<md5>  <path>`` lines)."""
    paths: set[str] = set()
    for line in text.split("\n"):
        digest, _, path = line.strip().partition(" ")
        if digest and path.strip():
            normalised = _norm_path(path)
            if normalised:
                paths.add(normalised)
    return paths


def _conffiles(entry: DpkgEntry) -> set[str]:
    paths: set[str] = set()
    for line in entry.paragraph.get("conffiles").split("\n"):
        words = line.split()
        if words:
            normalised = _norm_path(words[0])
            if normalised:
                paths.add(normalised)
    return paths


def _accept_short_name(name: str) -> str | None:
    """A DEP-5 ``License:`` short name → SPDX if known, else itself if it looks like one."""
    name = " ".join(name.split())
    if not name:
        return None
    known = try_spdx(name)
    if known is not None:
        return known
    return name if _SHORT_NAME.fullmatch(name) else None


def _common_license_refs(text: str) -> list[str]:
    found: list[str] = []
    previous_end = 0
    for match in _COMMON_LICENSE.finditer(text):
        name = match.group(1).rstrip(".")
        window = text[max(previous_end, match.start() - _LOOKBACK) : match.start()]
        previous_end = match.end()
        if name in _COMMON_LICENSE_FILES:
            found.append(_COMMON_LICENSE_FILES[name])
            continue
        # "GPL-2" names a file, not "version 2 only": the boilerplate just before the
        # reference says whether later versions are allowed.
        if _GNU_FILE.fullmatch(name) and _LATER.search(window):
            name += "+"
        spdx = to_spdx(name)
        if spdx is not None:
            found.append(spdx)
    return found


def copyright_licenses(text: str) -> list[str]:
    """Licenses declared by a ``usr/share/doc/<pkg>/copyright`` file, in order, unique.

    DEP-5 files: the ``License:`` short names of the header and of ``Files`` stanzas (the
    standalone ``License`` stanzas only hold texts), normalised with
    :func:`~sealyard.sbom.licenses.to_spdx`. Other files: ``/usr/share/common-licenses/X``
    references; nothing else is guessed from free text.
    """
    found: list[str] = []
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")) if p.strip()]
    if paragraphs and _DEP5_HEADER.search(paragraphs[0]):
        for index, para in enumerate(paragraphs):
            if index != 0 and not _FILES_FIELD.search(para):
                continue
            match = _LICENSE_FIELD.search(para)
            accepted = _accept_short_name(match.group(1)) if match else None
            if accepted is not None:
                found.append(accepted)
    else:
        found = _common_license_refs(text)
    return list(dict.fromkeys(found))


def _decode(record: FileRecord, warnings: list[ScanWarning]) -> str | None:
    return decode_text(record, NAME, warnings)


def _problems_warning(record: FileRecord, problems: Sequence[str]) -> ScanWarning:
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return warn(NAME, "malformed", f"{problems[0]}{more}", record.path, record.layer)


class DpkgCataloger(Cataloger):
    """Installed Debian packages (``dpkg``, and distroless ``status.d``)."""

    name = NAME
    track_history = True

    def wants(self, path: str) -> bool:
        if path == STATUS:
            return True
        if path.startswith(STATUS_D):
            return "/" not in path[len(STATUS_D) :] and len(path) > len(STATUS_D)
        if path.startswith(INFO):
            rest = path[len(INFO) :]
            return rest.endswith(".list") and "/" not in rest
        if path.startswith(DOC) and path.endswith("/copyright"):
            return path.count("/") == 4  # usr/share/doc/<pkg>/copyright
        return False

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        files = image.by_name()
        copyrights: dict[str, list[str]] = {}
        for record in image.files:
            if record.path == STATUS or (
                record.path.startswith(STATUS_D) and not record.path.endswith(MD5SUMS)
            ):
                self._catalog_db(record, image, files, copyrights, result)
        return result

    def _lookup(
        self, path: str, image: ImageFiles, files: Mapping[str, FileRecord]
    ) -> FileRecord | None:
        return files.get(path) or image.lookup(path)

    def _catalog_db(
        self,
        record: FileRecord,
        image: ImageFiles,
        files: Mapping[str, FileRecord],
        copyrights: dict[str, list[str]],
        result: CatalogResult,
    ) -> None:
        text = _decode(record, result.warnings)
        if text is None:
            return
        entries, problems = parse_dpkg_status(text)
        if problems:
            result.warnings.append(_problems_warning(record, problems))
        distroless = record.path != STATUS
        introduced = introduced_layers(
            record,
            (e.key for e in entries),
            lambda data: {
                e.key for e in parse_dpkg_status(data.decode("utf-8", errors="replace"))[0]
            },
        )
        for entry in entries:
            locations = [Location(record.path, record.layer)]
            owned = _conffiles(entry)
            if distroless:
                sibling = self._lookup(record.path + MD5SUMS, image, files)
                owned_text = _decode(sibling, result.warnings) if sibling else None
                if sibling is not None and owned_text is not None:
                    owned |= parse_md5sums(owned_text)
                    locations.append(Location(sibling.path, sibling.layer))
            else:
                listing = self._list_file(entry, image, files)
                list_text = _decode(listing, result.warnings) if listing else None
                if listing is not None and list_text is not None:
                    owned |= parse_list_file(list_text)
                    locations.append(Location(listing.path, listing.layer))
            result.owned_files |= owned
            result.packages.append(
                Package(
                    name=entry.name,
                    version=entry.version,
                    type="deb",
                    purl=_purl(entry, image.distro),
                    found_by=NAME,
                    locations=tuple(locations),
                    licenses=tuple(self._licenses(entry, image, files, copyrights, result)),
                    metadata=_metadata(entry),
                    layer=record.layer,
                    introduced_layer=introduced[entry.key],
                )
            )

    def _list_file(
        self, entry: DpkgEntry, image: ImageFiles, files: Mapping[str, FileRecord]
    ) -> FileRecord | None:
        if entry.arch:
            found = self._lookup(f"{INFO}{entry.name}:{entry.arch}.list", image, files)
            if found is not None:
                return found
        return self._lookup(f"{INFO}{entry.name}.list", image, files)

    def _licenses(
        self,
        entry: DpkgEntry,
        image: ImageFiles,
        files: Mapping[str, FileRecord],
        cache: dict[str, list[str]],
        result: CatalogResult,
    ) -> list[str]:
        record = self._lookup(f"{DOC}{entry.name}/copyright", image, files)
        if record is None:
            return []
        if record.path not in cache:
            # Only ASCII short names are used: a Latin-1 author name is not worth a warning.
            text = None if record.data is None else record.data.decode("utf-8", "replace")
            cache[record.path] = copyright_licenses(text) if text is not None else []
        return cache[record.path]
