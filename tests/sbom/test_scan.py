"""``scan_image`` end to end over OCI layouts built by code, with test catalogers."""

from __future__ import annotations

import dataclasses
import gzip
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from sealyard.errors import DigestMismatchError
from sealyard.sbom.catalogers.interface import Cataloger, CatalogResult, ImageFiles
from sealyard.sbom.model import Distro, LayerInfo, Location, Package, Sbom
from sealyard.sbom.scan import scan_image
from sealyard.sbom.source import open_source
from tests.fixtures.images import (
    OS_RELEASE,
    FileEntry,
    Layer,
    build_image,
    build_layer,
    build_tar,
    random_layer,
    sample_multilayer_image,
    sha256_digest,
    write_oci_layout,
)
from tests.sbom.test_walker import PkgCataloger, pkg


class BoomCataloger(PkgCataloger):
    name = "boom"

    def catalog(self, image: ImageFiles) -> CatalogResult:
        raise ValueError("cannot parse")


class OwnerCataloger(Cataloger):
    """Pretends to be an OS package manager: ``owned.list`` names the files it owns."""

    name = "dpkg"

    def wants(self, path: str) -> bool:
        return path == "var/owned.list"

    def catalog(self, image: ImageFiles) -> CatalogResult:
        (record,) = image.files
        assert record.data is not None
        owned = set(record.data.decode().split())
        package = Package(
            "base-files", "12", "deb", "pkg:deb/debian/base-files@12", self.name,
            (Location(record.path, record.layer),),
        )  # fmt: skip
        return CatalogResult(packages=[package], owned_files=owned)


def layout(tmp_path: Path, *layers: Sequence[FileEntry], compression: str = "gzip") -> Path:
    image = build_image([build_layer(entries, compression) for entries in layers])
    return write_oci_layout(tmp_path / "layout", {"t": image})


def scan(path: Path, catalogers: Sequence[Cataloger] | None = None) -> Sbom:
    with open_source(f"oci:{path}:t") as source:
        return scan_image(source, [PkgCataloger()] if catalogers is None else catalogers)


def summary(sbom: Sbom) -> list[tuple[str, int | None, int | None, list[int]]]:
    return [(p.purl, p.layer, p.introduced_layer, p.metadata["history"]) for p in sbom.packages]


def test_packages_carry_current_and_introducing_layer(tmp_path: Path) -> None:
    path = layout(
        tmp_path,
        [pkg("a.pkg", "a", "1"), pkg("b.pkg", "b", "1"), pkg("c.pkg", "c", "1")],
        [pkg("a.pkg", "a", "2"), FileEntry("b.pkg", type="whiteout")],
        [pkg("b.pkg", "b", "2"), FileEntry("c.pkg", type="symlink", linkname="a.pkg")],
    )
    sbom = scan(path)
    assert summary(sbom) == [
        ("pkg:generic/a@2", 1, 0, [0]),
        ("pkg:generic/b@2", 2, 2, []),
    ]
    assert sbom.packages[0].found_by == "pkgfile"
    assert sbom.packages[0].locations == (Location("a.pkg", 1),)
    assert sbom.warnings == ()
    assert sbom.distro is None
    assert [layer.index for layer in sbom.image.layers] == [0, 1, 2]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_every_layer_compression_scans_the_same(tmp_path: Path, compression: str) -> None:
    path = layout(tmp_path, [pkg("x.pkg", "x")], [pkg("y.pkg", "y")], compression=compression)
    assert [p.purl for p in scan(path).packages] == ["pkg:generic/x@1.0", "pkg:generic/y@1.0"]


def test_failing_cataloger_is_a_warning_and_the_others_still_run(tmp_path: Path) -> None:
    path = layout(tmp_path, [pkg("a.pkg", "a")])
    sbom = scan(path, [BoomCataloger(), PkgCataloger()])
    assert [p.purl for p in sbom.packages] == ["pkg:generic/a@1.0"]
    (warning,) = sbom.warnings
    assert (warning.kind, warning.source) == ("cataloger-failed", "boom")
    assert "ValueError: cannot parse" in warning.message


def test_cataloger_without_files_is_not_called(tmp_path: Path) -> None:
    sbom = scan(layout(tmp_path, [FileEntry("nothing.txt", b"")]), [BoomCataloger()])
    assert sbom.packages == ()
    assert sbom.warnings == ()


def test_member_too_large_is_reported(tmp_path: Path) -> None:
    sbom = scan(layout(tmp_path, [FileEntry("huge.pkg", b"h " + b"9" * 5000), pkg("ok.pkg", "ok")]))
    assert [p.name for p in sbom.packages] == ["ok"]
    (warning,) = sbom.warnings
    assert (warning.kind, warning.path, warning.layer) == ("member-too-large", "huge.pkg", 0)


def test_language_packages_under_os_owned_files_are_dropped(tmp_path: Path) -> None:
    path = layout(
        tmp_path,
        [
            FileEntry("var/owned.list", b"/usr/lib/owned.pkg\n"),
            pkg("usr/lib/owned.pkg", "owned"),
            pkg("app/mine.pkg", "mine"),
        ],
    )
    sbom = scan(path, [OwnerCataloger(), PkgCataloger()])
    assert [p.purl for p in sbom.packages] == [
        "pkg:deb/debian/base-files@12",
        "pkg:generic/mine@1.0",
    ]


def test_duplicate_reports_are_merged(tmp_path: Path) -> None:
    class Twin(PkgCataloger):
        name = "twin"

    sbom = scan(layout(tmp_path, [pkg("a.pkg", "a")]), [PkgCataloger(), Twin()])
    assert [(p.purl, p.found_by) for p in sbom.packages] == [("pkg:generic/a@1.0", "pkgfile")]


def _tamper_layer(path: Path, digest: str, new: bytes) -> None:
    blob = path / "blobs" / "sha256" / digest.split(":")[1]
    blob.write_bytes(new)


@pytest.mark.parametrize("how", ["other-layer", "flipped-byte", "truncated", "appended"])
def test_tampered_layer_blob_fails_the_scan(tmp_path: Path, how: str) -> None:
    layers = [build_layer([pkg(f"f{i}.pkg", f"f{i}")]) for i in range(2)]
    image = build_image(layers)
    path = write_oci_layout(tmp_path / "layout", {"t": image})
    original = layers[1].data
    new = {
        "other-layer": build_layer([pkg("evil.pkg", "evil")]).data,
        "flipped-byte": original[:20] + bytes([original[20] ^ 0xFF]) + original[21:],
        "truncated": original[: len(original) - 12],
        "appended": original + b"\0" * 10,
    }[how]
    _tamper_layer(path, layers[1].digest, new)
    with pytest.raises(DigestMismatchError):
        scan(path)


def test_tampered_large_layer_is_a_digest_mismatch_not_an_unreadable_layer(
    tmp_path: Path,
) -> None:
    """Corruption noticed by the decompressor long before the end of the blob is reported as
    what it is: the blob does not match its digest."""
    big = random_layer(3 << 20, seed=1)
    image = build_image([build_layer([pkg("a.pkg", "a")]), big])
    path = write_oci_layout(tmp_path / "layout", {"t": image})
    _tamper_layer(path, big.digest, big.data[:3] + b"\xff" + big.data[4:])  # gzip header flags
    with pytest.raises(DigestMismatchError):
        scan(path)


class BinCataloger(PkgCataloger):
    name = "bin"
    max_file_size = 64 << 20

    def wants(self, path: str) -> bool:
        return path.endswith(".bin")

    def catalog(self, image: ImageFiles) -> CatalogResult:
        return CatalogResult()


def test_tampered_layer_noticed_while_a_member_is_read_is_a_digest_mismatch(
    tmp_path: Path,
) -> None:
    """The first gzip member ends inside ``big.bin``: its CRC fails while the walker reads that
    file, megabytes before the end of the blob."""
    rng = random.Random(5)
    tar = build_tar(
        [FileEntry("big.bin", rng.randbytes(4 << 20)), FileEntry("t", rng.randbytes(3 << 20))]
    )
    first = gzip.compress(tar[: 5 << 19], compresslevel=0, mtime=0)
    blob = first + gzip.compress(tar[5 << 19 :], compresslevel=0, mtime=0)
    layer = Layer(blob, sha256_digest(blob), sha256_digest(tar), len(blob), "", "gzip")
    path = write_oci_layout(tmp_path / "layout", {"t": build_image([layer])})
    tampered = bytearray(blob)
    tampered[len(first) - 6] ^= 0x55  # the first member's CRC
    _tamper_layer(path, layer.digest, bytes(tampered))
    with pytest.raises(DigestMismatchError):
        scan(path, [BinCataloger()])


def test_corrupt_layer_with_the_right_digest_is_only_a_warning(tmp_path: Path) -> None:
    corrupt = b"\x1f\x8b\x08\xff" + b"\0" * 100  # not a valid gzip stream
    layer = Layer(corrupt, sha256_digest(corrupt), sha256_digest(b""), len(corrupt), "", "gzip")
    image = build_image([layer, build_layer([pkg("b.pkg", "b")])])
    sbom = scan(write_oci_layout(tmp_path / "layout", {"t": image}))
    assert [p.name for p in sbom.packages] == ["b"]
    assert [(w.kind, w.layer) for w in sbom.warnings] == [("layer-unreadable", 0)]


def test_tampered_config_fails_when_opening(tmp_path: Path) -> None:
    image = build_image([build_layer([pkg("a.pkg", "a")])])
    path = write_oci_layout(tmp_path / "layout", {"t": image})
    _tamper_layer(path, image.config_digest, image.config.replace(b"amd64", b"arm64"))
    with pytest.raises(DigestMismatchError):
        open_source(f"oci:{path}:t")


def test_distro_from_etc_os_release(tmp_path: Path) -> None:
    sbom = scan(layout(tmp_path, [FileEntry("etc/os-release", OS_RELEASE)]))
    assert sbom.distro is not None
    assert (sbom.distro.id, sbom.distro.version_id, sbom.distro.version_codename) == (
        "debian",
        "12",
        "bookworm",
    )


def test_distro_through_an_os_release_symlink(tmp_path: Path) -> None:
    path = layout(
        tmp_path,
        [
            FileEntry("usr/lib/os-release", b"ID=alpine\nVERSION_ID=3.20.1\n"),
            FileEntry("etc/os-release", type="symlink", linkname="../usr/lib/os-release"),
        ],
    )
    assert scan(path).distro == Distro(id="alpine", version_id="3.20.1")


def test_distro_through_an_absolute_symlink_and_a_directory_symlink(tmp_path: Path) -> None:
    path = layout(
        tmp_path,
        [
            FileEntry("usr/lib/os-release", b"ID=fedora\nVERSION_ID=40\n"),
            FileEntry("lib", type="symlink", linkname="usr/lib"),
        ],
        [FileEntry("etc/os-release", type="symlink", linkname="/lib/os-release")],
    )
    distro = scan(path).distro
    assert distro is not None
    assert (distro.id, distro.version_id) == ("fedora", "40")


def test_whited_out_os_release_falls_back_to_usr_lib(tmp_path: Path) -> None:
    path = layout(
        tmp_path,
        [
            FileEntry("etc/os-release", b"ID=old\n"),
            FileEntry("usr/lib/os-release", b"ID=new\n"),
        ],
        [FileEntry("etc/os-release", type="whiteout")],
    )
    distro = scan(path).distro
    assert distro is not None
    assert distro.id == "new"


def test_distro_of_the_sample_image(tmp_path: Path) -> None:
    path = write_oci_layout(tmp_path / "layout", {"t": sample_multilayer_image()})
    distro = scan(path).distro
    assert distro is not None
    assert (distro.id, distro.version_id) == ("debian", "12")


def test_output_is_sorted_and_deterministic(tmp_path: Path) -> None:
    first = [pkg(f"{c}.pkg", c, "1") for c in "zyx"] + [FileEntry("big1.pkg", b"9" * 2000)]
    second = [pkg("b.pkg", "b", "2"), pkg("a.pkg", "a", "3"), FileEntry("big0.pkg", b"8" * 2000)]
    path = layout(tmp_path, first, second)
    one, two = (
        scan(path, [BoomCataloger(), PkgCataloger()]),
        scan(path, [PkgCataloger(), BoomCataloger()]),
    )
    assert [p.name for p in one.packages] == ["a", "b", "x", "y", "z"]
    assert dataclasses.replace(one, created="") == dataclasses.replace(two, created="")
    assert [(w.layer, w.kind, w.path) for w in one.warnings] == [
        (None, "cataloger-failed", ""),
        (0, "member-too-large", "big1.pkg"),
        (1, "member-too-large", "big0.pkg"),
    ]


def test_progress_callback_sees_every_layer(tmp_path: Path) -> None:
    path = layout(tmp_path, [pkg("a.pkg", "a")], [FileEntry("d", type="dir")])
    seen: list[tuple[int, int]] = []

    def progress(layer: LayerInfo, members: int) -> None:
        seen.append((layer.index, members))

    with open_source(f"oci:{path}:t") as source:
        scan_image(source, [PkgCataloger()], progress=progress)
    assert seen == [(0, 1), (1, 1)]
