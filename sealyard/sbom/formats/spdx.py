"""SPDX 2.3 JSON.

One SPDX package for the image (purpose ``CONTAINER``), one for the distribution
(``OPERATING-SYSTEM``) and one per package (``LIBRARY``). The document ``DESCRIBES`` the
image, and the image ``CONTAINS`` everything else.

Declared licenses go to ``licenseDeclared`` as an SPDX expression; text that is not an SPDX
expression becomes a ``LicenseRef-`` whose original text is kept in
``hasExtractedLicensingInfos``, so nothing declared is lost and the document stays valid.
Nothing is concluded (``licenseConcluded`` is ``NOASSERTION``): the scanner reads
declarations, it does not analyse files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sealyard.sbom.formats import _common
from sealyard.sbom.formats._licenses import DeclaredLicenses, classify, license_refs
from sealyard.sbom.formats.interface import SbomFormat
from sealyard.sbom.model import Distro, ImageInfo, Package, Sbom

__all__ = ["DEFAULT_NAMESPACE_BASE", "SPDX_VERSION", "SpdxJson", "package_spdx_id"]

SPDX_VERSION = "SPDX-2.3"
NOASSERTION = "NOASSERTION"
# ``.invalid`` (RFC 2606) never resolves: the namespace must be unique, not dereferenceable.
# Deployments pass their own base (e.g. the registry's external URL) to SpdxJson().
DEFAULT_NAMESPACE_BASE = "https://sealyard.invalid/spdxdocs"
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9.-]+")
_UNSAFE_URI = re.compile(r"[^A-Za-z0-9._-]+")
_DOCUMENT_ID = "SPDXRef-DOCUMENT"


def _id_part(text: str, limit: int = 64) -> str:
    return _UNSAFE_ID.sub("-", text).strip("-.")[:limit].strip("-.")


def _spdx_id(*parts: str) -> str:
    return "SPDXRef-" + "-".join(p for p in (_id_part(part) for part in parts) if p)


def package_spdx_id(package_id: str, pkg: Package) -> str:
    """``SPDXRef-Package-<type>-<name>-<id>``, restricted to ``[A-Za-z0-9.-]``."""
    return _spdx_id("Package", pkg.type, pkg.name, package_id)


def _image_spdx_id(image: ImageInfo) -> str:
    return _spdx_id("Image", image.reference)


def _distro_spdx_id(distro: Distro) -> str:
    return _spdx_id("OperatingSystem", distro.id, distro.version_id)


def _base_package(spdx_id: str, name: str, version: str) -> dict[str, Any]:
    package: dict[str, Any] = {"SPDXID": spdx_id, "name": name}
    if version:
        package["versionInfo"] = version
    package.update(
        {
            "downloadLocation": NOASSERTION,
            "filesAnalyzed": False,
            "licenseConcluded": NOASSERTION,
            "licenseDeclared": NOASSERTION,
            "copyrightText": NOASSERTION,
        }
    )
    return package


def _purl_ref(purl: str) -> dict[str, str]:
    return {
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }


def _source_info(pkg: Package) -> str:
    where = ", ".join(
        loc.path if loc.layer is None else f"{loc.path} (layer {loc.layer})"
        for loc in _common.sorted_locations(pkg)
    )
    text = f"acquired package info from {pkg.found_by or 'unknown cataloger'}"
    if where:
        text += f": {where}"
    layers = []
    if pkg.layer is not None:
        layers.append(f"current version in layer {pkg.layer}")
    if pkg.introduced_layer is not None:
        layers.append(f"introduced in layer {pkg.introduced_layer}")
    if layers:
        text += "; " + ", ".join(layers)
    return text


def _package(spdx_id: str, pkg: Package, declared: DeclaredLicenses) -> dict[str, Any]:
    package = _base_package(spdx_id, pkg.name, pkg.version)
    expression = declared.spdx_expression()
    if expression is not None:
        package["licenseDeclared"] = expression
    package["sourceInfo"] = _source_info(pkg)
    package["primaryPackagePurpose"] = "LIBRARY"
    if pkg.purl:
        package["externalRefs"] = [_purl_ref(pkg.purl)]
    return package


def _image_package(sbom: Sbom, created: str) -> dict[str, Any]:
    image = sbom.image
    package = _base_package(
        _image_spdx_id(image), image.reference or "unknown", image.manifest_digest
    )
    algorithm, _, hexdigest = image.manifest_digest.partition(":")
    if algorithm == "sha256" and len(hexdigest) == 64:
        package["checksums"] = [{"algorithm": "SHA256", "checksumValue": hexdigest}]
    package["primaryPackagePurpose"] = "CONTAINER"
    oci_purl = _common.image_purl(image)
    if oci_purl:
        package["externalRefs"] = [_purl_ref(oci_purl)]
    annotator = f"Tool: {_common.tool_name(sbom)}-{_common.tool_version(sbom)}"
    annotations = [
        {
            "annotationDate": created,
            "annotationType": "OTHER",
            "annotator": annotator,
            "comment": _warning_text(w.kind, w.message, w.path, w.layer, w.source),
        }
        for w in _common.sorted_warnings(sbom)
    ]
    if annotations:
        package["annotations"] = annotations
    return package


def _warning_text(kind: str, message: str, path: str, layer: int | None, source: str) -> str:
    text = f"scan warning [{kind}]"
    if source:
        text += f" from {source}"
    if path:
        text += f" at {path}"
    if layer is not None:
        text += f" (layer {layer})"
    return f"{text}: {message}"


def _distro_package(distro: Distro) -> dict[str, Any]:
    package = _base_package(_distro_spdx_id(distro), distro.id, distro.version_id)
    if distro.pretty_name:
        package["description"] = distro.pretty_name
    package["primaryPackagePurpose"] = "OPERATING-SYSTEM"
    return package


def _extracted_licenses(declared: Iterable[DeclaredLicenses]) -> list[dict[str, str]]:
    infos: dict[str, dict[str, str]] = {}
    for licenses in declared:
        for item in licenses.items:
            if item.expression is None:
                ref = item.license_ref
                infos.setdefault(
                    ref, {"licenseId": ref, "extractedText": item.text, "name": item.text}
                )
                continue
            for ref in license_refs(item.expression):
                infos.setdefault(
                    ref,
                    {
                        "licenseId": ref,
                        "extractedText": NOASSERTION,
                        "name": ref.removeprefix("LicenseRef-"),
                        "comment": "referenced by a declared license expression; "
                        "its text was not available to the scanner",
                    },
                )
    return [infos[ref] for ref in sorted(infos)]


def _namespace(base: str, sbom: Sbom, *, deterministic: bool) -> str:
    name = _UNSAFE_URI.sub("-", sbom.image.reference).strip("-")[:100] or "image"
    doc_uuid = _common.document_uuid(sbom, SpdxJson.name, deterministic=deterministic)
    return f"{base.rstrip('/')}/{name}-{doc_uuid}"


def to_document(
    sbom: Sbom, *, deterministic: bool = False, namespace_base: str = DEFAULT_NAMESPACE_BASE
) -> dict[str, Any]:
    """The SPDX document as JSON data (see :meth:`SpdxJson.render`)."""
    created = _common.timestamp(sbom, deterministic=deterministic)
    image_package = _image_package(sbom, created)
    image_id: str = image_package["SPDXID"]
    contained: list[dict[str, Any]] = []
    if sbom.distro is not None and sbom.distro.id:
        contained.append(_distro_package(sbom.distro))
    declared_all: list[DeclaredLicenses] = []
    for ip in _common.identified_packages(sbom):
        declared = classify(ip.package.licenses)
        declared_all.append(declared)
        contained.append(_package(package_spdx_id(ip.id, ip.package), ip.package, declared))

    document: dict[str, Any] = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": _DOCUMENT_ID,
        "name": sbom.image.reference or "unknown",
        "documentNamespace": _namespace(namespace_base, sbom, deterministic=deterministic),
        "creationInfo": {
            "created": created,
            "creators": [f"Tool: {_common.tool_name(sbom)}-{_common.tool_version(sbom)}"],
        },
        "packages": [image_package, *contained],
        "relationships": [
            {
                "spdxElementId": _DOCUMENT_ID,
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": image_id,
            },
            *(
                {
                    "spdxElementId": image_id,
                    "relationshipType": "CONTAINS",
                    "relatedSpdxElement": p["SPDXID"],
                }
                for p in contained
            ),
        ],
    }
    extracted = _extracted_licenses(declared_all)
    if extracted:
        document["hasExtractedLicensingInfos"] = extracted
    return document


class SpdxJson(SbomFormat):
    """SPDX 2.3, JSON encoding.

    Args:
        namespace_base: the URI prefix of ``documentNamespace``; each document appends
            ``/<image-name>-<uuid>``.
    """

    name = "spdx-json"
    media_type = "application/spdx+json"
    file_extension = ".spdx.json"

    def __init__(self, namespace_base: str = DEFAULT_NAMESPACE_BASE) -> None:
        self.namespace_base = namespace_base

    def render(self, sbom: Sbom, *, deterministic: bool = False) -> str:
        return _common.dump_json(
            to_document(sbom, deterministic=deterministic, namespace_base=self.namespace_base)
        )
