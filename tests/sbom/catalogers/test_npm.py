"""The npm cataloger on installed ``node_modules`` trees and Debian's Node.js paths."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from sealyard.sbom.catalogers import npm
from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.catalogers.npm import NpmCataloger, npm_licenses
from sealyard.sbom.model import Location

NM = "app/node_modules"

# As published: @babel/helper-string-parser 7.24.8 (trimmed).
BABEL = {
    "name": "@babel/helper-string-parser",
    "version": "7.24.8",
    "description": "A utility package to parse strings",
    "repository": {
        "type": "git",
        "url": "https://github.com/babel/babel.git",
        "directory": "packages/babel-helper-string-parser",
    },
    "license": "MIT",
    "main": "./lib/index.js",
    "engines": {"node": ">=6.9.0"},
    "author": "The Babel Team (https://babel.dev/team)",
    "type": "commonjs",
}

# json-schema 0.2.3: the legacy "licenses" array of {type, url} objects.
JSON_SCHEMA = {
    "name": "json-schema",
    "version": "0.2.3",
    "author": "Kris Zyp",
    "licenses": [
        {"type": "AFLv2.1", "url": "http://trac.dojotoolkit.org/browser/dojo/trunk/LICENSE#L43"},
        {"type": "BSD", "url": "http://trac.dojotoolkit.org/browser/dojo/trunk/LICENSE#L13"},
    ],
    "main": "./lib/validate.js",
}

FAKE_SPDX = {"MIT": "MIT", "Apache 2.0": "Apache-2.0", "(MIT OR Apache-2.0)": "MIT OR Apache-2.0"}


@pytest.fixture(autouse=True)
def spdx(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin license normalisation to a small table (``to_spdx`` semantics: text back)."""
    fake: Callable[[str], str | None] = lambda text: FAKE_SPDX.get(text, text)  # noqa: E731
    monkeypatch.setattr(npm, "to_spdx", fake)


def rec(
    path: str, data: dict[str, Any] | list[Any] | str | bytes | None, layer: int = 0
) -> FileRecord:
    if isinstance(data, dict | list):
        raw: bytes | None = json.dumps(data, indent=2).encode()
    elif isinstance(data, str):
        raw = data.encode()
    else:
        raw = data
    return FileRecord(path=path, layer=layer, data=raw, size=len(raw or b""))


def scan(*records: FileRecord) -> CatalogResult:
    cataloger = NpmCataloger()
    assert all(cataloger.wants(r.path) for r in records)
    return cataloger.catalog(ImageFiles(files=records))


def manifest(name: str = "left-pad", version: str = "1.3.0", **extra: Any) -> dict[str, Any]:
    return {"name": name, "version": version, **extra}


def test_wants_package_json_in_module_trees() -> None:
    c = NpmCataloger()
    for path in (
        f"{NM}/left-pad/package.json",
        f"{NM}/@babel/core/package.json",
        f"{NM}/a/node_modules/b/package.json",
        f"{NM}/.pnpm/left-pad@1.3.0/node_modules/left-pad/package.json",
        f"{NM}/resolve/test/resolver/baz/package.json",
        "usr/lib/node_modules/npm/package.json",
        "usr/local/lib/node_modules/corepack/package.json",
        "node_modules/x/package.json",
        "usr/share/nodejs/debug/package.json",
        "usr/share/nodejs/@types/node/package.json",
        "usr/lib/nodejs/nan/package.json",
        "app/package.json",  # the application itself: syft and trivy report it too
        "srv/my_node_modules/x/package.json",
    ):
        assert c.wants(path), path
    for path in (
        "app/package-lock.json",
        f"{NM}/.package-lock.json",
        f"{NM}/left-pad/index.js",
        f"{NM}/left-pad/not-package.json",
    ):
        assert not c.wants(path), path


def test_scoped_package() -> None:
    path = f"{NM}/@babel/helper-string-parser/package.json"
    result = scan(rec(path, BABEL, layer=5))
    assert result.warnings == []
    [pkg] = result.packages
    assert pkg.name == "@babel/helper-string-parser"
    assert (pkg.version, pkg.type, pkg.found_by) == ("7.24.8", "npm", "npm")
    assert pkg.purl == "pkg:npm/%40babel/helper-string-parser@7.24.8"
    assert pkg.licenses == ("MIT",)
    assert pkg.locations == (Location(path, 5),)
    assert pkg.layer == 5
    assert pkg.introduced_layer is None  # the scanner fills it from the path's first layer


@pytest.mark.parametrize(
    ("name", "version", "purl"),
    [
        ("left-pad", "1.3.0", "pkg:npm/left-pad@1.3.0"),
        ("JSONStream", "1.3.5", "pkg:npm/jsonstream@1.3.5"),  # legacy uppercase name
        ("@types/node", "20.11.5", "pkg:npm/%40types/node@20.11.5"),
        ("semver", "7.6.0-rc.1+build.5", "pkg:npm/semver@7.6.0-rc.1%2Bbuild.5"),
    ],
)
def test_purls(name: str, version: str, purl: str) -> None:
    [pkg] = scan(rec(f"{NM}/{name}/package.json", manifest(name, version))).packages
    assert pkg.name == name
    assert pkg.purl == purl


@pytest.mark.parametrize(
    ("fields", "licenses"),
    [
        ({"license": "MIT"}, ("MIT",)),
        ({"license": "(MIT OR Apache-2.0)"}, ("MIT OR Apache-2.0",)),
        ({"license": "SEE LICENSE IN LICENSE.md"}, ("SEE LICENSE IN LICENSE.md",)),
        ({"license": "UNLICENSED"}, ("UNLICENSED",)),
        (
            {"license": {"type": "Apache 2.0", "url": "https://apache.org/licenses"}},
            ("Apache-2.0",),
        ),
        ({"licenses": [{"type": "MIT", "url": "https://x"}]}, ("MIT",)),
        ({"licenses": ["MIT", "Apache 2.0"]}, ("MIT", "Apache-2.0")),
        ({"licenses": {"type": "MIT"}}, ("MIT",)),
        ({"license": "MIT", "licenses": [{"type": "GPL-2.0"}]}, ("MIT",)),
        ({"license": ["MIT", "MIT"]}, ("MIT",)),
        ({"license": "", "licenses": [{"type": "MIT"}]}, ("MIT",)),
        ({"license": 42}, ()),
        ({"license": {"url": "https://x"}}, ()),
        ({"licenses": [None, 3, {"type": None}, [["MIT"]]]}, ()),
        ({}, ()),
    ],
)
def test_license_forms(fields: dict[str, Any], licenses: tuple[str, ...]) -> None:
    assert npm_licenses(manifest(**fields)) == licenses
    [pkg] = scan(rec(f"{NM}/left-pad/package.json", manifest(**fields))).packages
    assert pkg.licenses == licenses


def test_legacy_licenses_array_as_published() -> None:
    [pkg] = scan(rec(f"{NM}/json-schema/package.json", JSON_SCHEMA)).packages
    assert pkg.licenses == ("AFLv2.1", "BSD")


@pytest.mark.parametrize(
    "content",
    [
        {"type": "module"},  # dist/esm/package.json markers
        {"name": "baz"},  # resolve's test fixtures
        {"version": "1.0.0"},
        {"name": "", "version": "1.0.0"},
        {"name": "x", "version": "  "},
        {"name": "x", "version": None},
    ],
)
def test_package_json_without_identity_is_skipped_silently(content: dict[str, Any]) -> None:
    result = scan(rec(f"{NM}/resolve/test/resolver/baz/package.json", content))
    assert result.packages == []
    assert result.warnings == []


def test_nested_package_json_with_identity_is_reported() -> None:
    path = f"{NM}/resolve/test/resolver/nested_symlinks/mylib/package.json"
    [pkg] = scan(rec(path, manifest("mylib", "0.0.0", license="ISC"))).packages
    assert pkg.purl == "pkg:npm/mylib@0.0.0"


def test_debian_nodejs_paths() -> None:
    result = scan(
        rec("usr/share/nodejs/debug/package.json", manifest("debug", "4.3.4", license="MIT")),
        rec("usr/share/nodejs/@types/node/package.json", manifest("@types/node", "18.0.0")),
    )
    assert sorted(p.purl for p in result.packages) == [
        "pkg:npm/%40types/node@18.0.0",
        "pkg:npm/debug@4.3.4",
    ]


def test_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + json.dumps(manifest()).encode()
    [pkg] = scan(rec(f"{NM}/left-pad/package.json", data)).packages
    assert pkg.name == "left-pad"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{", "not JSON"),
        ('{"name": "x", "version": "1",}', "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        ("[" * 100_000 + "]" * 100_000, "not JSON"),
        ("[]", "not an object"),
        ('"left-pad"', "not an object"),
        ("null", "not an object"),
        ({"name": "x", "version": 1}, "version is a JSON int"),
        ({"name": ["x"], "version": "1"}, "name is a JSON list"),
        (manifest("a/b"), "invalid package name"),
        (manifest("@scope/"), "invalid package name"),
        (manifest("@/x"), "invalid package name"),
        (manifest("@a/b/c"), "invalid package name"),
        (manifest("scope/x"), "invalid package name"),
        (manifest("@scope"), "invalid package name"),
    ],
)
def test_malformed_package_json_warns(data: Any, message: str) -> None:
    path = f"{NM}/broken/package.json"
    result = scan(rec(path, data, layer=2))
    assert result.packages == []
    [warning] = result.warnings
    assert (warning.kind, warning.source, warning.path, warning.layer) == (
        "malformed",
        "npm",
        path,
        2,
    )
    assert message in warning.message


def test_one_bad_file_loses_only_itself() -> None:
    result = scan(
        rec(f"{NM}/broken/package.json", "{not json"),
        rec(f"{NM}/left-pad/package.json", manifest()),
    )
    assert [p.name for p in result.packages] == ["left-pad"]
    assert len(result.warnings) == 1


def test_oversized_file_is_skipped_silently() -> None:
    result = scan(rec(f"{NM}/huge/package.json", None))
    assert result.packages == []
    assert result.warnings == []


def test_same_package_in_two_trees_is_two_packages() -> None:
    result = scan(
        rec(f"{NM}/ms/package.json", manifest("ms", "2.1.3")),
        rec(f"{NM}/debug/node_modules/ms/package.json", manifest("ms", "2.0.0")),
        rec("usr/lib/node_modules/npm/node_modules/ms/package.json", manifest("ms", "2.1.3")),
    )
    assert sorted((p.version, p.locations[0].path) for p in result.packages) == [
        ("2.0.0", f"{NM}/debug/node_modules/ms/package.json"),
        ("2.1.3", f"{NM}/ms/package.json"),
        ("2.1.3", "usr/lib/node_modules/npm/node_modules/ms/package.json"),
    ]


def test_output_is_deterministic() -> None:
    records = [
        rec(f"{NM}/@babel/helper-string-parser/package.json", BABEL),
        rec(f"{NM}/json-schema/package.json", JSON_SCHEMA),
        rec(f"{NM}/left-pad/package.json", manifest()),
        rec(f"{NM}/broken/package.json", "{"),
    ]
    first = scan(*records)
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    second = scan(*shuffled)
    assert first.packages == second.packages
    assert first.warnings == second.warnings


def test_real_licenses_module_normalises(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sealyard.sbom.licenses")
    monkeypatch.undo()
    assert npm_licenses({"license": {"type": "Apache 2.0"}}) == ("Apache-2.0",)
