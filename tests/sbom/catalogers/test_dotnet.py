"""The .NET cataloger on ``*.deps.json`` files as ``dotnet publish`` writes them."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from sealyard.sbom.catalogers.dotnet import DotnetCataloger
from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.model import Location, Package

PATH = "app/MyWebApp.deps.json"
NEWTONSOFT_SHA = (
    "sha512-ppPFpBcvxdsfUonNcvITKqLl3bqxWbDCZIzDWHzjpdAHRFfZe0Dw9HmA0"
    "+za13IdyrgJwpkDTDA9fHaxOrt20A=="
)


def library(name: str, version: str, kind: str = "package", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "serviceable": kind == "package", "sha512": ""}
    if kind == "package":
        out["sha512"] = f"sha512-{name}{version}=="
        out["path"] = f"{name.lower()}/{version}"
        out["hashPath"] = f"{name.lower()}.{version}.nupkg.sha512"
    out.update(extra)
    return out


def deps(libraries: dict[str, Any]) -> dict[str, Any]:
    """A self-contained ASP.NET Core app's deps.json (targets trimmed)."""
    target = ".NETCoreApp,Version=v8.0/linux-x64"
    return {
        "runtimeTarget": {"name": target, "signature": ""},
        "compilationOptions": {},
        "targets": {target: {key: {"runtime": {}} for key in libraries}},
        "libraries": libraries,
    }


WEBAPP = deps(
    {
        "MyWebApp/1.0.0": library("MyWebApp", "1.0.0", "project"),
        "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.4": library(
            "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64", "8.0.4", "runtimepack"
        ),
        "Newtonsoft.Json/13.0.3": library("Newtonsoft.Json", "13.0.3", sha512=NEWTONSOFT_SHA),
        "Serilog/3.1.1": library("Serilog", "3.1.1"),
        "Serilog.Sinks.Console/5.0.1": library("Serilog.Sinks.Console", "5.0.1"),
        "MyWebApp.Domain/1.0.0": library("MyWebApp.Domain", "1.0.0", "project"),
        "PdfSharp/6.1.0.0": library("PdfSharp", "6.1.0.0", "reference"),
        "Microsoft.AspNetCore.App.Ref/8.0.0": library("x", "y", "referenceassembly"),
    }
)


def rec(
    data: Any,
    layer: int = 0,
    path: str = PATH,
    history: tuple[tuple[int, Any], ...] = (),
) -> FileRecord:
    def encode(value: Any) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        return value.encode() if isinstance(value, str) else json.dumps(value, indent=2).encode()

    raw = encode(data)
    return FileRecord(
        path=path,
        layer=layer,
        data=raw,
        size=len(raw or b""),
        history=tuple((layer_, encode(old)) for layer_, old in history),
    )


def scan(*records: FileRecord) -> CatalogResult:
    cataloger = DotnetCataloger()
    assert all(cataloger.wants(r.path) for r in records)
    return cataloger.catalog(ImageFiles(files=records))


def by_name(result: CatalogResult) -> dict[str, Package]:
    return {p.name: p for p in result.packages}


def test_wants_deps_json() -> None:
    c = DotnetCataloger()
    assert c.name == "dotnet"
    for path in (
        PATH,
        "MyApp.deps.json",
        "usr/share/dotnet/shared/Microsoft.NETCore.App/8.0.4/Microsoft.NETCore.App.deps.json",
    ):
        assert c.wants(path), path
    for path in (
        "app/MyWebApp.runtimeconfig.json",
        "app/MyWebApp.dll",
        "app/.deps.json",
        ".deps.json",
        "app/MyWebApp.deps.json.bak",
    ):
        assert not c.wants(path), path


def test_packages_only() -> None:
    result = scan(rec(WEBAPP, layer=7))
    assert result.warnings == []
    packages = by_name(result)
    assert sorted(packages) == ["Newtonsoft.Json", "Serilog", "Serilog.Sinks.Console"]
    newtonsoft = packages["Newtonsoft.Json"]
    assert (newtonsoft.version, newtonsoft.type, newtonsoft.found_by) == (
        "13.0.3",
        "nuget",
        "dotnet",
    )
    assert newtonsoft.purl == "pkg:nuget/Newtonsoft.Json@13.0.3"
    assert newtonsoft.licenses == ()
    assert newtonsoft.locations == (Location(PATH, 7),)
    assert (newtonsoft.layer, newtonsoft.introduced_layer) == (7, 7)
    assert newtonsoft.metadata == {"sha512": NEWTONSOFT_SHA, "path": "newtonsoft.json/13.0.3"}
    assert packages["Serilog.Sinks.Console"].purl == "pkg:nuget/Serilog.Sinks.Console@5.0.1"


@pytest.mark.parametrize(
    ("key", "purl"),
    [
        ("Newtonsoft.Json/13.0.3", "pkg:nuget/Newtonsoft.Json@13.0.3"),
        (
            "System.Text.Json/8.0.0-preview.7.23375.6",
            "pkg:nuget/System.Text.Json@8.0.0-preview.7.23375.6",
        ),
        ("Foo/1.0.0+build.5", "pkg:nuget/Foo@1.0.0%2Bbuild.5"),
    ],
)
def test_purls(key: str, purl: str) -> None:
    [pkg] = scan(rec(deps({key: {"type": "package"}}))).packages
    assert pkg.purl == purl
    assert pkg.metadata == {}


def test_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + json.dumps(WEBAPP).encode()
    assert len(scan(rec(data)).packages) == 3


def test_case_variants_are_one_package() -> None:
    result = scan(
        rec(
            deps(
                {
                    "Newtonsoft.Json/13.0.3": {"type": "package"},
                    "newtonsoft.json/13.0.3": {"type": "package"},
                    "Newtonsoft.Json/12.0.1": {"type": "package"},
                }
            )
        )
    )
    assert sorted(p.purl for p in result.packages) == [
        "pkg:nuget/Newtonsoft.Json@12.0.1",
        "pkg:nuget/Newtonsoft.Json@13.0.3",
    ]


def test_same_package_in_two_apps_is_two_packages() -> None:
    lib = deps({"Serilog/3.1.1": {"type": "package"}})
    result = scan(rec(lib, path="app/a/A.deps.json"), rec(lib, path="app/b/B.deps.json"))
    assert sorted(p.locations[0].path for p in result.packages) == [
        "app/a/A.deps.json",
        "app/b/B.deps.json",
    ]


def test_no_packages() -> None:
    result = scan(rec(deps({"MyWebApp/1.0.0": library("MyWebApp", "1.0.0", "project")})))
    assert result.packages == []
    assert result.warnings == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "not JSON"),
        (b"\x00\x01", "not JSON"),
        ('{"a":' * 100_000, "not JSON"),
        ("[]", "not an object"),
        ({"runtimeTarget": {}}, "no libraries object"),
        ({"libraries": ["Serilog/3.1.1"]}, "no libraries object"),
    ],
)
def test_unreadable_file_warns(document: Any, message: str) -> None:
    result = scan(rec(document, layer=3))
    assert result.packages == []
    [warning] = result.warnings
    assert (warning.kind, warning.source, warning.path, warning.layer) == (
        "malformed",
        "dotnet",
        PATH,
        3,
    )
    assert message in warning.message


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("Broken", {"type": "package"}, "not Name/Version"),
        ("Broken/", {"type": "package"}, "not Name/Version"),
        ("/1.0.0", {"type": "package"}, "not Name/Version"),
        ("A/1.0/extra", {"type": "package"}, "not Name/Version"),
        ("Broken/1.0.0", "package", "not an object"),
        ("Broken/1.0.0", None, "not an object"),
    ],
)
def test_bad_libraries_warn_and_the_rest_is_kept(key: str, value: Any, message: str) -> None:
    result = scan(rec(deps({"Serilog/3.1.1": {"type": "package"}, key: value})))
    assert [p.name for p in result.packages] == ["Serilog"]
    [warning] = result.warnings
    assert message in warning.message


def test_unknown_types_are_ignored_quietly() -> None:
    result = scan(
        rec(deps({"X/1.0": {"type": "msbuildproject"}, "Y/1.0": {}, "Z/1.0": {"type": 3}}))
    )
    assert result.packages == []
    assert result.warnings == []


def test_oversized_file_is_skipped_silently() -> None:
    result = scan(rec(None))
    assert result.packages == []
    assert result.warnings == []


def test_history_gives_layers_per_package() -> None:
    # layer 2: first publish; layer 4: rebuilt with a Serilog upgrade and a new sink.
    current = rec(
        deps(
            {
                "Serilog/3.1.1": {"type": "package"},
                "Serilog.Sinks.Console/5.0.1": {"type": "package"},
            }
        ),
        layer=4,
        history=((2, deps({"Serilog/2.12.0": {"type": "package"}})),),
    )
    packages = by_name(scan(current))
    assert (packages["Serilog"].layer, packages["Serilog"].introduced_layer) == (4, 2)
    assert (
        packages["Serilog.Sinks.Console"].layer,
        packages["Serilog.Sinks.Console"].introduced_layer,
    ) == (4, 4)


def test_history_of_an_untouched_package_goes_back_to_its_first_layer() -> None:
    lib = deps({"Serilog/3.1.1": {"type": "package"}})
    current = rec(lib, layer=5, history=((1, lib), (3, lib)))
    [pkg] = scan(current).packages
    assert (pkg.layer, pkg.introduced_layer) == (1, 1)
    assert pkg.locations == (Location(PATH, 5),)


@pytest.mark.parametrize("unreadable", [None, b"{", b"[]", b'{"libraries": 1}'])
def test_history_stops_at_an_unreadable_version(unreadable: bytes | None) -> None:
    lib = deps({"Serilog/3.1.1": {"type": "package"}})
    current = rec(lib, layer=5, history=((1, lib), (2, unreadable), (3, lib)))
    [pkg] = scan(current).packages
    assert (pkg.layer, pkg.introduced_layer) == (3, 3)


def test_output_is_deterministic() -> None:
    records = [
        rec(WEBAPP),
        rec(
            deps({"Serilog/3.1.1": {"type": "package"}, "bad": {"type": "package"}}),
            path="b/B.deps.json",
        ),
        rec("{", path="c/C.deps.json"),
    ]
    first = scan(*records)
    shuffled = records[:]
    random.Random(9).shuffle(shuffled)
    second = scan(*shuffled)
    assert first.packages == second.packages
    assert first.warnings == second.warnings
