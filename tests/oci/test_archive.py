"""``docker save`` archives: both layouts docker writes, entry selection, hostile archives."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealyard.errors import NotFoundError, UntrustedDataError, UsageError
from sealyard.oci.archive import DockerArchive
from tests.fixtures.docker_archive import (
    docker_archive_members,
    uncompressed,
    write_docker_archive,
    write_tar,
)
from tests.fixtures.images import FileEntry, Image, build_image, build_layer


def image(name: str, compression: str = "gzip") -> Image:
    return build_image(
        [
            build_layer([FileEntry("base", b"base")], compression),
            build_layer([FileEntry("name", name.encode())], compression),
        ]
    )


@pytest.fixture(params=["legacy", "oci"])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DockerArchive]:
    path = write_docker_archive(
        tmp_path / "a.tar",
        [(image("one"), ["app:1", "app:latest"]), (image("two"), ["other:2"])],
        request.param,
    )
    opened = DockerArchive(path)
    yield opened
    opened.close()


def test_select(archive: DockerArchive) -> None:
    assert archive.select("app:1")["RepoTags"] == ["app:1", "app:latest"]
    assert archive.select("app:latest") is archive.select("app:1")
    assert archive.select("other:2")["RepoTags"] == ["other:2"]
    assert archive.select("@0") is archive.select("app:1")
    assert archive.select("@1") is archive.select("other:2")


def test_select_errors(archive: DockerArchive) -> None:
    with pytest.raises(UsageError, match=r"several images.*app:1.*other:2"):
        archive.select(None)
    with pytest.raises(NotFoundError, match="#2"):
        archive.select("@2")
    with pytest.raises(NotFoundError, match="app:2"):
        archive.select("app:2")


def test_layers_and_config_are_readable_and_match(archive: DockerArchive) -> None:
    entry = archive.select("app:1")
    config = json.loads(archive.read(entry["Config"], 1 << 20))
    assert config == json.loads(image("one").config)
    tars = [archive.open(name).read() for name in entry["Layers"]]
    diff_ids = ["sha256:" + hashlib.sha256(tar).hexdigest() for tar in tars]
    assert diff_ids == config["rootfs"]["diff_ids"]
    assert tars == [uncompressed(layer) for layer in image("one").layers]


def test_legacy_layer_names_are_not_diff_ids(tmp_path: Path) -> None:
    members = docker_archive_members([(image("one"), ["a:1"])], "legacy")
    names = json.loads(members["manifest.json"])[0]["Layers"]
    diff_ids = {layer.diff_id.split(":")[1] for layer in image("one").layers}
    assert all(name.endswith("/layer.tar") for name in names)
    assert not {name.split("/")[0] for name in names} & diff_ids


def test_single_image_is_the_default(tmp_path: Path) -> None:
    path = write_docker_archive(tmp_path / "s.tar", [(image("solo"), [])])
    archive = DockerArchive(path)
    try:
        assert archive.select(None)["RepoTags"] == []
    finally:
        archive.close()


def test_member_names_with_dot_slash(tmp_path: Path) -> None:
    members = docker_archive_members([(image("one"), ["a:1"])])
    path = write_tar(tmp_path / "dots.tar", {f"./{name}": data for name, data in members.items()})
    archive = DockerArchive(path)
    try:
        entry = archive.select("a:1")
        assert archive.read(entry["Config"], 1 << 20) == image("one").config
    finally:
        archive.close()


def test_missing_member(archive: DockerArchive) -> None:
    with pytest.raises(NotFoundError, match="missing"):
        archive.open("nope/layer.tar")


def test_read_limit(archive: DockerArchive) -> None:
    with pytest.raises(UntrustedDataError, match="larger than"):
        archive.read("manifest.json", 10)


@pytest.mark.parametrize(
    ("members", "error", "message"),
    [
        ({}, NotFoundError, "manifest.json"),
        ({"manifest.json": b"{"}, UntrustedDataError, "not JSON"),
        ({"manifest.json": b"{}"}, UntrustedDataError, "no images"),
        ({"manifest.json": b"[]"}, UntrustedDataError, "no images"),
    ],
)
def test_bad_manifest(
    tmp_path: Path, members: dict[str, bytes], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        DockerArchive(write_tar(tmp_path / "bad.tar", members))


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "junk.tar"
    path.write_bytes(b"\x01" * 4096)
    with pytest.raises(UsageError, match="not a readable docker archive"):
        DockerArchive(path)
    with pytest.raises(UsageError):
        DockerArchive(tmp_path / "missing.tar")


def test_truncated_archive(tmp_path: Path) -> None:
    path = write_docker_archive(tmp_path / "t.tar", [(image("one"), ["a:1"])])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # inside a layer member
    with pytest.raises(UntrustedDataError, match="corrupt archive"):
        DockerArchive(path)
