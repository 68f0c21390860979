"""Sealyard's own JSON: the model as it is, for machines (``--output json``).

Schema ``sealyard-sbom/1``: ``image``, ``distro``, ``packages`` (each
:meth:`~sealyard.sbom.model.Package.to_dict` plus its stable ``id``), ``warnings``, and the
tool and creation time. Order is deterministic; ``metadata`` keys are sorted.
"""

from __future__ import annotations

from typing import Any

from sealyard.sbom.formats import _common
from sealyard.sbom.formats.interface import SbomFormat
from sealyard.sbom.model import ImageInfo, Sbom

__all__ = ["SCHEMA", "NativeJson"]

SCHEMA = "sealyard-sbom/1"


def _image(image: ImageInfo) -> dict[str, Any]:
    return {
        "reference": image.reference,
        "manifestDigest": image.manifest_digest,
        "configDigest": image.config_digest,
        "platform": image.platform,
        "layers": [
            {
                "index": layer.index,
                "digest": layer.digest,
                "diffId": layer.diff_id,
                "mediaType": layer.media_type,
                "size": layer.size,
            }
            for layer in sorted(image.layers, key=lambda info: info.index)
        ],
        "repoDigests": sorted(image.repo_digests),
    }


def to_document(sbom: Sbom, *, deterministic: bool = False) -> dict[str, Any]:
    """The native document as JSON data (see :meth:`NativeJson.render`)."""
    packages: list[dict[str, Any]] = []
    for ip in _common.identified_packages(sbom):
        entry = {"id": ip.id, **ip.package.to_dict()}
        entry["locations"] = [loc.to_dict() for loc in _common.sorted_locations(ip.package)]
        entry["metadata"] = _common.jsonable(ip.package.metadata)
        packages.append(entry)
    return {
        "schema": SCHEMA,
        "tool": {"name": _common.tool_name(sbom), "version": _common.tool_version(sbom)},
        "created": _common.timestamp(sbom, deterministic=deterministic),
        "image": _image(sbom.image),
        "distro": None if sbom.distro is None else sbom.distro.to_dict(),
        "packages": packages,
        "warnings": [w.to_dict() for w in _common.sorted_warnings(sbom)],
    }


class NativeJson(SbomFormat):
    """Sealyard's native JSON document."""

    name = "json"
    media_type = "application/vnd.sealyard.sbom.v1+json"
    file_extension = ".json"

    def render(self, sbom: Sbom, *, deterministic: bool = False) -> str:
        return _common.dump_json(to_document(sbom, deterministic=deterministic))
