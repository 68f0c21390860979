"""SPDX 2.3 JSON: parsed and fully validated with spdx-tools.

The official SPDX 2.3 JSON schema (spdx-spec ``schemas/spdx-schema.json``) is not shipped in
the spdx-tools wheel nor in any other installed package, so it is not used here; spdx-tools'
validator checks more than the schema does (SPDXID grammar, references between elements,
license expressions and ``LicenseRef-`` declarations, purl locators, URIs).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from spdx_tools.spdx.model.document import Document
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from sealyard.sbom.formats import FORMATS, SpdxJson, render
from sealyard.sbom.formats._licenses import classify, normalize_expression
from sealyard.sbom.model import ImageInfo, Package, Sbom
from tests.sbom.formats import (
    BABEL,
    GOMOD,
    IMAGE,
    LIBC,
    MANIFEST_DIGEST,
    MAVEN,
    OPENSSL,
    PACKAGES,
    REQUESTS_A,
    REQUESTS_B,
    TZDATA,
    UNICODE,
    empty_sbom,
    sample_sbom,
)

SPDXID = re.compile(r"SPDXRef-[A-Za-z0-9.-]+")


def _doc(sbom: Sbom | None = None, **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        render(sbom if sbom is not None else sample_sbom(), "spdx-json", **kw)
    )
    return result


def _parse(tmp_path: Path, text: str) -> Document:
    path = tmp_path / "sbom.spdx.json"
    path.write_text(text, encoding="utf-8")
    return parse_file(str(path))


def _by_purl(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in doc["packages"]:
        for ref in p.get("externalRefs", []):
            out.setdefault(ref["referenceLocator"], []).append(p)
    return out


@pytest.mark.parametrize(
    "sbom",
    [
        sample_sbom(),
        empty_sbom(),
        sample_sbom(distro=None, warnings=()),
        sample_sbom(image=ImageInfo(reference="app")),
    ],
    ids=["sample", "empty", "no-distro", "no-digest"],
)
@pytest.mark.parametrize("deterministic", [False, True])
def test_spdx_tools_validates(tmp_path: Path, sbom: Sbom, deterministic: bool) -> None:
    text = SpdxJson().render(sbom, deterministic=deterministic)
    document = _parse(tmp_path, text)
    messages = validate_full_spdx_document(document)
    assert not messages, [m.validation_message for m in messages]
    expected = len(sbom.packages) + 1 + (1 if sbom.distro else 0)
    assert len(document.packages) == expected


def test_spdx_tools_catches_a_broken_document(tmp_path: Path) -> None:
    doc = _doc()
    doc["packages"][1]["licenseDeclared"] = "MIT AND LicenseRef-undeclared"
    doc["relationships"].append(
        {
            "spdxElementId": "SPDXRef-nowhere",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": "SPDXRef-DOCUMENT",
        }
    )
    messages = validate_full_spdx_document(_parse(tmp_path, json.dumps(doc)))
    assert len(messages) >= 2


def test_document_header() -> None:
    doc = _doc(deterministic=True)
    assert doc["spdxVersion"] == "SPDX-2.3"
    assert doc["dataLicense"] == "CC0-1.0"
    assert doc["SPDXID"] == "SPDXRef-DOCUMENT"
    assert doc["name"] == IMAGE.reference
    assert doc["creationInfo"] == {
        "created": "2024-05-01T10:30:00Z",
        "creators": ["Tool: sealyard-0.1.0"],
    }
    namespace = doc["documentNamespace"]
    assert namespace.startswith(
        "https://sealyard.invalid/spdxdocs/registry.example.com-5000-team-app-1.2.3-"
    )
    assert "#" not in namespace


def test_namespace_base_is_configurable() -> None:
    doc = json.loads(
        SpdxJson(namespace_base="https://sbom.example.org/docs/").render(sample_sbom())
    )
    assert doc["documentNamespace"].startswith("https://sbom.example.org/docs/registry.example.com")


def test_deterministic_namespace_comes_from_the_digest() -> None:
    a = _doc(deterministic=True)
    b = _doc(sample_sbom(packages=(LIBC,)), deterministic=True)
    c = _doc(
        sample_sbom(
            image=ImageInfo(reference=IMAGE.reference, manifest_digest="sha256:" + "b" * 64)
        ),
        deterministic=True,
    )
    assert a["documentNamespace"] == b["documentNamespace"]
    assert a["documentNamespace"] != c["documentNamespace"]
    assert _doc()["documentNamespace"] != _doc()["documentNamespace"]  # random by default


def test_deterministic_output_is_byte_identical() -> None:
    first = render(sample_sbom(), "spdx-json", deterministic=True)
    assert first == render(sample_sbom(packages=PACKAGES), "spdx-json", deterministic=True)


def test_default_runs_differ_only_in_namespace() -> None:
    a, b = _doc(), _doc()
    a.pop("documentNamespace")
    b.pop("documentNamespace")
    assert a == b


def test_image_package_and_relationships() -> None:
    doc = _doc()
    image = doc["packages"][0]
    assert image["primaryPackagePurpose"] == "CONTAINER"
    assert image["name"] == IMAGE.reference
    assert image["versionInfo"] == MANIFEST_DIGEST
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": "a" * 64}]
    assert image["externalRefs"][0]["referenceLocator"].startswith(f"pkg:oci/app@{MANIFEST_DIGEST}")
    others = [p["SPDXID"] for p in doc["packages"][1:]]
    assert doc["relationships"] == [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": image["SPDXID"],
        },
        *(
            {
                "spdxElementId": image["SPDXID"],
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": other,
            }
            for other in others
        ),
    ]
    distro = doc["packages"][1]
    assert distro["primaryPackagePurpose"] == "OPERATING-SYSTEM"
    assert (distro["name"], distro["versionInfo"]) == ("debian", "12")


def test_warnings_are_annotations_on_the_image() -> None:
    annotations = _doc()["packages"][0]["annotations"]
    assert [a["annotationType"] for a in annotations] == ["OTHER", "OTHER"]
    assert annotations[1]["annotator"] == "Tool: sealyard-0.1.0"
    assert annotations[1]["comment"] == (
        "scan warning [unreadable] from rpm-cataloger at var/lib/rpm/rpmdb.sqlite (layer 1): "
        "rpmdb is not a sqlite database"
    )


def test_every_package_once_with_its_purl_and_fixed_fields() -> None:
    doc = _doc()
    libraries = [p for p in doc["packages"] if p.get("primaryPackagePurpose") == "LIBRARY"]
    assert len(libraries) == len(PACKAGES)
    purls = Counter(ref["referenceLocator"] for p in libraries for ref in p["externalRefs"])
    assert purls == Counter(p.purl for p in PACKAGES)
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids))
    assert all(SPDXID.fullmatch(i) for i in ids)
    for p in libraries:
        assert p["downloadLocation"] == "NOASSERTION"
        assert p["filesAnalyzed"] is False
        assert p["licenseConcluded"] == "NOASSERTION"
        assert p["copyrightText"] == "NOASSERTION"
        assert p["externalRefs"][0]["referenceCategory"] == "PACKAGE-MANAGER"
        assert p["externalRefs"][0]["referenceType"] == "purl"
    by_purl = _by_purl(doc)
    assert re.fullmatch(
        r"SPDXRef-Package-npm-babel-core-[0-9a-f]{16}", by_purl[BABEL.purl][0]["SPDXID"]
    )
    assert re.fullmatch(
        r"SPDXRef-Package-pypi-na-ve-[0-9a-f]{16}", by_purl[UNICODE.purl][0]["SPDXID"]
    )
    assert by_purl[UNICODE.purl][0]["name"] == "naïve-日本語"
    assert by_purl[OPENSSL.purl][0]["versionInfo"] == "1:3.0.11-1~deb12u2"
    assert by_purl[LIBC.purl][0]["sourceInfo"] == (
        "acquired package info from dpkg-cataloger: var/lib/dpkg/status (layer 0); "
        "current version in layer 0, introduced in layer 0"
    )
    assert len(by_purl[REQUESTS_A.purl]) == 2


def test_declared_licenses() -> None:
    doc = _doc()
    by_purl = _by_purl(doc)
    extracted = {e["licenseId"]: e for e in doc["hasExtractedLicensingInfos"]}

    def declared(pkg: Package) -> str:
        value: str = by_purl[pkg.purl][0]["licenseDeclared"]
        return value

    assert declared(LIBC) == "LGPL-2.1-or-later AND GPL-2.0-or-later"
    assert declared(BABEL) == "MIT"
    assert declared(GOMOD) == "NOASSERTION"
    # Non-SPDX text becomes a LicenseRef whose text is kept.
    assert declared(TZDATA) == "LicenseRef-public-domain"
    assert extracted["LicenseRef-public-domain"]["extractedText"] == "public-domain"
    requests_b = declared(REQUESTS_B)
    assert re.fullmatch(r"LicenseRef-Apache-2\.0-[0-9a-f]{12}", requests_b)
    assert extracted[requests_b]["extractedText"] == "Apache 2.0"
    assert extracted[requests_b]["name"] == "Apache 2.0"
    openssl = declared(OPENSSL)
    assert openssl.startswith("Apache-2.0 AND LicenseRef-Artistic-license-")
    assert " AND LicenseRef-GPL-2.0-only-WITH-OpenSSL-exception-" in openssl
    maven = declared(MAVEN)
    assert extracted[maven]["extractedText"] == "The Apache Software License, Version 2.0"
    # A LicenseRef already in a valid expression is declared, without invented text.
    assert declared(UNICODE) == "(MIT OR Apache-2.0) AND LicenseRef-Custom-EULA"
    assert extracted["LicenseRef-Custom-EULA"]["extractedText"] == "NOASSERTION"
    assert list(extracted) == sorted(extracted)


def test_no_extracted_licenses_when_all_are_spdx() -> None:
    assert "hasExtractedLicensingInfos" not in _doc(sample_sbom(packages=(LIBC, BABEL)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MIT", "MIT"),
        ("mit", "MIT"),
        ("MIT or Apache-2.0", "MIT OR Apache-2.0"),
        ("GPL-2.0+", "GPL-2.0-or-later"),
        (
            "GPL-2.0-or-later WITH Classpath-exception-2.0",
            "GPL-2.0-or-later WITH Classpath-exception-2.0",
        ),
        ("(MIT AND BSD-3-Clause) OR Apache-2.0", "(MIT AND BSD-3-Clause) OR Apache-2.0"),
        ("LicenseRef-Acme-1.0", "LicenseRef-Acme-1.0"),
        ("Apache 2.0", None),
        ("BSD", None),
        ("GPLv2+", None),
        ("MIT/X11", None),
        ("MIT AND", None),
        ("(MIT", None),
        ("MIT WITH MIT", None),
        ("Classpath-exception-2.0", None),
        ("DocumentRef-other:LicenseRef-x", None),
        ("NONE", None),
        ("", None),
    ],
)
def test_normalize_expression(text: str, expected: str | None) -> None:
    assert normalize_expression(text) == expected


def test_classify_drops_blanks_and_duplicates() -> None:
    declared = classify(["MIT", " mit ", "", "NOASSERTION", "Apache 2.0", "Apache 2.0"])
    assert [(i.text, i.expression) for i in declared.items] == [
        ("MIT", "MIT"),
        ("Apache 2.0", None),
    ]
    assert not declared.all_valid
    assert declared.combined_expression() is None
    assert classify([]).spdx_expression() is None


def test_registered_with_its_media_type() -> None:
    fmt = FORMATS["spdx-json"]
    assert isinstance(fmt, SpdxJson)
    assert fmt.media_type == "application/spdx+json"
