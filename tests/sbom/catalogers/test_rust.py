"""The cargo-auditable Rust binary cataloger."""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path

import pytest

from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.catalogers.rust import MAX_JSON_SIZE, RustCargoAuditableCataloger
from sealyard.sbom.model import Location
from tests.conftest import need
from tests.sbom.catalogers.binary_fixtures import (
    AUDITABLE_PACKAGES,
    EM_386,
    EM_AARCH64,
    EM_S390,
    EM_X86_64,
    Sec,
    build_rust_auditable_binary,
    elf,
    go_binary,
    rust_binary,
    rust_dep_v0,
)

EXPECTED = {
    "hello": ("0.1.0", "pkg:cargo/hello@0.1.0", "local"),
    "serde": ("1.0.188", "pkg:cargo/serde@1.0.188", "crates.io"),
    "mygit": ("0.3.0", "pkg:cargo/mygit@0.3.0", "git"),
    "serde_derive": ("1.0.188", "pkg:cargo/serde_derive@1.0.188", "crates.io"),
}


def catalog(*records: FileRecord) -> CatalogResult:
    return RustCargoAuditableCataloger().catalog(ImageFiles(files=records))


def record(data: bytes | None, path: str = "usr/local/bin/hello", layer: int = 3) -> FileRecord:
    return FileRecord(path=path, layer=layer, data=data, size=len(data or b""), mode=0o755)


def summary(result: CatalogResult) -> dict[str, tuple[str, str, str]]:
    return {p.name: (p.version, p.purl, p.metadata["source"]) for p in result.packages}


def test_runtime_crates_become_cargo_packages() -> None:
    result = catalog(record(rust_binary()))
    assert result.warnings == []
    assert summary(result) == EXPECTED  # "cc" is a build dependency: not in the binary
    pkgs = {p.name: p for p in result.packages}
    for p in result.packages:
        assert p.type == "cargo"
        assert p.found_by == "rust-cargo-auditable"
        assert p.locations == (Location("usr/local/bin/hello", 3),)
        assert p.layer == 3
        assert p.metadata["architecture"] == "x86_64"
    assert pkgs["hello"].metadata["root"] is True
    assert pkgs["hello"].metadata["dependencies"] == [
        "cc@1.0.83",
        "mygit@0.3.0",
        "serde@1.0.188",
    ]
    assert pkgs["serde"].metadata["dependencies"] == ["serde_derive@1.0.188"]
    assert "root" not in pkgs["serde"].metadata


@pytest.mark.parametrize(
    ("bits", "little", "machine", "arch"),
    [
        (64, True, EM_AARCH64, "aarch64"),
        (64, False, EM_S390, "s390"),
        (32, True, EM_386, "i386"),
        (32, False, 8, "mips"),
    ],
)
def test_every_elf_class_and_byte_order(bits: int, little: bool, machine: int, arch: str) -> None:
    result = catalog(record(rust_binary(bits=bits, little_endian=little, machine=machine)))
    assert summary(result) == EXPECTED
    assert {p.metadata["architecture"] for p in result.packages} == {arch}


def test_legacy_section_name() -> None:
    assert summary(catalog(record(rust_binary(section=".rust-deps-v0")))) == EXPECTED


def test_wants_the_executable_locations() -> None:
    cataloger = RustCargoAuditableCataloger()
    assert cataloger.wants("usr/local/bin/ripgrep")
    assert cataloger.wants("app/server")
    assert not cataloger.wants("usr/lib/x86_64-linux-gnu/libssl.so.3")
    assert not cataloger.wants("usr/share/doc/cargo/copyright")


def test_other_files_give_nothing_and_no_warning() -> None:
    plain = elf([Sec(".text", b"\xc3", 0x401000)], machine=EM_X86_64)
    result = catalog(
        record(plain),
        record(go_binary(), "usr/bin/gotool"),
        record(b"#!/bin/sh\n", "usr/bin/script"),
        record(None, "usr/bin/huge"),
    )
    assert result.packages == []
    assert result.warnings == []


def test_unusual_but_valid_entries() -> None:
    packages = [
        {"name": "a", "version": "1.0.0", "source": "registry", "dependencies": [1, 99, -1, "x"]},
        {"name": "b", "version": "2.0.0", "source": {"other": "weird"}},
        {"name": "c", "version": "3.0.0"},  # no source: crates.io
    ]
    result = catalog(record(rust_binary(packages)))
    assert summary(result) == {
        "a": ("1.0.0", "pkg:cargo/a@1.0.0", "registry"),
        "b": ("2.0.0", "pkg:cargo/b@2.0.0", "{'other': 'weird'}"),
        "c": ("3.0.0", "pkg:cargo/c@3.0.0", "crates.io"),
    }
    a = next(p for p in result.packages if p.name == "a")
    assert a.metadata["dependencies"] == ["b@2.0.0"]  # out-of-range indices dropped


def hostile_payloads() -> dict[str, bytes]:
    bomb = zlib.compress(b" " * (MAX_JSON_SIZE + 1024), 9)
    return {
        "not-zlib": b"this is not compressed",
        "truncated-zlib": rust_dep_v0(AUDITABLE_PACKAGES)[:-8],
        "decompression-bomb": bomb,
        "not-json": zlib.compress(b"{packages: nope"),
        "deeply-nested-json": zlib.compress(b"[" * 200_000 + b"]" * 200_000),
        "no-packages-list": zlib.compress(json.dumps({"crates": []}).encode()),
        "not-an-object": zlib.compress(b"[1, 2, 3]"),
        "crate-without-version": zlib.compress(
            json.dumps({"packages": [{"name": "x", "version": ""}]}).encode()
        ),
        "crate-not-an-object": zlib.compress(json.dumps({"packages": ["serde"]}).encode()),
    }


@pytest.mark.parametrize("case", sorted(hostile_payloads()))
def test_hostile_sections_become_warnings(case: str) -> None:
    start = time.monotonic()
    result = catalog(record(rust_binary(payload=hostile_payloads()[case])))
    assert time.monotonic() - start < 5
    assert result.packages == []
    assert [w.kind for w in result.warnings] == ["unreadable"], case
    assert result.warnings[0].source == "rust-cargo-auditable"


def test_section_past_end_of_file_and_truncated_elf() -> None:
    good = rust_binary()
    truncated = good[: len(good) // 2]
    result = catalog(record(truncated, "usr/bin/a"), record(good[:30], "usr/bin/b"))
    assert result.packages == []
    assert sorted((w.kind, w.path) for w in result.warnings) == [
        ("unreadable", "usr/bin/a"),
        ("unreadable", "usr/bin/b"),
    ]


def test_one_bad_binary_does_not_hide_the_others() -> None:
    result = catalog(
        record(rust_binary(payload=b"garbage"), "usr/bin/bad"),
        record(rust_binary(), "usr/bin/good"),
    )
    assert summary(result) == EXPECTED
    assert [w.path for w in result.warnings] == ["usr/bin/bad"]


@pytest.mark.integration
def test_real_rust_binary_with_dep_v0_section(tmp_path: Path) -> None:
    rustc = need("rustc")
    objcopy = need("objcopy")
    binary = build_rust_auditable_binary(tmp_path, AUDITABLE_PACKAGES, rustc=rustc, objcopy=objcopy)
    result = catalog(record(binary.read_bytes()))
    assert result.warnings == []
    assert summary(result) == EXPECTED
