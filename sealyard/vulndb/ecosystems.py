"""From an SBOM package to the advisory coordinates that describe it.

Language packages are matched by their own name and version in their OSV ecosystem. Distro
packages are matched the way distros publish advisories: by **source** package and source
version, in the ecosystem of the image's release (``Debian:12``, ``Alpine:v3.19``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sealyard.sbom.model import Distro, Package

__all__ = ["Coordinates", "coordinates"]

_PEP503 = re.compile(r"[-_.]+")


@dataclass(frozen=True)
class Coordinates:
    ecosystem: str  # OSV ecosystem, e.g. "PyPI", "Debian:12"
    name: str
    version: str
    scheme: str  # version scheme name (sealyard.vulndb.versions.SCHEMES)


def _major_minor(version_id: str) -> str:
    return ".".join(version_id.split(".")[:2])


def coordinates(package: Package, distro: Distro | None) -> Coordinates | None:
    """Where to look ``package`` up, or ``None`` when Sealyard has no advisory mapping for it."""
    meta = package.metadata
    kind = package.type
    if kind == "pypi":
        return Coordinates(
            "PyPI", _PEP503.sub("-", package.name).lower(), package.version, "pep440"
        )
    if kind == "npm":
        return Coordinates("npm", package.name, package.version, "semver")
    if kind == "cargo":
        return Coordinates("crates.io", package.name, package.version, "semver")
    if kind == "golang":
        if package.name == "stdlib":
            return Coordinates("Go", "stdlib", package.version.removeprefix("go"), "go")
        if package.version in ("", "(devel)"):
            return None
        return Coordinates("Go", package.name, package.version, "go")
    if kind == "maven":
        group = str(meta.get("groupId") or "")
        artifact = str(meta.get("artifactId") or package.name)
        if not group:
            return None
        return Coordinates("Maven", f"{group}:{artifact}", package.version, "maven")
    if kind == "deb" and distro is not None and distro.id == "debian" and distro.version_id:
        source = str(meta.get("source") or package.name)
        version = str(meta.get("source_version") or package.version)
        return Coordinates(f"Debian:{distro.version_id.split('.')[0]}", source, version, "dpkg")
    if kind == "apk" and distro is not None and distro.id == "alpine" and distro.version_id:
        origin = str(meta.get("origin") or meta.get("source") or package.name)
        return Coordinates(
            f"Alpine:v{_major_minor(distro.version_id)}", origin, package.version, "apk"
        )
    return None
