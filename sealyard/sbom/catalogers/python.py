"""Installed Python distributions: ``*.dist-info/METADATA`` and ``*.egg-info``.

Core metadata is an RFC 822 header block (``Name``, ``Version``, ``License``,
``License-Expression``, ``Classifier`` …; the body is the long description and is ignored).
Wheels install a ``.dist-info`` directory whose ``RECORD`` lists the files the distribution
installed; setuptools/distutils install an ``.egg-info`` directory (``PKG-INFO`` plus, for pip
installs, ``installed-files.txt``) or a single ``.egg-info`` file. The file lists end up in
``metadata["files"]`` as image paths; they are *not* ``owned_files``, which is reserved for OS
package managers.
"""

from __future__ import annotations

import csv
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from sealyard.sbom.catalogers.interface import (
    Cataloger,
    CatalogResult,
    FileRecord,
    ImageFiles,
    warn,
)
from sealyard.sbom.licenses import to_spdx
from sealyard.sbom.model import Location, Package
from sealyard.sbom.purl import purl

__all__ = ["PythonCataloger", "canonical_name", "classifier_license"]

_NAME = "python"
_PEP503 = re.compile(r"[-_.]+")
# A "License:" value longer than this, or spanning lines, is the license text, not its name.
_MAX_LICENSE_NAME = 120
_NO_LICENSE = frozenset({"", "unknown", "none", "n/a"})

# Trove classifiers that name exactly one SPDX license. Ambiguous ones ("BSD License",
# "Apache Software License", "GNU General Public License (GPL)") are left to ``to_spdx``.
_CLASSIFIER_SPDX: Mapping[str, str] = {
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "Common Development and Distribution License 1.0 (CDDL-1.0)": "CDDL-1.0",
    "Eclipse Public License 1.0 (EPL-1.0)": "EPL-1.0",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "European Union Public Licence 1.1 (EUPL 1.1)": "EUPL-1.1",
    "European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "ISC License (ISCL)": "ISC",
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "Mozilla Public License 1.0 (MPL)": "MPL-1.0",
    "Mozilla Public License 1.1 (MPL 1.1)": "MPL-1.1",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Open Software License 3.0 (OSL-3.0)": "OSL-3.0",
    "PostgreSQL License": "PostgreSQL",
    "Python License (CNRI Python License)": "CNRI-Python",
    "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Universal Permissive License (UPL)": "UPL-1.0",
    "zlib/libpng License": "Zlib",
}


def _to_spdx(text: str) -> str | None:
    """The SPDX expression for a declared license name, or ``None`` if none is known."""
    return to_spdx(text)


def _spdx_or_raw(text: str) -> str:
    return _to_spdx(text) or text


def canonical_name(name: str) -> str:
    """PEP 503 normalised project name: lowercase, runs of ``-_.`` collapsed to ``-``."""
    return _PEP503.sub("-", name).lower()


def purl_name(name: str) -> str:
    """The name as the purl spec wants it for ``pypi``: lowercase, ``_`` replaced by ``-``.

    (Dots stay: ``zope.interface``, as syft and trivy write it.)
    """
    return name.lower().replace("_", "-")


def classifier_license(classifier: str) -> str | None:
    """The license a ``License :: …`` trove classifier names (SPDX where possible).

    ``None`` for non-license classifiers and for the bare ``License :: OSI Approved``.
    """
    parts = [p.strip() for p in classifier.split("::")]
    if len(parts) < 2 or parts[0] != "License":
        return None
    leaf = parts[-1]
    if len(parts) == 2 and leaf == "OSI Approved":
        return None
    mapped = _CLASSIFIER_SPDX.get(leaf)
    if mapped:
        return mapped
    return _spdx_or_raw(leaf)


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


def _one_line(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _licenses(msg: Message) -> tuple[str, ...]:
    """PEP 639 ``License-Expression`` first, then ``License``, then license classifiers."""
    expression = _one_line(msg.get("License-Expression"))
    if expression:
        return (_spdx_or_raw(expression),)
    raw = str(msg.get("License") or "").strip()
    if raw.lower() not in _NO_LICENSE and "\n" not in raw and len(raw) <= _MAX_LICENSE_NAME:
        return (_spdx_or_raw(raw),)
    found = (classifier_license(str(c)) for c in msg.get_all("Classifier") or ())
    return _dedupe(lic for lic in found if lic)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Metadata 1.x predates the UTF-8 rule; latin-1 never fails and keeps ASCII intact.
        return data.decode("latin-1")


def _join_inside(base: str, entry: str) -> str | None:
    """``entry`` (relative to ``base``, or absolute) as an image path; ``None`` if it escapes."""
    entry = entry.strip()
    if not entry or "\0" in entry:
        return None
    if entry.startswith("/"):
        joined = posixpath.normpath(entry.lstrip("/"))
    else:
        joined = posixpath.normpath(posixpath.join(base, entry))
    if joined in (".", "..") or joined.startswith("../"):
        return None
    return joined


class PythonCataloger(Cataloger):
    """Python distributions installed by pip, setuptools or a distro (``dist-packages``)."""

    name = _NAME

    def wants(self, path: str) -> bool:
        if path.endswith(".egg-info"):
            return True
        base = posixpath.basename(path)
        if base in ("METADATA", "RECORD"):
            return path.endswith(".dist-info/" + base)
        if base in ("PKG-INFO", "installed-files.txt"):
            return path.endswith(".egg-info/" + base)
        return False

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        by_path = image.by_name()

        def sibling(path: str) -> FileRecord | None:
            return by_path.get(path) or image.lookup(path)

        for record in sorted(image.files, key=lambda r: r.path):
            if record.data is None:
                continue  # too large: the walker already recorded a warning
            if record.path.endswith(".dist-info/METADATA"):
                listing = sibling(posixpath.join(record.directory, "RECORD"))
                self._add(result, record, listing, self._record_files)
            elif record.path.endswith(".egg-info/PKG-INFO"):
                listing = sibling(posixpath.join(record.directory, "installed-files.txt"))
                self._add(result, record, listing, self._installed_files)
            elif record.path.endswith(".egg-info"):
                self._add(result, record, None, self._installed_files)
        return result

    def _add(
        self,
        result: CatalogResult,
        record: FileRecord,
        listing: FileRecord | None,
        read_listing: Callable[[FileRecord, CatalogResult], list[str] | None],
    ) -> None:
        assert record.data is not None
        msg = HeaderParser(policy=compat32).parsestr(_decode(record.data))
        name = _one_line(msg.get("Name"))
        version = _one_line(msg.get("Version"))
        missing = [field for field, value in (("Name", name), ("Version", version)) if not value]
        if missing:
            result.warnings.append(
                warn(
                    _NAME,
                    "malformed",
                    f"core metadata without {' and '.join(missing)}",
                    record.path,
                    record.layer,
                )
            )
            return
        try:
            package_url = purl("pypi", purl_name(name), version)
        except ValueError as exc:
            result.warnings.append(
                warn(
                    _NAME,
                    "malformed",
                    f"no package URL for {name!r}: {exc}",
                    record.path,
                    record.layer,
                )
            )
            return
        metadata: dict[str, object] = {}
        if listing is not None and listing.data is not None:
            files = read_listing(listing, result)
            if files is not None:
                metadata["files"] = files
        result.packages.append(
            Package(
                name=name,
                version=version,
                type="pypi",
                purl=package_url,
                found_by=_NAME,
                locations=(Location(record.path, record.layer),),
                licenses=_licenses(msg),
                metadata=metadata,
                layer=record.layer,
            )
        )

    @staticmethod
    def _record_files(listing: FileRecord, result: CatalogResult) -> list[str] | None:
        """Paths from a wheel ``RECORD`` (CSV ``path,hash,size``, relative to site-packages)."""
        assert listing.data is not None
        site = posixpath.dirname(listing.directory)
        try:
            rows = list(csv.reader(_decode(listing.data).splitlines(), strict=True))
        except csv.Error as exc:
            result.warnings.append(
                warn(_NAME, "malformed", f"unreadable RECORD: {exc}", listing.path, listing.layer)
            )
            return None
        paths = (_join_inside(site, row[0]) for row in rows if row)
        return sorted({p for p in paths if p})

    @staticmethod
    def _installed_files(listing: FileRecord, result: CatalogResult) -> list[str] | None:
        """Paths from an ``installed-files.txt`` (one per line, relative to the egg-info)."""
        assert listing.data is not None
        paths = (
            _join_inside(listing.directory, line) for line in _decode(listing.data).splitlines()
        )
        return sorted({p for p in paths if p})
