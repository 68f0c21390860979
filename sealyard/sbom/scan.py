"""``scan_image``: one pass over the layers, then every cataloger, then one sorted SBOM."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sealyard import __version__
from sealyard.sbom.catalogers import OS_CATALOGERS, default_catalogers
from sealyard.sbom.catalogers.interface import Cataloger, CatalogResult, ImageFiles
from sealyard.sbom.distro import ALL_DISTRO_PATHS, detect_distro
from sealyard.sbom.model import LayerInfo, Package, Sbom, ScanWarning
from sealyard.sbom.source import ImageSource
from sealyard.sbom.walker import WalkResult, walk_image

__all__ = ["scan_image"]

_DISTRO_PATHS = frozenset(ALL_DISTRO_PATHS)


def _file_of(path: str) -> str:
    """The image file of a location; nested archives are written ``outer.jar:inner.jar``."""
    return path.split(":", 1)[0]


def _fill_layers(package: Package, walk: WalkResult) -> Package:
    if package.layer is not None and package.introduced_layer is not None:
        return package
    layers = [loc.layer for loc in package.locations if loc.layer is not None]
    firsts = [
        first
        for loc in package.locations
        if (first := walk.first_layer(_file_of(loc.path))) is not None
    ]
    return dataclasses.replace(
        package,
        layer=package.layer if package.layer is not None else (max(layers) if layers else None),
        introduced_layer=(
            package.introduced_layer
            if package.introduced_layer is not None
            else (min(firsts) if firsts else None)
        ),
    )


def scan_image(
    source: ImageSource,
    catalogers: Sequence[Cataloger] | None = None,
    *,
    progress: Callable[[LayerInfo, int], None] | None = None,
) -> Sbom:
    """Build the bill of materials of ``source``.

    A cataloger that fails is recorded as a ``cataloger-failed`` warning and skipped; the
    scan fails only when the input itself does not verify (digest mismatch).
    """
    cats = list(catalogers) if catalogers is not None else default_catalogers()
    walk = walk_image(source, cats, extra_wanted=_DISTRO_PATHS.__contains__, progress=progress)

    def read(path: str) -> bytes | None:
        record = walk.lookup(path)
        return None if record is None else record.data

    distro = detect_distro(read)
    combined = CatalogResult()
    found_by_os: set[str] = set()
    for index, cataloger in enumerate(cats):
        files = walk.files_for(index)
        if not files:
            continue
        try:
            result = cataloger.catalog(ImageFiles(tuple(files), distro, walk.lookup))
        except Exception as exc:
            combined.warnings.append(
                ScanWarning(
                    "cataloger-failed", f"{type(exc).__name__}: {exc}", "", None, cataloger.name
                )
            )
            continue
        combined.extend(result)
        if cataloger.name in OS_CATALOGERS:
            found_by_os.add(cataloger.name)
    owned = {path.lstrip("/") for path in combined.owned_files}
    packages: dict[tuple[str, tuple[str, ...]], Package] = {}
    for package in combined.packages:
        paths = [loc.path for loc in package.locations]
        if (
            package.found_by not in OS_CATALOGERS
            and paths
            and all(_file_of(p) in owned for p in paths)
        ):
            continue  # the OS package manager already reports this one
        package = _fill_layers(package, walk)
        packages.setdefault((package.purl, tuple(sorted(paths))), package)
    ordered = tuple(sorted(packages.values(), key=lambda p: p.sort_key))
    warnings = tuple(
        sorted(
            [*walk.warnings, *combined.warnings],
            key=lambda w: (
                w.layer if w.layer is not None else -1,
                w.source,
                w.path,
                w.kind,
                w.message,
            ),
        )
    )
    return Sbom(
        image=source.info,
        packages=ordered,
        distro=distro,
        warnings=warnings,
        tool="sealyard",
        tool_version=__version__,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
