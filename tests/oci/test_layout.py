"""OCI image layouts and resolving an image through an index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sealyard.config import Limits
from sealyard.errors import (
    DigestMismatchError,
    InvalidDigestError,
    NotFoundError,
    SizeLimitError,
    UntrustedDataError,
    UsageError,
)
from sealyard.oci.digest import Digest, sha256_digest
from sealyard.oci.layout import REF_NAME, OciLayout, resolve_image
from sealyard.oci.platform import Platform
from tests.fixtures.images import (
    FileEntry,
    build_image,
    build_index,
    build_layer,
    sample_multiplatform_index,
    to_docker_schema2,
    write_oci_layout,
)

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")


def image(arch: str = "amd64", variant: str | None = None) -> Any:
    layer = build_layer([FileEntry("arch", arch.encode())])
    return build_image([layer], architecture=arch, variant=variant)


@pytest.fixture
def layout(tmp_path: Path) -> OciLayout:
    index = build_index([image("amd64"), image("arm64", "v8")])
    return OciLayout(write_oci_layout(tmp_path / "l", {"one": image(), "multi": index}))


def test_find_by_tag_digest_and_default(layout: OciLayout, tmp_path: Path) -> None:
    one = layout.find("one")
    assert one["digest"] == image().digest
    assert one["annotations"][REF_NAME] == "one"
    assert layout.find(f"@{image().digest}") is one
    child = image("arm64", "v8").digest  # not in index.json: a plain manifest blob
    assert layout.find(f"@{child}")["digest"] == child
    single = OciLayout(write_oci_layout(tmp_path / "single", {"x": image()}))
    assert single.find(None)["digest"] == image().digest


def test_find_errors(layout: OciLayout) -> None:
    with pytest.raises(NotFoundError, match="'nope'"):
        layout.find("nope")
    with pytest.raises(UsageError, match="name one of: multi, one"):
        layout.find(None)
    with pytest.raises(InvalidDigestError):
        layout.find("@sha256:1234")


def test_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no oci-layout file"):
        OciLayout(tmp_path)


def test_unsupported_layout_version(tmp_path: Path) -> None:
    path = write_oci_layout(tmp_path / "l", {"x": image()})
    (path / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(UntrustedDataError, match=r"2\.0\.0"):
        OciLayout(path)


def test_layout_without_index_json(tmp_path: Path) -> None:
    path = write_oci_layout(tmp_path / "l", {"x": image()})
    (path / "index.json").unlink()
    with pytest.raises(UntrustedDataError, match=r"index\.json"):
        OciLayout(path)


@pytest.mark.parametrize("content", [b"{not json", b"[]"])
def test_malformed_index_json(tmp_path: Path, content: bytes) -> None:
    path = write_oci_layout(tmp_path / "l", {"x": image()})
    (path / "index.json").write_bytes(content)
    with pytest.raises(UntrustedDataError, match=r"index\.json"):
        OciLayout(path)


def test_read_small_verifies(layout: OciLayout) -> None:
    img = image()
    assert layout.read_small(Digest(img.config_digest)) == img.config
    layout.blob_path(Digest(img.config_digest)).write_bytes(img.config + b" ")
    with pytest.raises(DigestMismatchError):
        layout.read_small(Digest(img.config_digest))


def test_read_small_is_capped(tmp_path: Path) -> None:
    path = write_oci_layout(tmp_path / "l", {"x": image()})
    small = OciLayout(path, Limits(max_manifest_bytes=64))
    with pytest.raises(SizeLimitError):
        small.read_small(Digest(image().digest))


def test_missing_blob(layout: OciLayout) -> None:
    with pytest.raises(NotFoundError, match="missing"):
        layout.open_blob(sha256_digest(b"absent"))


def test_open_verified_checks_layer_content(layout: OciLayout) -> None:
    layer = image().layers[0]
    digest = Digest(layer.digest)
    with layout.open_verified(digest) as reader:
        assert reader.read() == layer.data
    layout.blob_path(digest).write_bytes(layer.data[:-1])
    with layout.open_verified(digest) as reader, pytest.raises(DigestMismatchError):
        reader.read()


def fetcher(items: dict[str, bytes]) -> Any:
    def fetch(digest: Digest) -> bytes:
        return items[digest]

    return fetch


def test_resolve_single_image(layout: OciLayout) -> None:
    resolved = resolve_image(layout.read_small, layout.find("one"), ARM64, Limits())
    img = image()
    assert resolved.manifest_digest == img.digest
    assert resolved.config_digest == img.config_digest
    assert resolved.index_digest is None
    assert resolved.platform == "linux/amd64"  # a single image is taken whatever was asked
    assert [x["digest"] for x in resolved.layers] == [img.layers[0].digest]
    assert resolved.diff_ids == [img.layers[0].diff_id]


@pytest.mark.parametrize(("wanted", "arch"), [(AMD64, "amd64"), (ARM64, "arm64")])
def test_resolve_through_index(layout: OciLayout, wanted: Platform, arch: str) -> None:
    resolved = resolve_image(layout.read_small, layout.find("multi"), wanted, Limits())
    variant = "v8" if arch == "arm64" else None
    assert resolved.manifest_digest == image(arch, variant).digest
    assert resolved.index_digest == build_index([image("amd64"), image("arm64", "v8")]).digest
    assert resolved.platform == ("linux/arm64/v8" if variant else "linux/amd64")


def test_resolve_unknown_platform(layout: OciLayout) -> None:
    with pytest.raises(UsageError, match="linux/amd64, linux/arm64/v8"):
        resolve_image(
            layout.read_small, layout.find("multi"), Platform("linux", "ppc64le"), Limits()
        )


def test_resolve_docker_manifest_list_by_content() -> None:
    index = sample_multiplatform_index()
    items = dict(index.blobs())
    resolved = resolve_image(fetcher(items), {"digest": index.digest}, ARM64, Limits())
    assert resolved.manifest_digest == index.images[1].digest
    docker = to_docker_schema2(image())
    items = dict(docker.blobs())
    resolved = resolve_image(fetcher(items), {"digest": docker.digest}, AMD64, Limits())
    assert resolved.config_digest == docker.config_digest


def _doc(obj: Any) -> tuple[Digest, bytes]:
    data = json.dumps(obj).encode()
    return sha256_digest(data), data


def test_resolve_rejects_nested_index() -> None:
    inner_digest, inner = _doc({"manifests": []})
    outer_digest, outer = _doc(
        {
            "manifests": [
                {"digest": inner_digest, "platform": {"os": "linux", "architecture": "amd64"}}
            ]
        }
    )
    fetch = fetcher({inner_digest: inner, outer_digest: outer})
    with pytest.raises(UntrustedDataError, match="nested index"):
        resolve_image(fetch, {"digest": outer_digest}, AMD64, Limits())


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"layers": []}, "no config"),
        ({"config": "sha256:x"}, "no config"),
        ([1, 2], "not a JSON object"),
    ],
)
def test_resolve_rejects_malformed_manifests(obj: Any, message: str) -> None:
    digest, data = _doc(obj)
    with pytest.raises(UntrustedDataError, match=message):
        resolve_image(fetcher({digest: data}), {"digest": digest}, AMD64, Limits())


def test_resolve_rejects_config_that_is_not_json() -> None:
    config = b"\x00not json"
    manifest_digest, manifest = _doc({"config": {"digest": sha256_digest(config)}, "layers": []})
    fetch = fetcher({manifest_digest: manifest, sha256_digest(config): config})
    with pytest.raises(UntrustedDataError, match="config"):
        resolve_image(fetch, {"digest": manifest_digest}, AMD64, Limits())


def test_resolve_rejects_bad_digests() -> None:
    digest, data = _doc({"config": {"digest": "md5:abc"}, "layers": []})
    with pytest.raises(InvalidDigestError):
        resolve_image(fetcher({digest: data}), {"digest": digest}, AMD64, Limits())
    with pytest.raises(InvalidDigestError):
        resolve_image(fetcher({}), {"digest": None}, AMD64, Limits())
