"""CycloneDX 1.6 JSON: validated against the official schema shipped in cyclonedx-python-lib."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from sealyard.sbom.formats import FORMATS, render
from sealyard.sbom.formats._common import EPOCH, image_purl
from sealyard.sbom.formats.cyclonedx import CycloneDxJson
from sealyard.sbom.model import ImageInfo, Location, Package
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
    UNICODE,
    empty_sbom,
    sample_sbom,
)

SCHEMA_BASE = "http://cyclonedx.org/schema/"


def _schema_dir() -> Path:
    return Path(str(resources.files("cyclonedx.schema") / "_res"))


def _bom_schema_path() -> Path:
    # Upstream names it bom-1.6.schema.json; the library ships it as bom-1.6.SNAPSHOT.schema.json.
    candidates = sorted(
        p for p in _schema_dir().glob("bom-1.6*.schema.json") if "strict" not in p.name
    )
    assert candidates, f"no bom-1.6 schema in {_schema_dir()}"
    return candidates[0]


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    """The official 1.6 schema with its $refs (spdx, jsf, cryptography-defs) resolved offline."""
    resources_: list[tuple[str, Resource[Any]]] = []
    for path in sorted(_schema_dir().glob("*.schema.json")):
        if path.name.startswith("bom-"):
            continue
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources_.append((SCHEMA_BASE + path.name, DRAFT7.create_resource(contents)))
    names = {uri.removeprefix(SCHEMA_BASE) for uri, _ in resources_}
    assert {n for n in names if n.startswith(("spdx", "jsf-0.82"))}, names
    schema = json.loads(_bom_schema_path().read_text(encoding="utf-8"))
    assert schema["$id"] == "http://cyclonedx.org/schema/bom-1.6.schema.json"
    return Draft7Validator(
        schema,
        registry=Registry().with_resources(resources_),
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )


def _doc(sbom: Any = None, **kw: Any) -> dict[str, Any]:
    text = render(sbom if sbom is not None else sample_sbom(), "cyclonedx-json", **kw)
    result: dict[str, Any] = json.loads(text)
    return result


def _assert_valid(validator: Draft7Validator, text: str) -> None:
    errors = sorted(validator.iter_errors(json.loads(text)), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def _by_purl(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for c in doc["components"]:
        out.setdefault(c.get("purl", ""), []).append(c)
    return out


def _props(component: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in component.get("properties", []):
        out.setdefault(p["name"], []).append(p["value"])
    return out


@pytest.mark.parametrize(
    "sbom",
    [
        sample_sbom(),
        empty_sbom(),
        sample_sbom(distro=None, warnings=()),
        sample_sbom(image=ImageInfo(reference="app")),  # no digest, no registry host
    ],
    ids=["sample", "empty", "no-distro", "no-digest"],
)
def test_schema_valid(validator: Draft7Validator, sbom: Any) -> None:
    _assert_valid(validator, CycloneDxJson().render(sbom))
    _assert_valid(validator, CycloneDxJson().render(sbom, deterministic=True))


def test_the_validator_rejects_what_the_schema_forbids(validator: Draft7Validator) -> None:
    doc = _doc()
    doc["components"][1]["licenses"].append({"expression": "MIT"})  # mixes the two forms
    doc["components"][1]["type"] = "package"
    assert len(list(validator.iter_errors(doc))) >= 2


def test_cyclonedx_python_lib_reads_it_back() -> None:
    doc = _doc()
    bom = Bom.from_json(doc)  # type: ignore[attr-defined]
    assert len(bom.components) == len(doc["components"])
    assert bom.metadata.component is not None
    assert bom.metadata.component.name == IMAGE.reference
    purls = sorted(str(c.purl) for c in bom.components if c.purl is not None)
    assert purls == sorted(c["purl"] for c in doc["components"] if "purl" in c)


def test_header_and_image_component() -> None:
    doc = _doc(deterministic=True)
    assert doc["bomFormat"] == "CycloneDX"
    assert doc["specVersion"] == "1.6"
    assert doc["version"] == 1
    assert uuid.UUID(doc["serialNumber"].removeprefix("urn:uuid:")).version == 5
    meta = doc["metadata"]
    assert meta["timestamp"] == "2024-05-01T10:30:00Z"  # +02:00 input, emitted in UTC
    assert meta["tools"]["components"] == [
        {"type": "application", "name": "sealyard", "version": "0.1.0"}
    ]
    image = meta["component"]
    assert image["type"] == "container"
    assert image["name"] == IMAGE.reference
    assert image["version"] == MANIFEST_DIGEST
    assert image["purl"] == (
        f"pkg:oci/app@{MANIFEST_DIGEST}?arch=amd64"
        "&repository_url=registry.example.com:5000/team/app&tag=1.2.3"
    )
    assert image["hashes"] == [{"alg": "SHA-256", "content": "a" * 64}]
    props = _props(image)
    assert props["sealyard:image:platform"] == ["linux/amd64"]
    assert props["sealyard:image:layer:1:media-type"] == [
        "application/vnd.oci.image.layer.v1.tar+zstd"
    ]


def test_image_purl_is_left_out_when_not_derivable() -> None:
    doc = _doc(sample_sbom(image=ImageInfo(reference="app:1")))
    assert "purl" not in doc["metadata"]["component"]
    assert "version" not in doc["metadata"]["component"]
    bare = _doc(
        sample_sbom(image=ImageInfo(reference="team/app:1", manifest_digest=MANIFEST_DIGEST))
    )
    assert "repository_url" not in bare["metadata"]["component"]["purl"]


def test_distro_is_an_operating_system_component() -> None:
    os_components = [c for c in _doc()["components"] if c["type"] == "operating-system"]
    assert len(os_components) == 1
    assert os_components[0]["name"] == "debian"
    assert os_components[0]["version"] == "12"
    assert os_components[0]["description"] == "Debian GNU/Linux 12 (bookworm)"
    assert _props(os_components[0])["sealyard:distro:version-codename"] == ["bookworm"]


def test_every_package_once_with_its_purl() -> None:
    doc = _doc()
    libraries = [c for c in doc["components"] if c["type"] == "library"]
    assert len(libraries) == len(PACKAGES)
    counts = Counter(c["purl"] for c in libraries)
    assert counts == Counter(p.purl for p in PACKAGES)
    assert counts[REQUESTS_A.purl] == 2  # same package in two places: two components
    refs = [c["bom-ref"] for c in doc["components"]]
    assert len(refs) == len(set(refs))
    babel = _by_purl(doc)[BABEL.purl][0]
    assert babel["name"] == "@babel/core"
    assert babel["version"] == "7.24.0"
    assert _by_purl(doc)[UNICODE.purl][0]["name"] == "naïve-日本語"
    assert _by_purl(doc)[OPENSSL.purl][0]["version"] == "1:3.0.11-1~deb12u2"


def test_identical_duplicates_are_reported_once() -> None:
    doc = _doc(sample_sbom(packages=(LIBC, LIBC, BABEL)))
    assert Counter(c.get("purl") for c in doc["components"] if c["type"] == "library") == {
        LIBC.purl: 1,
        BABEL.purl: 1,
    }


def test_same_identity_different_content_gets_distinct_refs() -> None:
    other = Package(**{**LIBC.__dict__, "found_by": "another-cataloger"})
    doc = _doc(sample_sbom(packages=(LIBC, other)))
    refs = [c["bom-ref"] for c in doc["components"] if c["type"] == "library"]
    assert len(refs) == 2
    assert refs[1] == refs[0] + "-2"


def test_licenses() -> None:
    by_purl = _by_purl(_doc())

    def licenses(pkg: Package) -> Any:
        return by_purl[pkg.purl][0].get("licenses")

    assert licenses(LIBC) == [
        {"expression": "LGPL-2.1-or-later AND GPL-2.0-or-later", "acknowledgement": "declared"}
    ]
    assert licenses(BABEL) == [{"expression": "MIT", "acknowledgement": "declared"}]
    assert licenses(UNICODE) == [
        {
            "expression": "(MIT OR Apache-2.0) AND LicenseRef-Custom-EULA",
            "acknowledgement": "declared",
        }
    ]
    # Mixed valid and invalid: license objects only; SPDX ids keep their id.
    assert licenses(OPENSSL) == [
        {"license": {"id": "Apache-2.0", "acknowledgement": "declared"}},
        {"license": {"name": "Artistic license", "acknowledgement": "declared"}},
        {"license": {"name": "GPL-2.0-only WITH OpenSSL-exception", "acknowledgement": "declared"}},
    ]
    assert licenses(REQUESTS_B) == [
        {"license": {"name": "Apache 2.0", "acknowledgement": "declared"}}
    ]
    # Blank and NOASSERTION entries are dropped; no licenses at all means no field.
    assert licenses(MAVEN) == [
        {
            "license": {
                "name": "The Apache Software License, Version 2.0",
                "acknowledgement": "declared",
            }
        }
    ]
    assert licenses(GOMOD) is None


def test_properties_and_evidence() -> None:
    by_purl = _by_purl(_doc())
    libc = by_purl[LIBC.purl][0]
    props = _props(libc)
    assert props["sealyard:location:0:path"] == ["var/lib/dpkg/status"]
    assert props["sealyard:location:0:layer"] == ["0"]
    assert props["sealyard:location:0:layer-diff-id"] == ["sha256:" + "d0" * 32]
    assert props["sealyard:layer"] == ["0"]
    assert props["sealyard:introduced-layer"] == ["0"]
    assert props["sealyard:found-by"] == ["dpkg-cataloger"]
    assert props["sealyard:package:type"] == ["deb"]
    assert props["sealyard:metadata:source"] == ["glibc"]
    assert props["sealyard:metadata:files"] == ['["lib/x86_64-linux-gnu/libc.so.6"]']
    assert libc["evidence"] == {"occurrences": [{"location": "var/lib/dpkg/status"}]}

    openssl = _props(by_purl[OPENSSL.purl][0])
    assert openssl["sealyard:layer"] == ["1"]
    assert openssl["sealyard:introduced-layer"] == ["0"]
    assert openssl["sealyard:metadata:epoch"] == ["1"]
    assert openssl["sealyard:metadata:upstream"] == ['{"vendor":"OpenSSL","version":"3.0.11"}']

    maven = _props(by_purl[MAVEN.purl][0])
    assert "sealyard:location:0:layer" not in maven  # layer unknown
    assert "sealyard:layer" not in maven
    assert maven["sealyard:metadata:tags"] == ['["a","b"]']  # a set, ordered
    assert "sealyard:metadata:h1" not in _props(by_purl[GOMOD.purl][0])  # None dropped

    paths = sorted(_props(c)["sealyard:location:0:path"][0] for c in by_purl[REQUESTS_A.purl])
    assert paths == sorted(loc.path for p in (REQUESTS_A, REQUESTS_B) for loc in p.locations)


def test_dependencies_image_depends_on_everything() -> None:
    doc = _doc()
    image_ref = doc["metadata"]["component"]["bom-ref"]
    assert doc["dependencies"] == [
        {"ref": image_ref, "dependsOn": [c["bom-ref"] for c in doc["components"]]}
    ]


def test_warnings_are_metadata_properties() -> None:
    props = _props(_doc()["metadata"])
    assert props["sealyard:warning:0:kind"] == ["path-escape"]
    assert props["sealyard:warning:1:path"] == ["var/lib/rpm/rpmdb.sqlite"]
    assert props["sealyard:warning:1:source"] == ["rpm-cataloger"]
    assert "properties" not in _doc(sample_sbom(warnings=()))["metadata"]


def test_deterministic_output_is_byte_identical() -> None:
    first = render(sample_sbom(), "cyclonedx-json", deterministic=True)
    again = render(sample_sbom(packages=PACKAGES), "cyclonedx-json", deterministic=True)
    assert first == again  # input order does not matter either


def test_deterministic_identity_comes_from_the_digest() -> None:
    a = _doc(deterministic=True)
    b = _doc(sample_sbom(packages=(LIBC,), created=""), deterministic=True)
    other_image = ImageInfo(reference=IMAGE.reference, manifest_digest="sha256:" + "b" * 64)
    c = _doc(sample_sbom(image=other_image), deterministic=True)
    assert a["serialNumber"] == b["serialNumber"]
    assert a["serialNumber"] != c["serialNumber"]
    assert b["metadata"]["timestamp"] == EPOCH  # no creation time given: fixed


def test_default_runs_differ_only_in_serial_number() -> None:
    a, b = _doc(), _doc()
    assert a["serialNumber"] != b["serialNumber"]
    a.pop("serialNumber")
    b.pop("serialNumber")
    assert a == b


def test_timestamp_defaults_to_now() -> None:
    stamp = _doc(sample_sbom(created=""))["metadata"]["timestamp"]
    when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=5)


def test_bom_refs_depend_on_purl_and_location_only() -> None:
    def ref(pkg: Package) -> str:
        doc = _doc(sample_sbom(packages=(pkg,)))
        result: str = doc["components"][1]["bom-ref"]
        return result

    base = ref(LIBC)
    assert ref(Package(**{**LIBC.__dict__, "licenses": ("MIT",), "found_by": "x"})) == base
    moved = Package(**{**LIBC.__dict__, "locations": (Location("var/lib/dpkg/status", 1),)})
    assert ref(moved) != base


def test_registered_with_its_media_type() -> None:
    fmt = FORMATS["cyclonedx-json"]
    assert isinstance(fmt, CycloneDxJson)
    assert fmt.media_type == "application/vnd.cyclonedx+json"


@pytest.mark.parametrize(
    ("reference", "digest", "expected"),
    [
        (
            "localhost/team/app@" + MANIFEST_DIGEST,
            "",
            f"pkg:oci/app@{MANIFEST_DIGEST}?repository_url=localhost/team/app",
        ),
        ("team/app:v2", MANIFEST_DIGEST, f"pkg:oci/app@{MANIFEST_DIGEST}?tag=v2"),
        (
            "Registry.Example.com/team/web:1",
            MANIFEST_DIGEST,
            f"pkg:oci/web@{MANIFEST_DIGEST}?repository_url=registry.example.com/team/web&tag=1",
        ),
        (
            "docker://registry.example.com/team/app:1",
            MANIFEST_DIGEST,
            f"pkg:oci/app@{MANIFEST_DIGEST}?repository_url=registry.example.com/team/app&tag=1",
        ),
        ("app:1", "", None),
        ("app:1", "not-a-digest", None),
        ("oci:/tmp/layout:v1", MANIFEST_DIGEST, None),
        ("docker-archive:/tmp/app.tar:team/app:1", MANIFEST_DIGEST, None),
        ("dir:/srv/rootfs", "", None),
    ],
)
def test_image_purl(reference: str, digest: str, expected: str | None) -> None:
    assert image_purl(ImageInfo(reference=reference, manifest_digest=digest)) == expected


def test_deterministic_identity_fallbacks() -> None:
    def serial(image: ImageInfo, packages: tuple[Package, ...] = PACKAGES) -> str:
        doc = _doc(sample_sbom(image=image, packages=packages), deterministic=True)
        result: str = doc["serialNumber"]
        return result

    by_manifest = serial(ImageInfo(reference="a", manifest_digest=MANIFEST_DIGEST))
    assert serial(ImageInfo(reference="b@" + MANIFEST_DIGEST)) == by_manifest
    by_config = serial(ImageInfo(reference="a", config_digest="sha256:" + "c" * 64))
    assert by_config != by_manifest
    assert serial(ImageInfo(reference="x", config_digest="sha256:" + "c" * 64), ()) == by_config
    # No digest at all: reference plus content.
    assert serial(ImageInfo(reference="dir")) == serial(ImageInfo(reference="dir"))
    assert serial(ImageInfo(reference="dir")) != serial(ImageInfo(reference="dir"), (LIBC,))


def test_naive_creation_time_is_taken_as_utc() -> None:
    doc = _doc(sample_sbom(created="2024-05-01T12:30:00"))
    assert doc["metadata"]["timestamp"] == "2024-05-01T12:30:00Z"
