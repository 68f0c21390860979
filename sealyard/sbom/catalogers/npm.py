"""Installed npm packages: the ``package.json`` of each package directory.

Read from ``node_modules`` trees anywhere in the image (``usr/lib/node_modules`` for global
installs, ``app/node_modules/…`` for applications, nested ``node_modules`` of dependencies,
pnpm's ``node_modules/.pnpm/…``) and from Debian's ``usr/share/nodejs`` and
``usr/lib/nodejs``. Lock files are not read: an image scan reports what is installed.

A ``package.json`` without ``name`` or ``version`` is not a package (``"type": "module"``
markers in ``dist/``, test fixtures) and is skipped silently.
"""

from __future__ import annotations

import json
from typing import Any

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

__all__ = ["NpmCataloger", "npm_licenses"]

_NAME = "npm"
_ROOTS = ("usr/share/nodejs/", "usr/lib/nodejs/")


def _to_spdx(text: str) -> str | None:
    """The SPDX expression for a declared license name, or ``None`` if none is known."""
    return to_spdx(text)


def _declared(value: Any) -> list[str]:
    """License names from one ``license``/``licenses`` value: a string, ``{"type": …}``, or a
    list of either."""
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, dict):
        kind = value.get("type")
        return _declared(kind) if isinstance(kind, str) else []
    if isinstance(value, list):
        return [name for item in value if not isinstance(item, list) for name in _declared(item)]
    return []


def npm_licenses(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The licenses a ``package.json`` declares, SPDX where the name is known.

    ``license`` (an SPDX expression, or the legacy ``{"type", "url"}`` object) wins over the
    legacy ``licenses`` array; each array entry stays a separate license, as npm never defined
    whether several meant "and" or "or".
    """
    names = _declared(manifest.get("license")) or _declared(manifest.get("licenses"))
    return tuple(dict.fromkeys((_to_spdx(n) or n) for n in names))


def _identity(manifest: Any) -> tuple[str, str] | None:
    """``(name, version)`` if both are non-empty strings."""
    if not isinstance(manifest, dict):
        return None
    name, version = manifest.get("name"), manifest.get("version")
    if isinstance(name, str) and isinstance(version, str) and name.strip() and version.strip():
        return name.strip(), version.strip()
    return None


def _load(data: bytes) -> Any:
    """Parsed JSON; raises ``ValueError`` (also for bad UTF-8 and absurd nesting)."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


class NpmCataloger(Cataloger):
    """Packages installed into ``node_modules`` (and Debian's Node.js module trees)."""

    name = _NAME

    def wants(self, path: str) -> bool:
        # Installed modules, and application roots (``/app/package.json``): syft and trivy
        # report both.
        return path == "package.json" or path.endswith("/package.json")

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        for record in sorted(image.files, key=lambda r: r.path):
            if record.data is not None:
                self._read(record, result)
        return result

    def _read(self, record: FileRecord, result: CatalogResult) -> None:
        assert record.data is not None

        installed = record.path.startswith(("node_modules/", *_ROOTS)) or (
            "/node_modules/" in record.path
        )

        def problem(message: str) -> None:
            # Outside node_modules a package.json may be a template or fixture: no noise.
            if installed:
                result.warnings.append(warn(_NAME, "malformed", message, record.path, record.layer))

        try:
            manifest = _load(record.data)
        except ValueError as exc:
            problem(f"not JSON: {exc}")
            return
        if not isinstance(manifest, dict):
            problem(f"package.json is a JSON {type(manifest).__name__}, not an object")
            return
        for field in ("name", "version"):
            value = manifest.get(field)
            if value is not None and not isinstance(value, str):
                problem(f"{field} is a JSON {type(value).__name__}, not a string")
                return
        ident = _identity(manifest)
        if ident is None:
            return  # not a package: a module-type marker, a fixture, a workspace stub
        full_name, version = ident
        scope, _, name = full_name.rpartition("/")
        scope_ok = not scope or (scope.startswith("@") and len(scope) > 1 and "/" not in scope)
        if not scope_ok or not name or name.startswith("@"):
            problem(f"invalid package name {full_name!r}")
            return
        try:
            package_url = purl("npm", name, version, namespace=scope or None)
        except ValueError as exc:
            problem(f"no package URL for {full_name!r}: {exc}")
            return
        result.packages.append(
            Package(
                name=full_name,
                version=version,
                type="npm",
                purl=package_url,
                found_by=_NAME,
                locations=(Location(record.path, record.layer),),
                licenses=npm_licenses(manifest),
                layer=record.layer,
            )
        )
