""".NET dependencies: the ``*.deps.json`` the SDK publishes next to every application.

``libraries`` maps ``"<Name>/<Version>"`` to ``{"type": …, "sha512": …, "path": …}``. Only
``"package"`` entries are NuGet packages; ``"project"`` (the application and its project
references), ``"reference"``, ``"referenceassembly"`` and ``"runtimepack"`` are not. A
deps.json carries no license information.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sealyard.sbom.catalogers._history import ages
from sealyard.sbom.catalogers.interface import (
    Cataloger,
    CatalogResult,
    FileRecord,
    ImageFiles,
    warn,
)
from sealyard.sbom.model import Location, Package
from sealyard.sbom.purl import purl

__all__ = ["DotnetCataloger"]

_NAME = "dotnet"
_SUFFIX = ".deps.json"


def _load(data: bytes) -> Any:
    """Parsed JSON; raises ``ValueError`` (also for bad UTF-8 and absurd nesting)."""
    try:
        return json.loads(data.decode("utf-8-sig"))  # the SDK may write a byte order mark
    except RecursionError as exc:
        raise ValueError("nested too deeply") from exc


def _split_key(key: str) -> tuple[str, str] | None:
    name, _, version = key.partition("/")
    name, version = name.strip(), version.strip()
    if not name or not version or "/" in version:
        return None
    return name, version


def _packages(libraries: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    return (
        (k, v) for k, v in libraries.items() if isinstance(v, dict) and v.get("type") == "package"
    )


def _parse_identities(data: bytes) -> set[tuple[str, str]] | None:
    try:
        document = _load(data)
    except ValueError:
        return None
    libraries = document.get("libraries") if isinstance(document, dict) else None
    if not isinstance(libraries, dict):
        return None
    return {ident for key, _ in _packages(libraries) if (ident := _split_key(key))}


class DotnetCataloger(Cataloger):
    """NuGet packages an application was published with."""

    name = _NAME
    # A later `COPY` of a rebuilt publish directory rewrites the deps.json in place.
    track_history = True

    def wants(self, path: str) -> bool:
        # "<assembly>.deps.json"; a bare ".deps.json" is no application's.
        return path.endswith(_SUFFIX) and path != _SUFFIX and not path.endswith("/" + _SUFFIX)

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
            document = _load(record.data)
        except ValueError as exc:
            problem(f"not JSON: {exc}")
            return
        if not isinstance(document, dict):
            problem(f"deps.json is a JSON {type(document).__name__}, not an object")
            return
        libraries = document.get("libraries")
        if not isinstance(libraries, dict):
            problem("deps.json has no libraries object")
            return
        # NuGet ids are case-insensitive: "Foo/1.0" and "foo/1.0" are one package.
        found: dict[tuple[str, str], tuple[tuple[str, str], dict[str, Any]]] = {}
        for key, entry in libraries.items():
            if not isinstance(entry, dict):
                problem(f"library {key!r} is not an object")
                continue
            if entry.get("type") != "package":
                continue
            ident = _split_key(key)
            if ident is None:
                problem(f"library key {key!r} is not Name/Version")
            else:
                found.setdefault((ident[0].lower(), ident[1].lower()), (ident, entry))
        layers = ages(record, (ident for ident, _ in found.values()), _parse_identities)
        for (name, version), entry in sorted(found.values(), key=lambda item: item[0]):
            try:
                package_url = purl("nuget", name, version)
            except ValueError as exc:
                problem(f"no package URL for {name!r}: {exc}")
                continue
            metadata = {
                field: entry[field]
                for field in ("sha512", "path")
                if isinstance(entry.get(field), str) and entry[field]
            }
            layer, introduced = layers[(name, version)]
            result.packages.append(
                Package(
                    name=name,
                    version=version,
                    type="nuget",
                    purl=package_url,
                    found_by=_NAME,
                    locations=(Location(record.path, record.layer),),
                    metadata=metadata,
                    layer=layer,
                    introduced_layer=introduced,
                )
            )
