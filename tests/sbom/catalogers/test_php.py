"""The PHP cataloger on Composer 1 and Composer 2 ``vendor/composer/installed.json``."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from sealyard.sbom.catalogers import php
from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.catalogers.php import PhpCataloger, composer_license
from sealyard.sbom.model import Location, Package

PATH = "var/www/html/vendor/composer/installed.json"


def entry(name: str, version: str, license: Any = ("MIT",), **extra: Any) -> dict[str, Any]:
    """One package as Composer 2 writes it (trimmed)."""
    out: dict[str, Any] = {
        "name": name,
        "version": version,
        "version_normalized": version.lstrip("v") + ".0",
        "source": {"type": "git", "url": f"https://github.com/{name}.git", "reference": "abc"},
        "dist": {"type": "zip", "url": f"https://api.github.com/repos/{name}/zipball/abc"},
        "require": {"php": ">=8.1"},
        "time": "2024-01-01T00:00:00+00:00",
        "type": "library",
        "installation-source": "dist",
        "autoload": {"psr-4": {"Vendor\\": "src"}},
        "notification-url": "https://packagist.org/downloads/",
        "authors": [{"name": "Someone", "email": "someone@example.org"}],
        "description": "A package",
        "install-path": f"../{name}",
        **extra,
    }
    if license is not None:
        out["license"] = list(license) if isinstance(license, tuple) else license
    return out


MONOLOG = entry("monolog/monolog", "3.5.0")
PSR_LOG = entry("psr/log", "3.0.0")
SYMFONY = entry("symfony/console", "v6.4.1")
PHPUNIT = entry("phpunit/phpunit", "10.5.5", ("BSD-3-Clause",))


def composer2(*packages: dict[str, Any], dev: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"packages": list(packages), "dev": bool(dev), "dev-package-names": list(dev)}


FAKE_SPDX = {
    "MIT": "MIT",
    "BSD-3-Clause": "BSD-3-Clause",
    "LGPL-2.1-only": "LGPL-2.1-only",
    "GPL-3.0-or-later": "GPL-3.0-or-later",
    "GPL-2.0+": "GPL-2.0-or-later",
    "Apache-2.0 AND MIT": "Apache-2.0 AND MIT",
    "(MIT OR GPL-3.0-or-later)": "(MIT OR GPL-3.0-or-later)",
    "(MIT OR Zlib) AND BSD-3-Clause": "(MIT OR Zlib) AND BSD-3-Clause",
}


@pytest.fixture(autouse=True)
def spdx(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin license recognition to a small table (``try_spdx`` semantics: ``None`` if unknown)."""
    fake: Callable[[str], str | None] = FAKE_SPDX.get
    monkeypatch.setattr(php, "try_spdx", fake)


def rec(
    data: Any,
    layer: int = 0,
    path: str = PATH,
    history: tuple[tuple[int, Any], ...] = (),
) -> FileRecord:
    def encode(value: Any) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        return value.encode() if isinstance(value, str) else json.dumps(value, indent=4).encode()

    raw = encode(data)
    return FileRecord(
        path=path,
        layer=layer,
        data=raw,
        size=len(raw or b""),
        history=tuple((layer_, encode(old)) for layer_, old in history),
    )


def scan(*records: FileRecord) -> CatalogResult:
    cataloger = PhpCataloger()
    assert all(cataloger.wants(r.path) for r in records)
    return cataloger.catalog(ImageFiles(files=records))


def by_name(result: CatalogResult) -> dict[str, Package]:
    return {p.name: p for p in result.packages}


def test_wants_installed_json_only() -> None:
    c = PhpCataloger()
    assert c.name == "php"
    assert c.track_history
    for path in (
        PATH,
        "vendor/composer/installed.json",
        "root/.composer/vendor/composer/installed.json",
    ):
        assert c.wants(path), path
    for path in (
        "var/www/html/composer.lock",
        "var/www/html/composer.json",
        "var/www/html/vendor/composer/installed.php",
        "var/www/html/vendor/monolog/monolog/composer.json",
        "var/www/html/myvendor/composer/installed.json",
    ):
        assert not c.wants(path), path


def test_composer2_layout() -> None:
    result = scan(
        rec(composer2(MONOLOG, PSR_LOG, SYMFONY, PHPUNIT, dev=("phpunit/phpunit",)), layer=4)
    )
    assert result.warnings == []
    packages = by_name(result)
    assert sorted(packages) == ["monolog/monolog", "phpunit/phpunit", "psr/log", "symfony/console"]
    monolog = packages["monolog/monolog"]
    assert (monolog.version, monolog.type, monolog.found_by) == ("3.5.0", "composer", "php")
    assert monolog.purl == "pkg:composer/monolog/monolog@3.5.0"
    assert monolog.licenses == ("MIT",)
    assert monolog.locations == (Location(PATH, 4),)
    assert (monolog.layer, monolog.introduced_layer) == (4, 4)
    assert monolog.metadata == {}
    assert packages["symfony/console"].purl == "pkg:composer/symfony/console@v6.4.1"
    assert packages["phpunit/phpunit"].metadata == {"dev": True}
    assert packages["phpunit/phpunit"].licenses == ("BSD-3-Clause",)


def test_composer1_layout() -> None:
    result = scan(rec([MONOLOG, PSR_LOG]))
    assert result.warnings == []
    assert sorted(p.purl for p in result.packages) == [
        "pkg:composer/monolog/monolog@3.5.0",
        "pkg:composer/psr/log@3.0.0",
    ]


@pytest.mark.parametrize(
    ("license", "expected"),
    [
        (["MIT"], ("MIT",)),
        (["LGPL-2.1-only", "GPL-3.0-or-later"], ("LGPL-2.1-only OR GPL-3.0-or-later",)),
        (["GPL-2.0+", "MIT"], ("GPL-2.0-or-later OR MIT",)),
        (["Apache-2.0 AND MIT", "GPL-3.0-or-later"], ("(Apache-2.0 AND MIT) OR GPL-3.0-or-later",)),
        (["(MIT OR GPL-3.0-or-later)", "MIT"], ("(MIT OR GPL-3.0-or-later) OR MIT",)),
        (
            ["(MIT OR Zlib) AND BSD-3-Clause", "MIT"],
            ("((MIT OR Zlib) AND BSD-3-Clause) OR MIT",),
        ),
        (["MIT", "MIT"], ("MIT",)),
        # "proprietary OR MIT" would not be a valid expression: keep them apart
        (["proprietary", "MIT"], ("proprietary", "MIT")),
        (["proprietary"], ("proprietary",)),
        ("MIT", ("MIT",)),  # composer.json allows a lone string
        ([], ()),
        (None, ()),
        ([" ", 3, None, {"type": "MIT"}], ()),
        ({"MIT": True}, ()),
    ],
)
def test_license_forms(license: Any, expected: tuple[str, ...]) -> None:
    assert composer_license(license) == expected
    [pkg] = scan(rec(composer2(entry("vendor/pkg", "1.0.0", license)))).packages
    assert pkg.licenses == expected


def test_purl_lowercases_vendor_and_name() -> None:
    [pkg] = scan(rec(composer2(entry("Acme/Widget-Lib", "2.0.0")))).packages
    assert pkg.name == "Acme/Widget-Lib"
    assert pkg.purl == "pkg:composer/acme/widget-lib@2.0.0"


def test_dev_branch_versions() -> None:
    [pkg] = scan(rec(composer2(entry("acme/lib", "dev-main")))).packages
    assert pkg.purl == "pkg:composer/acme/lib@dev-main"


def test_duplicates_in_one_file_are_reported_once() -> None:
    result = scan(rec(composer2(MONOLOG, PSR_LOG, MONOLOG)))
    assert sorted(p.name for p in result.packages) == ["monolog/monolog", "psr/log"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "not JSON"),
        (b"\xff\xfe[]", "not JSON"),
        ("[" * 100_000, "not JSON"),
        ({"dev": True}, "neither a package array"),
        ({"packages": {"monolog/monolog": {}}}, "neither a package array"),
        ('"installed"', "neither a package array"),
    ],
)
def test_unreadable_file_warns(document: Any, message: str) -> None:
    result = scan(rec(document, layer=2))
    assert result.packages == []
    [warning] = result.warnings
    assert (warning.kind, warning.source, warning.path, warning.layer) == (
        "malformed",
        "php",
        PATH,
        2,
    )
    assert message in warning.message


@pytest.mark.parametrize(
    "bad",
    [
        "monolog/monolog",
        None,
        {"version": "1.0.0"},
        {"name": "acme/lib"},
        {"name": "acme/lib", "version": 1},
        {"name": "acme/lib", "version": ""},
        {"name": "no-vendor", "version": "1.0.0"},
        {"name": "a/b/c", "version": "1.0.0"},
        {"name": "/lib", "version": "1.0.0"},
    ],
)
def test_bad_entries_warn_and_the_rest_is_kept(bad: Any) -> None:
    result = scan(rec(composer2(MONOLOG, bad, PSR_LOG)))
    assert sorted(p.name for p in result.packages) == ["monolog/monolog", "psr/log"]
    [warning] = result.warnings
    assert "package #1" in warning.message


def test_empty_install() -> None:
    result = scan(rec(composer2()))
    assert result.packages == []
    assert result.warnings == []


def test_oversized_file_is_skipped_silently() -> None:
    result = scan(rec(None))
    assert result.packages == []
    assert result.warnings == []


def test_history_gives_layers_per_package() -> None:
    # layer 1: composer install (monolog 3.4); layer 3: upgrade monolog, add psr/log;
    # layer 5: composer require symfony/console, which rewrites the whole file.
    current = rec(
        composer2(MONOLOG, PSR_LOG, SYMFONY),
        layer=5,
        history=(
            (1, composer2(entry("monolog/monolog", "3.4.0"))),
            (3, composer2(MONOLOG, PSR_LOG)),
        ),
    )
    packages = by_name(scan(current))
    assert (packages["monolog/monolog"].layer, packages["monolog/monolog"].introduced_layer) == (
        3,
        1,
    )
    assert (packages["psr/log"].layer, packages["psr/log"].introduced_layer) == (3, 3)
    assert (packages["symfony/console"].layer, packages["symfony/console"].introduced_layer) == (
        5,
        5,
    )
    assert all(p.locations == (Location(PATH, 5),) for p in packages.values())


def test_history_stops_at_a_gap_in_the_package() -> None:
    # psr/log was removed in layer 2 and added back in layer 4: it stayed only from 4 on.
    current = rec(
        composer2(PSR_LOG),
        layer=4,
        history=((1, composer2(PSR_LOG)), (2, composer2(MONOLOG))),
    )
    [pkg] = scan(current).packages
    assert (pkg.layer, pkg.introduced_layer) == (4, 4)


@pytest.mark.parametrize("unreadable", [None, b"{broken", b'{"no": "packages"}'])
def test_history_stops_at_an_unreadable_version(unreadable: bytes | None) -> None:
    current = rec(
        composer2(PSR_LOG),
        layer=6,
        history=((1, composer2(PSR_LOG)), (2, unreadable), (4, composer2(PSR_LOG))),
    )
    [pkg] = scan(current).packages
    assert (pkg.layer, pkg.introduced_layer) == (4, 4)


def test_output_is_deterministic() -> None:
    records = [
        rec(composer2(MONOLOG, PSR_LOG, dev=("psr/log",))),
        rec([SYMFONY, {"name": "bad"}], path="srv/app/vendor/composer/installed.json"),
        rec("{", path="opt/x/vendor/composer/installed.json"),
    ]
    first = scan(*records)
    shuffled = records[:]
    random.Random(5).shuffle(shuffled)
    second = scan(*shuffled)
    assert first.packages == second.packages
    assert first.warnings == second.warnings


def test_real_licenses_module_joins(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sealyard.sbom.licenses")
    monkeypatch.undo()
    assert composer_license(["MIT", "GPL-2.0+"]) == ("MIT OR GPL-2.0-or-later",)
    assert composer_license(["proprietary"]) == ("proprietary",)
