"""Repository names and tags: distribution grammar plus the project rule."""

from __future__ import annotations

import pytest

from sealyard.errors import InvalidNameError, InvalidReferenceError
from sealyard.oci.names import project_of, validate_repository, validate_tag


@pytest.mark.parametrize(
    "name",
    [
        "library/alpine",
        "library/a",
        "team/sub/group/app",
        "my-org/my.app",
        "org/app__v2",
        "org/app_v2",
        "org/a---b",
        "0/1",
        "a1b2/c3d4.e5-f6_g7",
    ],
)
def test_valid_repository_names(name: str) -> None:
    assert validate_repository(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("Library/alpine", "upper case project"),
        ("library/Alpine", "upper case name"),
        ("library/..", "dot-dot component"),
        ("library/a..b", "two dots in a row"),
        ("../library/alpine", "leading dot-dot"),
        ("library//alpine", "empty component"),
        ("/library/alpine", "leading slash"),
        ("library/alpine/", "trailing slash"),
        ("library/-alpine", "leading dash"),
        ("library/alpine-", "trailing dash"),
        ("library/.alpine", "leading dot"),
        ("library/alpine.", "trailing dot"),
        ("library/_alpine", "leading underscore"),
        ("library/alp___ine", "three underscores"),
        ("library/alp_.ine", "mixed separators"),
        ("library/alp ine", "space"),
        ("library/alpine:latest", "tag in the name"),
        ("library/alpine@sha256", "digest in the name"),
        ("", "empty"),
        ("library/alpine\n", "trailing newline"),
        ("library/alpine\nevil/x", "embedded newline"),
        ("library/alpine%2f", "percent-encoded separator"),
    ],
)
def test_invalid_repository_names(name: str, why: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_repository(name)


def test_name_without_project_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidNameError, match="library/alpine"):
        validate_repository("alpine")


def test_name_length_limit() -> None:
    at_limit = "library/" + "a" * (255 - len("library/"))
    assert len(at_limit) == 255
    assert validate_repository(at_limit) == at_limit
    with pytest.raises(InvalidNameError, match="longer than 255"):
        validate_repository(at_limit + "a")
    with pytest.raises(InvalidNameError, match="longer than 20"):
        validate_repository("library/" + "a" * 13, max_length=20)


def test_project_of() -> None:
    assert project_of("library/alpine") == "library"
    assert project_of("team/sub/app") == "team"


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "v1.2.3",
        "1.0",
        "_private",
        "A-Z_a-z.0-9",
        "sha256-" + "a" * 64 + ".sig",
        "x" * 128,
    ],
)
def test_valid_tags(tag: str) -> None:
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("x" * 129, "longer than 128"),
        (".hidden", "leading dot"),
        ("-rc1", "leading dash"),
        ("", "empty"),
        ("v1:2", "colon"),
        ("v1/2", "slash"),
        ("v1 2", "space"),
        ("latest\n", "trailing newline"),
        ("sha256:" + "a" * 64, "a digest is not a tag"),
        ("caf\u00e9", "non-ASCII"),
    ],
)
def test_invalid_tags(tag: str, why: str) -> None:
    with pytest.raises(InvalidReferenceError):
        validate_tag(tag)
