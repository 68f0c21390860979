"""Platforms and choosing one from an index."""

from __future__ import annotations

import platform as std_platform
from typing import Any

import pytest

from sealyard.errors import UsageError
from sealyard.oci.platform import Platform, host_platform, select_platform


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/x86_64", Platform("linux", "amd64")),
        ("linux/aarch64", Platform("linux", "arm64")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        ("linux/arm/v7", Platform("linux", "arm", "v7")),
        ("linux/armv7l", Platform("linux", "arm")),
        ("linux/i686", Platform("linux", "386")),
        (" windows/amd64 ", Platform("windows", "amd64")),
    ],
)
def test_parse(text: str, expected: Platform) -> None:
    assert Platform.parse(text) == expected


@pytest.mark.parametrize("text", ["", "linux", "linux/", "/amd64", "linux/arm/v7/x", "a//b"])
def test_parse_invalid(text: str) -> None:
    with pytest.raises(UsageError, match="os/arch"):
        Platform.parse(text)


def test_str_and_from_dict() -> None:
    assert str(Platform("linux", "arm64", "v8")) == "linux/arm64/v8"
    assert str(Platform("linux", "amd64")) == "linux/amd64"
    assert Platform.from_dict({"os": "linux", "architecture": "arm", "variant": None}) == Platform(
        "linux", "arm"
    )
    assert Platform.from_dict({}) == Platform("", "")


@pytest.mark.parametrize(
    ("wanted", "offered", "ok"),
    [
        ("linux/amd64", Platform("linux", "amd64"), True),
        ("linux/amd64", Platform("linux", "arm64"), False),
        ("linux/amd64", Platform("windows", "amd64"), False),
        ("linux/arm64", Platform("linux", "arm64", "v8"), True),
        ("linux/arm64/v8", Platform("linux", "arm64"), True),  # v8 is arm64's default
        ("linux/arm64/v8", Platform("linux", "arm64", "v9"), False),
        ("linux/arm/v7", Platform("linux", "arm", "v6"), False),
        ("linux/arm/v7", Platform("linux", "arm"), True),  # v7 is arm's default
        ("linux/arm/v6", Platform("linux", "arm"), False),
        ("linux/arm", Platform("linux", "arm", "v6"), True),
    ],
)
def test_matches(wanted: str, offered: Platform, ok: bool) -> None:
    assert Platform.parse(wanted).matches(offered) is ok


def entry(digest: str, os: str, arch: str, variant: str | None = None) -> dict[str, Any]:
    plat = {"os": os, "architecture": arch} | ({"variant": variant} if variant else {})
    return {"digest": digest, "platform": plat}


MANIFESTS: list[dict[str, Any]] = [
    {"digest": "no-platform"},
    entry("att", "unknown", "unknown"),
    entry("v6", "linux", "arm", "v6"),
    entry("v7", "linux", "arm", "v7"),
    entry("amd", "linux", "amd64"),
    entry("arm64", "linux", "arm64", "v8"),
]


@pytest.mark.parametrize(
    ("wanted", "digest"),
    [
        ("linux/amd64", "amd"),
        ("linux/arm64", "arm64"),
        ("linux/arm/v7", "v7"),
        ("linux/arm", "v6"),  # the first match wins
    ],
)
def test_select(wanted: str, digest: str) -> None:
    assert select_platform(MANIFESTS, Platform.parse(wanted))["digest"] == digest


def test_select_lists_what_is_available() -> None:
    with pytest.raises(UsageError) as info:
        select_platform(MANIFESTS, Platform.parse("linux/s390x"))
    assert str(info.value) == (
        "no image for platform linux/s390x in the index; available: linux/amd64, "
        "linux/arm/v6, linux/arm/v7, linux/arm64/v8, unknown/unknown"
    )


def test_select_from_an_empty_index() -> None:
    with pytest.raises(UsageError, match="available: none"):
        select_platform([], Platform("linux", "amd64"))


def test_attestations_are_never_chosen_for_a_real_platform() -> None:
    with pytest.raises(UsageError):
        select_platform([entry("att", "unknown", "unknown")], Platform("linux", "amd64"))


def test_host_platform() -> None:
    host = host_platform()
    assert host.os == "linux"
    machine = std_platform.machine().lower()
    assert host.architecture == {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
