"""The bill-of-materials data model: pure, frozen, sortable, serialisable."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Distro",
    "ImageInfo",
    "LayerInfo",
    "Location",
    "Package",
    "Sbom",
    "ScanWarning",
]


@dataclass(frozen=True, order=True)
class Location:
    """Where evidence of a package was found: a path inside the image and its layer index."""

    path: str
    layer: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "layer": self.layer}


@dataclass(frozen=True)
class Package:
    """One package found in the image.

    ``type`` is the purl type family: ``deb``, ``apk``, ``rpm``, ``pypi``, ``npm``, ``golang``,
    ``maven``, ``gem``, ``cargo``, ``composer``, ``nuget``. ``licenses`` holds SPDX
    expressions where one could be derived, else the declared text. ``metadata`` carries
    ecosystem details (source package, epoch, arch, upstream version, …) that matchers need.
    ``introduced_layer`` is the index of the layer where the package first appeared (and
    stayed), ``layer`` the index of the layer holding its current version.
    """

    name: str
    version: str
    type: str
    purl: str
    found_by: str
    locations: tuple[Location, ...] = ()
    licenses: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    layer: int | None = None
    introduced_layer: int | None = None

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.type, self.name, self.version, self.purl)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "type": self.type,
            "purl": self.purl,
            "foundBy": self.found_by,
            "locations": [loc.to_dict() for loc in self.locations],
            "licenses": list(self.licenses),
            "metadata": dict(self.metadata),
            "layer": self.layer,
            "introducedLayer": self.introduced_layer,
        }


@dataclass(frozen=True)
class Distro:
    """The operating system release, from ``etc/os-release`` or ``usr/lib/os-release``."""

    id: str
    version_id: str = ""
    version_codename: str = ""
    name: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "versionId": self.version_id,
            "versionCodename": self.version_codename,
            "name": self.name,
            "prettyName": self.pretty_name,
            "idLike": list(self.id_like),
        }


@dataclass(frozen=True)
class ScanWarning:
    """Something the scan could not read or refused to read: data, never a crash."""

    kind: str  # e.g. "path-escape", "member-too-large", "cataloger-failed", "unreadable"
    message: str
    path: str = ""
    layer: int | None = None
    source: str = ""  # the cataloger or reader that raised it

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "path": self.path,
            "layer": self.layer,
            "source": self.source,
        }


@dataclass(frozen=True)
class LayerInfo:
    index: int
    digest: str
    diff_id: str
    media_type: str
    size: int


@dataclass(frozen=True)
class ImageInfo:
    """What was scanned."""

    reference: str
    manifest_digest: str = ""
    config_digest: str = ""
    platform: str = ""
    layers: tuple[LayerInfo, ...] = ()
    repo_digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sbom:
    image: ImageInfo
    packages: tuple[Package, ...]
    distro: Distro | None = None
    warnings: tuple[ScanWarning, ...] = ()
    tool: str = "sealyard"
    tool_version: str = ""
    created: str = ""
