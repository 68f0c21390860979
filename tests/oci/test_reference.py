"""Docker-style image references."""

from __future__ import annotations

import pytest

from sealyard.errors import InvalidReferenceError
from sealyard.oci.digest import Digest
from sealyard.oci.reference import ImageReference, parse_reference

DIGEST = Digest("sha256:" + "ab" * 32)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alpine", ImageReference("docker.io", "library/alpine")),
        ("alpine:3.20", ImageReference("docker.io", "library/alpine", "3.20")),
        ("docker.io/alpine", ImageReference("docker.io", "library/alpine")),
        ("bitnami/redis:7", ImageReference("docker.io", "bitnami/redis", "7")),
        ("localhost:5000/a/b:t", ImageReference("localhost:5000", "a/b", "t")),
        ("localhost/a", ImageReference("localhost", "a")),
        ("127.0.0.1:5000/p/r:v1", ImageReference("127.0.0.1:5000", "p/r", "v1")),
        ("ghcr.io/o/r@" + DIGEST, ImageReference("ghcr.io", "o/r", None, DIGEST)),
        ("registry.example.com:443/a/b/c", ImageReference("registry.example.com:443", "a/b/c")),
        ("a/b:t@" + DIGEST, ImageReference("docker.io", "a/b", "t", DIGEST)),
        ("host/a@" + DIGEST, ImageReference("docker.io", "host/a", None, DIGEST)),
        ("myhost:5000/a:Tag_1.x-y", ImageReference("myhost:5000", "a", "Tag_1.x-y")),
        ("a.b-c__d/e", ImageReference("a.b-c__d", "e")),
        ("  alpine:edge  ", ImageReference("docker.io", "library/alpine", "edge")),
    ],
)
def test_parse(text: str, expected: ImageReference) -> None:
    assert parse_reference(text) == expected


def test_reference_and_str() -> None:
    assert parse_reference("alpine").reference == "latest"
    assert parse_reference("alpine:3").reference == "3"
    pinned = parse_reference(f"a/b:t@{DIGEST}")
    assert pinned.reference == DIGEST
    assert str(pinned) == f"docker.io/a/b:t@{DIGEST}"
    assert str(parse_reference("alpine")) == "docker.io/library/alpine"
    assert str(parse_reference("localhost:5000/x:1")) == "localhost:5000/x:1"


def test_round_trip() -> None:
    for text in ("ghcr.io/o/r:1", f"localhost:5000/a/b@{DIGEST}", f"q.io/a:t@{DIGEST}"):
        assert str(parse_reference(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Alpine",
        "UPPER/case",
        "a/b:",
        "a/b:-tag",
        "a/b:" + "t" * 129,
        "a//b",
        "a/b/",
        "/a",
        "a:b:c",
        "a b",
        "a@sha256:short",
        "a@md5:" + "0" * 32,
        "a@" + DIGEST.upper(),
        "a@",
        "-a",
        "a_",
        "localhost:5000/",
        "a/b:t@sha256:" + "g" * 64,
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_reference(text)
