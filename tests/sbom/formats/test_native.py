"""Sealyard's native JSON, and the format registry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sealyard.errors import UsageError
from sealyard.sbom.formats import (
    FORMATS,
    CycloneDxJson,
    NativeJson,
    SbomFormat,
    SpdxJson,
    Table,
    get_format,
    render,
)
from sealyard.sbom.model import Package
from tests.sbom.formats import (
    DISTRO,
    IMAGE,
    LIBC,
    MAVEN,
    OPENSSL,
    PACKAGES,
    REQUESTS_A,
    WARNINGS,
    empty_sbom,
    sample_sbom,
)


def _doc(sbom: Any = None, **kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        render(sbom if sbom is not None else sample_sbom(), "json", **kw)
    )
    return result


def test_document_shape() -> None:
    doc = _doc()
    assert list(doc) == ["schema", "tool", "created", "image", "distro", "packages", "warnings"]
    assert doc["schema"] == "sealyard-sbom/1"
    assert doc["tool"] == {"name": "sealyard", "version": "0.1.0"}
    assert doc["created"] == "2024-05-01T10:30:00Z"
    assert doc["distro"] == DISTRO.to_dict()
    assert doc["image"]["reference"] == IMAGE.reference
    assert doc["image"]["manifestDigest"] == IMAGE.manifest_digest
    assert [layer["index"] for layer in doc["image"]["layers"]] == [0, 1]
    assert doc["image"]["layers"][0]["diffId"] == "sha256:" + "d0" * 32
    assert doc["warnings"] == [w.to_dict() for w in sorted(WARNINGS, key=lambda w: w.kind)]


def test_packages_are_to_dict_plus_id() -> None:
    doc = _doc()
    assert len(doc["packages"]) == len(PACKAGES)
    by_purl: dict[str, list[dict[str, Any]]] = {}
    for entry in doc["packages"]:
        by_purl.setdefault(entry["purl"], []).append(entry)
    libc = by_purl[LIBC.purl][0]
    expected = LIBC.to_dict()
    expected["metadata"] = {
        "arch": "amd64",
        "files": ["lib/x86_64-linux-gnu/libc.so.6"],
        "source": "glibc",
    }
    assert {k: v for k, v in libc.items() if k != "id"} == expected
    assert len(libc["id"]) == 16
    assert by_purl[OPENSSL.purl][0]["metadata"]["upstream"] == {
        "vendor": "OpenSSL",
        "version": "3.0.11",
    }
    assert by_purl[MAVEN.purl][0]["metadata"]["tags"] == ["a", "b"]
    assert len(by_purl[REQUESTS_A.purl]) == 2
    keys = [(p["type"], p["name"], p["version"]) for p in doc["packages"]]
    assert keys == sorted(keys)


def test_ids_match_the_other_formats() -> None:
    native_ids = {p["id"] for p in _doc()["packages"]}
    cdx = json.loads(render(sample_sbom(), "cyclonedx-json"))
    cdx_ids = {
        c["bom-ref"].removeprefix("sealyard:package:")
        for c in cdx["components"]
        if c["type"] == "library"
    }
    assert native_ids == cdx_ids


def test_deterministic() -> None:
    a = render(sample_sbom(created=""), "json", deterministic=True)
    b = render(sample_sbom(created="", packages=PACKAGES), "json", deterministic=True)
    assert a == b
    assert json.loads(a)["created"] == "1970-01-01T00:00:00Z"


def test_empty() -> None:
    doc = _doc(empty_sbom())
    assert doc["packages"] == []
    assert doc["warnings"] == []
    assert doc["distro"] is None


def test_invalid_created_is_rejected() -> None:
    with pytest.raises(ValueError):
        render(sample_sbom(created="yesterday"), "json")


def test_unserialisable_metadata_is_stringified() -> None:
    pkg = Package(**{**LIBC.__dict__, "metadata": {"raw": b"\x01\x02", "obj": object}})
    doc = _doc(sample_sbom(packages=(pkg,)))
    assert doc["packages"][0]["metadata"]["raw"] == "0102"
    assert doc["packages"][0]["metadata"]["obj"] == "<class 'object'>"


def test_registry() -> None:
    assert set(FORMATS) == {"cyclonedx-json", "spdx-json", "table", "json"}
    assert isinstance(FORMATS["json"], NativeJson)
    for name, fmt in FORMATS.items():
        assert isinstance(fmt, SbomFormat)
        assert fmt.name == name
        assert fmt.media_type
        assert fmt.file_extension.startswith(".")
    assert get_format("spdx-json") is FORMATS["spdx-json"]
    assert {type(f) for f in FORMATS.values()} == {CycloneDxJson, SpdxJson, Table, NativeJson}
    with pytest.raises(TypeError):
        FORMATS["x"] = Table()  # type: ignore[index]


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="cyclonedx-json, json, spdx-json, table"):
        render(sample_sbom(), "xml")


@pytest.mark.parametrize("name", ["cyclonedx-json", "spdx-json", "table", "json"])
def test_every_format_renders_every_sbom_deterministically(name: str) -> None:
    for sbom in (sample_sbom(), empty_sbom()):
        assert render(sbom, name, deterministic=True) == render(sbom, name, deterministic=True)
        assert render(sbom, name).endswith("\n")
