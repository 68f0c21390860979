"""Installed Composer packages: ``vendor/composer/installed.json``.

Composer 1 writes a JSON array of package objects; Composer 2 writes
``{"packages": [...], "dev": bool, "dev-package-names": [...]}``. Each package has
``name`` (``vendor/project``), ``version`` (as tagged, e.g. ``v6.4.1`` or ``dev-main``) and
``license`` (an array of SPDX ids; several mean the user may choose, so they are joined with
``OR``). Packages listed in ``dev-package-names`` get ``metadata["dev"] = True``.
"""

from __future__ import annotations

import json
from typing import Any

from sealyard.sbom.catalogers._history import ages
from sealyard.sbom.catalogers.interface import (
    Cataloger,
    CatalogResult,
    FileRecord,
    ImageFiles,
    warn,
)
from sealyard.sbom.licenses import try_spdx
from sealyard.sbom.model import Location, Package
from sealyard.sbom.purl import purl

__all__ = ["PhpCataloger", "composer_license"]

_NAME = "php"
_SUFFIX = "vendor/composer/installed.json"


def _to_spdx(text: str) -> str | None:
    """The SPDX expression for a declared license, ``None`` if it is not recognised (unlike
    ``to_spdx``, which hands unrecognised text back: joining needs to know)."""
    return try_spdx(text)


def _wrapped(expression: str) -> bool:
    """Whether one pair of parentheses encloses the whole expression."""
    depth = 0
    for index, char in enumerate(expression):
        depth += (char == "(") - (char == ")")
        if depth == 0 and index < len(expression) - 1:
            return False
    return expression.startswith("(") and depth == 0


def _grouped(expression: str) -> str:
    """``expression`` safe to place beside ``OR``: compound ones get parentheses."""
    padded = f" {expression.upper()} "
    compound = " OR " in padded or " AND " in padded
    return f"({expression})" if compound and not _wrapped(expression) else expression


def composer_license(value: Any) -> tuple[str, ...]:
    """Licenses from a Composer ``license`` value (array, or a lone string).

    Several licenses are a choice, so when every one has an SPDX form they become one
    ``A OR B`` expression; otherwise each is kept on its own (as SPDX or as declared), since
    ``proprietary OR MIT`` would not be a valid expression.
    """
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    declared = list(dict.fromkeys(i.strip() for i in items if isinstance(i, str) and i.strip()))
    spdx = [_to_spdx(d) for d in declared]
    if len(declared) > 1 and all(spdx):
        return (" OR ".join(_grouped(s) for s in spdx if s),)
    return tuple(dict.fromkeys(s or d for s, d in zip(spdx, declared, strict=True)))


def _load(data: bytes) -> Any:
    """Parsed JSON; raises ``ValueError`` (also for bad UTF-8 and absurd nesting)."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def _package_list(document: Any) -> tuple[list[Any], set[str]] | None:
    """The package entries and the dev package names, for either Composer layout."""
    if isinstance(document, list):
        return document, set()
    if isinstance(document, dict) and isinstance(document.get("packages"), list):
        dev = document.get("dev-package-names")
        names = {n for n in dev if isinstance(n, str)} if isinstance(dev, list) else set()
        return document["packages"], names
    return None


def _identity(entry: Any) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    name, version = entry.get("name"), entry.get("version")
    if not (isinstance(name, str) and isinstance(version, str)):
        return None
    name, version = name.strip(), version.strip()
    vendor, _, project = name.partition("/")
    if not (vendor and project and version) or "/" in project:
        return None
    return name, version


def _parse_identities(data: bytes) -> set[tuple[str, str]] | None:
    try:
        listed = _package_list(_load(data))
    except ValueError:
        return None
    if listed is None:
        return None
    return {ident for ident in map(_identity, listed[0]) if ident}


class PhpCataloger(Cataloger):
    """PHP packages installed by Composer."""

    name = _NAME
    # installed.json is rewritten whole by every `composer require`: history tells which
    # layer brought each package in.
    track_history = True

    def wants(self, path: str) -> bool:
        return path == _SUFFIX or path.endswith("/" + _SUFFIX)

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        for record in sorted(image.files, key=lambda r: r.path):
            if record.data is not None:
                self._read(record, result)
        return result

    def _read(self, record: FileRecord, result: CatalogResult) -> None:
        assert record.data is not None

        def problem(message: str) -> None:
            result.warnings.append(warn(_NAME, "malformed", message, record.path, record.layer))

        try:
            listed = _package_list(_load(record.data))
        except ValueError as exc:
            problem(f"not JSON: {exc}")
            return
        if listed is None:
            problem("neither a package array (Composer 1) nor an object with packages (Composer 2)")
            return
        entries, dev_names = listed
        found: dict[tuple[str, str], Any] = {}
        for index, entry in enumerate(entries):
            ident = _identity(entry)
            if ident is None:
                problem(f"package #{index} has no valid vendor/name and version")
            elif ident not in found:
                found[ident] = entry
        layers = ages(record, found, _parse_identities)
        for (full_name, version), entry in found.items():
            vendor, _, project = full_name.partition("/")
            try:
                package_url = purl("composer", project, version, namespace=vendor)
            except ValueError as exc:
                problem(f"no package URL for {full_name!r}: {exc}")
                continue
            layer, introduced = layers[(full_name, version)]
            result.packages.append(
                Package(
                    name=full_name,
                    version=version,
                    type="composer",
                    purl=package_url,
                    found_by=_NAME,
                    locations=(Location(record.path, record.layer),),
                    licenses=composer_license(entry.get("license")),
                    metadata={"dev": True} if full_name in dev_names else {},
                    layer=layer,
                    introduced_layer=introduced,
                )
            )
