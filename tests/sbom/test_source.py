"""Image sources: ``oci:``, ``docker-archive:``, ``dir:`` and a real registry."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealyard.errors import (
    AuthenticationError,
    DigestMismatchError,
    NotFoundError,
    UntrustedDataError,
    UsageError,
)
from sealyard.registry.app import Registry
from sealyard.sbom.model import LayerInfo, Sbom
from sealyard.sbom.scan import scan_image
from sealyard.sbom.source import ImageSource, Member, open_source
from sealyard.sbom.walker import walk_image
from tests.conftest import need
from tests.fixtures.docker_archive import (
    Variant,
    docker_archive_members,
    write_docker_archive,
    write_tar,
)
from tests.fixtures.images import (
    FileEntry,
    Image,
    Index,
    build_image,
    build_index,
    build_layer,
    write_oci_layout,
)
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer
from tests.sbom.test_walker import PkgCataloger, pkg


def arch_image(arch: str, variant: str | None = None) -> Image:
    """Two layers: a per-architecture base and a shared top layer."""
    base = build_layer([pkg("etc/arch.pkg", f"arch-{arch}", "1"), FileEntry("etc/x", b"")])
    top = build_layer([pkg("app/app.pkg", "app", "2")])
    return build_image([base, top], architecture=arch, variant=variant)


def multiarch() -> Index:
    return build_index([arch_image("amd64"), arch_image("arm64", "v8")])


def purls(source: ImageSource) -> list[str]:
    with source:
        return [p.purl for p in scan_image(source, [PkgCataloger()]).packages]


def scan(source: ImageSource) -> Sbom:
    with source:
        return scan_image(source, [PkgCataloger()])


AMD64 = ["pkg:generic/app@2", "pkg:generic/arch-amd64@1"]
ARM64 = ["pkg:generic/app@2", "pkg:generic/arch-arm64@1"]


# ---------------------------------------------------------------------------------------- oci:


@pytest.fixture
def oci_dir(tmp_path: Path) -> Path:
    return write_oci_layout(tmp_path / "layout", {"amd": arch_image("amd64"), "multi": multiarch()})


def test_oci_by_tag(oci_dir: Path) -> None:
    source = open_source(f"oci:{oci_dir}:amd")
    image = arch_image("amd64")
    assert source.info.reference == f"oci:{oci_dir}:amd"
    assert source.info.manifest_digest == image.digest
    assert source.info.config_digest == image.config_digest
    assert source.info.platform == "linux/amd64"
    assert [x.digest for x in source.info.layers] == [x.digest for x in image.layers]
    assert [x.diff_id for x in source.info.layers] == [x.diff_id for x in image.layers]
    assert purls(source) == AMD64


def test_oci_by_digest(oci_dir: Path) -> None:
    image = arch_image("arm64", "v8")  # a child of the index, not itself in index.json
    source = open_source(f"oci:{oci_dir}@{image.digest}", platform="linux/amd64")
    assert source.info.manifest_digest == image.digest
    assert purls(source) == ARM64


def test_oci_by_digest_of_an_index_selects_the_platform(oci_dir: Path) -> None:
    source = open_source(f"oci:{oci_dir}@{multiarch().digest}", platform="linux/arm64")
    assert purls(source) == ARM64


def test_oci_single_image_needs_no_tag(tmp_path: Path) -> None:
    path = write_oci_layout(tmp_path / "single", {"only": arch_image("amd64")})
    source = open_source(f"oci:{path}")
    assert source.info.reference == f"oci:{path}"
    assert purls(source) == AMD64


def test_oci_several_images_need_a_tag(oci_dir: Path) -> None:
    with pytest.raises(UsageError, match="amd, multi"):
        open_source(f"oci:{oci_dir}")


def test_oci_unknown_tag(oci_dir: Path) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        open_source(f"oci:{oci_dir}:nope")


def test_oci_missing_path() -> None:
    with pytest.raises(UsageError, match="does not exist"):
        open_source("oci:/nonexistent/sealyard/layout:tag")


def test_oci_path_that_is_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not an OCI image layout"):
        open_source(f"oci:{tmp_path}")


def test_oci_path_with_colons(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()  # a shorter prefix that exists must not win
    path = write_oci_layout(tmp_path / "a:b", {"v1": arch_image("amd64")})
    assert purls(open_source(f"oci:{path}:v1")) == AMD64
    assert purls(open_source(f"oci:{path}")) == AMD64


@pytest.mark.parametrize(
    ("platform", "expected", "arch"),
    [
        ("linux/amd64", AMD64, "amd64"),
        ("linux/x86_64", AMD64, "amd64"),
        ("linux/arm64", ARM64, "arm64"),
        ("linux/arm64/v8", ARM64, "arm64"),
        ("linux/aarch64", ARM64, "arm64"),
    ],
)
def test_multiplatform_index_platform_selection(
    oci_dir: Path, platform: str, expected: list[str], arch: str
) -> None:
    source = open_source(f"oci:{oci_dir}:multi", platform=platform)
    chosen = next(i for i in multiarch().images if i.platform["architecture"] == arch)
    assert source.info.manifest_digest == chosen.digest
    assert source.info.layers[0].digest == chosen.layers[0].digest
    assert source.info.platform.startswith(f"linux/{arch}")
    assert purls(source) == expected


def test_multiplatform_layers_differ_per_platform(oci_dir: Path) -> None:
    amd = open_source(f"oci:{oci_dir}:multi", platform="linux/amd64")
    arm = open_source(f"oci:{oci_dir}:multi", platform="linux/arm64")
    assert amd.info.layers[0].digest != arm.info.layers[0].digest
    assert amd.info.layers[1].digest == arm.info.layers[1].digest


@pytest.mark.parametrize("platform", ["linux/s390x", "windows/amd64", "linux/arm64/v7"])
def test_unknown_platform_lists_the_available_ones(oci_dir: Path, platform: str) -> None:
    with pytest.raises(UsageError, match=r"available: linux/amd64, linux/arm64/v8"):
        open_source(f"oci:{oci_dir}:multi", platform=platform)


def test_malformed_platform(oci_dir: Path) -> None:
    with pytest.raises(UsageError, match="os/arch"):
        open_source(f"oci:{oci_dir}:multi", platform="linux")


def test_oci_missing_layer_blob(tmp_path: Path) -> None:
    image = arch_image("amd64")
    path = write_oci_layout(tmp_path / "layout", {"t": image})
    (path / "blobs" / "sha256" / image.layers[1].digest.split(":")[1]).unlink()
    with pytest.raises(NotFoundError, match="missing"):
        scan(open_source(f"oci:{path}:t"))


# ------------------------------------------------------------------------------ docker-archive:


def two_images() -> list[tuple[Image, list[str]]]:
    return [(arch_image("amd64"), ["app:amd", "app:latest"]), (arch_image("arm64"), ["app:arm"])]


@pytest.mark.parametrize("variant", ["legacy", "oci"])
def test_docker_archive_select_by_repo_tag_and_index(tmp_path: Path, variant: Variant) -> None:
    archive = write_docker_archive(tmp_path / "img.tar", two_images(), variant)
    assert purls(open_source(f"docker-archive:{archive}:app:amd")) == AMD64
    assert purls(open_source(f"docker-archive:{archive}:app:latest")) == AMD64
    assert purls(open_source(f"docker-archive:{archive}:app:arm")) == ARM64
    assert purls(open_source(f"docker-archive:{archive}:@0")) == AMD64
    assert purls(open_source(f"docker-archive:{archive}:@1")) == ARM64
    with pytest.raises(UsageError, match="several images"):
        open_source(f"docker-archive:{archive}")
    with pytest.raises(NotFoundError):
        open_source(f"docker-archive:{archive}:app:missing")
    with pytest.raises(NotFoundError):
        open_source(f"docker-archive:{archive}:@2")


@pytest.mark.parametrize("variant", ["legacy", "oci"])
def test_docker_archive_single_image_info(tmp_path: Path, variant: Variant) -> None:
    image = arch_image("arm64")
    archive = write_docker_archive(tmp_path / "one.tar", [(image, ["x:1"])], variant)
    source = open_source(f"docker-archive:{archive}")
    assert source.info.config_digest == image.config_digest
    assert source.info.platform == "linux/arm64"
    assert [x.diff_id for x in source.info.layers] == [x.diff_id for x in image.layers]
    assert purls(source) == ARM64


@pytest.mark.parametrize("variant", ["legacy", "oci"])
def test_docker_archive_layer_digest_is_checked(tmp_path: Path, variant: Variant) -> None:
    image = arch_image("amd64")
    members = docker_archive_members([(image, ["x:1"])], variant)
    first_layer = json.loads(members["manifest.json"])[0]["Layers"][0]
    members[first_layer] = build_layer([pkg("evil.pkg", "evil")], "none").data
    archive = write_tar(tmp_path / "tampered.tar", members)
    with pytest.raises(DigestMismatchError):
        scan(open_source(f"docker-archive:{archive}"))


def test_docker_archive_layer_count_must_match_the_config(tmp_path: Path) -> None:
    image = arch_image("amd64")
    members = docker_archive_members([(image, ["x:1"])])
    manifest = json.loads(members["manifest.json"])
    del manifest[0]["Layers"][0]
    members["manifest.json"] = json.dumps(manifest).encode()
    with pytest.raises(UntrustedDataError, match="layers"):
        open_source(f"docker-archive:{write_tar(tmp_path / 'bad.tar', members)}")


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ({"manifest.json": b"not json"}, UntrustedDataError),
        ({"manifest.json": b"[]"}, UntrustedDataError),
        ({"other": b""}, NotFoundError),
    ],
)
def test_docker_archive_bad_manifest(
    tmp_path: Path, members: dict[str, bytes], error: type[Exception]
) -> None:
    with pytest.raises(error):
        open_source(f"docker-archive:{write_tar(tmp_path / 'bad.tar', members)}")


def test_docker_archive_that_is_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    path.write_bytes(b"garbage" * 200)
    with pytest.raises(UsageError):
        open_source(f"docker-archive:{path}")


# ----------------------------------------------------------------------------------------- dir:


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "usr/lib").mkdir(parents=True)
    (root / "etc").mkdir()
    (root / "usr/lib/os-release").write_bytes(b"ID=alpine\nVERSION_ID=3.20.0\n")
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    (root / "usr/lib/a.pkg").write_bytes(b"a 1")
    (root / "lib").symlink_to("usr/lib")
    (root / "link.pkg").symlink_to("/usr/lib/a.pkg")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pkg").write_bytes(b"secret 1")
    (root / "escape").symlink_to(outside)
    (root / "escape.pkg").symlink_to(outside / "secret.pkg")
    return root


def test_dir_source_reads_files_and_never_follows_symlinks(rootfs: Path) -> None:
    source = open_source(f"dir:{rootfs}")
    assert source.info.reference == f"dir:{rootfs}"
    with source:
        walk = walk_image(source, [PkgCataloger()])
    assert {p: e.data for p, e in walk.files.items()} == {"usr/lib/a.pkg": b"a 1"}
    assert walk.symlinks == {
        "escape": (str(rootfs.parent / "outside"), 0),
        "escape.pkg": (str(rootfs.parent / "outside" / "secret.pkg"), 0),
        "etc/os-release": ("../usr/lib/os-release", 0),
        "lib": ("usr/lib", 0),
        "link.pkg": ("/usr/lib/a.pkg", 0),
    }
    record = walk.lookup("link.pkg")
    assert record is not None
    assert record.data == b"a 1"
    assert walk.lookup("escape.pkg") is None  # resolved inside the root, where it is absent


def test_dir_source_scan_with_distro_through_symlink(rootfs: Path) -> None:
    sbom = scan(open_source(f"dir:{rootfs}"))
    assert [p.purl for p in sbom.packages] == ["pkg:generic/a@1"]
    assert sbom.distro is not None
    assert (sbom.distro.id, sbom.distro.version_id) == ("alpine", "3.20.0")
    assert sbom.warnings == ()


def test_dir_source_special_files(rootfs: Path) -> None:
    os.mkfifo(rootfs / "pipe.pkg")
    os.mkfifo(rootfs / "pipe")
    sbom = scan(open_source(f"dir:{rootfs}"))  # must not block on the fifos
    assert [(w.kind, w.path) for w in sbom.warnings] == [("special-file", "pipe.pkg")]
    assert [p.purl for p in sbom.packages] == ["pkg:generic/a@1"]


class _SwapBeforeRead(ImageSource):
    """Replaces ``victim`` by a symlink after the source listed it, before it is read."""

    def __init__(self, inner: ImageSource, root: Path, victim: str) -> None:
        self.inner, self.root, self.victim = inner, root, victim
        self.info = inner.info

    def iter_layers(self) -> Iterator[tuple[LayerInfo, Iterator[Member]]]:
        for info, members in self.inner.iter_layers():
            yield info, self._swap(members)

    def _swap(self, members: Iterator[Member]) -> Iterator[Member]:
        for member in members:
            if not isinstance(member, str) and member.path == self.victim:
                (self.root / self.victim).unlink()
                (self.root / self.victim).symlink_to("/etc/hostname")
            yield member


def test_dir_source_unreadable_file_is_a_warning_and_the_walk_goes_on(rootfs: Path) -> None:
    (rootfs / "usr/lib/0first.pkg").write_bytes(b"first 1")
    (rootfs / "usr/lib/z.pkg").write_bytes(b"z 1")
    source = _SwapBeforeRead(open_source(f"dir:{rootfs}"), rootfs, "usr/lib/0first.pkg")
    sbom = scan_image(source, [PkgCataloger()])
    assert [p.purl for p in sbom.packages] == ["pkg:generic/a@1", "pkg:generic/z@1"]
    assert [(w.kind, w.path) for w in sbom.warnings] == [("unreadable", "usr/lib/0first.pkg")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_dir_source_unreadable_by_permissions(rootfs: Path) -> None:
    (rootfs / "usr/lib/locked.pkg").write_bytes(b"locked 1")
    (rootfs / "usr/lib/locked.pkg").chmod(0)
    sbom = scan(open_source(f"dir:{rootfs}"))
    assert [p.purl for p in sbom.packages] == ["pkg:generic/a@1"]
    assert [(w.kind, w.path) for w in sbom.warnings] == [("unreadable", "usr/lib/locked.pkg")]


def test_dir_source_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        open_source(f"dir:{tmp_path / 'missing'}")


# ------------------------------------------------------------------------------------- registry


def skopeo_copy(src: str, dest: str, *extra: str) -> None:
    cmd = [
        need("skopeo"),
        "--insecure-policy",
        "copy",
        *extra,
        "--dest-tls-verify=false",
        "--dest-creds",
        f"admin:{ADMIN_PASSWORD}",
        src,
        dest,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def pushed(
    server: SealyardServer, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """``HOST/PROJECT/app`` holding ``:amd`` (one image) and ``:multi`` (an index)."""
    project = f"scan{os.getpid()}"
    registry.accounts.create_project(project)
    tmp = tmp_path_factory.mktemp("push")
    path = write_oci_layout(tmp / "layout", {"amd": arch_image("amd64"), "multi": multiarch()})
    repo = f"{server.host}/{project}/app"
    skopeo_copy(f"oci:{path}:amd", f"docker://{repo}:amd")
    skopeo_copy(f"oci:{path}:multi", f"docker://{repo}:multi", "--all")
    return repo


ADMIN = ("admin", ADMIN_PASSWORD)


@pytest.mark.integration
def test_registry_scan_of_a_single_image(pushed: str) -> None:
    source = open_source(f"{pushed}:amd", credentials=ADMIN)
    assert source.info.manifest_digest == arch_image("amd64").digest
    assert purls(source) == AMD64
    assert purls(open_source(f"docker://{pushed}:amd", credentials=ADMIN)) == AMD64


@pytest.mark.integration
def test_registry_platform_selection(pushed: str) -> None:
    arm = open_source(f"{pushed}:multi", platform="linux/arm64", credentials=ADMIN)
    assert arm.info.manifest_digest == arch_image("arm64", "v8").digest
    assert purls(arm) == ARM64
    amd = open_source(f"{pushed}:multi", platform="linux/amd64", credentials=ADMIN)
    assert purls(amd) == AMD64
    with pytest.raises(UsageError, match="available: linux/amd64, linux/arm64/v8"):
        open_source(f"{pushed}:multi", platform="linux/riscv64", credentials=ADMIN)


@pytest.mark.integration
def test_registry_by_digest(pushed: str) -> None:
    digest = arch_image("arm64", "v8").digest
    source = open_source(f"{pushed}@{digest}", credentials=ADMIN)
    assert purls(source) == ARM64
    index = multiarch().digest
    assert purls(open_source(f"{pushed}@{index}", platform="linux/amd64", credentials=ADMIN)) == (
        AMD64
    )


@pytest.mark.integration
def test_registry_wrong_credentials(pushed: str) -> None:
    with pytest.raises(AuthenticationError):
        open_source(f"{pushed}:amd", credentials=("admin", "wrong-password"))


@pytest.mark.integration
def test_registry_missing_tag(pushed: str) -> None:
    with pytest.raises(NotFoundError):
        open_source(f"{pushed}:no-such-tag", credentials=ADMIN)
