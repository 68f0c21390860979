"""CycloneDX 1.6 JSON.

Layout (close to what Syft emits, so downstream tools treat both alike):

* ``metadata.component`` is the image: type ``container``, name = reference, version =
  manifest digest, purl ``pkg:oci/…`` where derivable;
* ``components`` holds the distribution (type ``operating-system``) and every package
  (type ``library``, OS packages included), each with a stable ``bom-ref``;
* ``dependencies`` says the image depends on every component; nothing is claimed about
  dependencies between packages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sealyard.sbom.formats import _common
from sealyard.sbom.formats._licenses import classify, is_simple_license_id
from sealyard.sbom.formats.interface import SbomFormat
from sealyard.sbom.model import Distro, ImageInfo, Package, Sbom

__all__ = ["SPEC_VERSION", "CycloneDxJson", "image_bom_ref", "package_bom_ref", "to_document"]

SPEC_VERSION = "1.6"


def package_bom_ref(package_id: str) -> str:
    return f"sealyard:package:{package_id}"


def image_bom_ref() -> str:
    return "sealyard:image"


def _distro_bom_ref() -> str:
    return "sealyard:operating-system"


def _licenses(pkg: Package) -> list[dict[str, Any]]:
    """``[{"expression": …}]`` if all declared licenses are SPDX, else license objects.

    CycloneDX forbids mixing the two forms; in the mixed case SPDX-listed single ids keep
    their ``id`` and everything else (free text, compound expressions) becomes a ``name``.
    """
    declared = classify(pkg.licenses)
    combined = declared.combined_expression()
    if combined is not None:
        return [{"expression": combined, "acknowledgement": "declared"}]
    choices: list[dict[str, Any]] = []
    for item in declared.items:
        if item.expression is not None and is_simple_license_id(item.expression):
            lic: dict[str, str] = {"id": item.expression}
        else:
            lic = {"name": item.text}
        lic["acknowledgement"] = "declared"
        choices.append({"license": lic})
    return choices


def _properties(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _package_component(pid: str, pkg: Package, image: ImageInfo) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": package_bom_ref(pid),
        "name": pkg.name,
    }
    if pkg.version:
        component["version"] = pkg.version
    licenses = _licenses(pkg)
    if licenses:
        component["licenses"] = licenses
    if pkg.purl:
        component["purl"] = pkg.purl
    locations = _common.sorted_locations(pkg)
    if locations:
        component["evidence"] = {"occurrences": [{"location": loc.path} for loc in locations]}
    component["properties"] = _properties(_common.package_properties(pkg, image))
    return component


def _distro_component(distro: Distro) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "operating-system",
        "bom-ref": _distro_bom_ref(),
        "name": distro.id,
    }
    if distro.version_id:
        component["version"] = distro.version_id
    if distro.pretty_name:
        component["description"] = distro.pretty_name
    props = [
        ("sealyard:distro:name", distro.name),
        ("sealyard:distro:version-codename", distro.version_codename),
        *(("sealyard:distro:id-like", like) for like in distro.id_like),
    ]
    properties = _properties((k, v) for k, v in props if v)
    if properties:
        component["properties"] = properties
    return component


def _image_component(image: ImageInfo) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "container",
        "bom-ref": image_bom_ref(),
        "name": image.reference or "unknown",
    }
    if image.manifest_digest:
        component["version"] = image.manifest_digest
        algorithm, _, hexdigest = image.manifest_digest.partition(":")
        if algorithm == "sha256" and len(hexdigest) == 64:
            component["hashes"] = [{"alg": "SHA-256", "content": hexdigest}]
    oci_purl = _common.image_purl(image)
    if oci_purl:
        component["purl"] = oci_purl
    props: list[tuple[str, str]] = []
    if image.config_digest:
        props.append(("sealyard:image:config-digest", image.config_digest))
    if image.platform:
        props.append(("sealyard:image:platform", image.platform))
    props.extend(("sealyard:image:repo-digest", d) for d in sorted(image.repo_digests))
    for layer in sorted(image.layers, key=lambda info: info.index):
        prefix = f"sealyard:image:layer:{layer.index}"
        props.append((f"{prefix}:digest", layer.digest))
        props.append((f"{prefix}:diff-id", layer.diff_id))
        props.append((f"{prefix}:media-type", layer.media_type))
        props.append((f"{prefix}:size", str(layer.size)))
    properties = _properties((k, v) for k, v in props if v)
    if properties:
        component["properties"] = properties
    return component


def _warning_properties(sbom: Sbom) -> Iterable[tuple[str, str]]:
    for n, warning in enumerate(_common.sorted_warnings(sbom)):
        prefix = f"sealyard:warning:{n}"
        yield f"{prefix}:kind", warning.kind
        yield f"{prefix}:message", warning.message
        if warning.path:
            yield f"{prefix}:path", warning.path
        if warning.layer is not None:
            yield f"{prefix}:layer", str(warning.layer)
        if warning.source:
            yield f"{prefix}:source", warning.source


def to_document(sbom: Sbom, *, deterministic: bool = False) -> dict[str, Any]:
    """The CycloneDX document as JSON data (see :meth:`CycloneDxJson.render`)."""
    components: list[dict[str, Any]] = []
    if sbom.distro is not None and sbom.distro.id:
        components.append(_distro_component(sbom.distro))
    components.extend(
        _package_component(ip.id, ip.package, sbom.image)
        for ip in _common.identified_packages(sbom)
    )
    serial = _common.document_uuid(sbom, CycloneDxJson.name, deterministic=deterministic)
    document: dict[str, Any] = {
        "$schema": f"http://cyclonedx.org/schema/bom-{SPEC_VERSION}.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": {
            "timestamp": _common.timestamp(sbom, deterministic=deterministic),
            "tools": {
                "components": [
                    {
                        "type": "application",
                        "name": _common.tool_name(sbom),
                        "version": _common.tool_version(sbom),
                    }
                ]
            },
            "component": _image_component(sbom.image),
        },
        "components": components,
        "dependencies": [
            {
                "ref": image_bom_ref(),
                "dependsOn": [c["bom-ref"] for c in components],
            }
        ],
    }
    warnings = _properties(_warning_properties(sbom))
    if warnings:
        document["metadata"]["properties"] = warnings
    return document


class CycloneDxJson(SbomFormat):
    """CycloneDX 1.6, JSON encoding."""

    name = "cyclonedx-json"
    media_type = "application/vnd.cyclonedx+json"
    file_extension = ".cdx.json"

    def render(self, sbom: Sbom, *, deterministic: bool = False) -> str:
        return _common.dump_json(to_document(sbom, deterministic=deterministic))
