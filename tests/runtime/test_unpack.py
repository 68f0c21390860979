"""Unpacking image layers into a root filesystem: overlay semantics and hostile members."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from sealyard.config import Limits
from sealyard.errors import DigestMismatchError, SizeLimitError, UsageError
from sealyard.runtime.unpack import (
    IdMap,
    UnpackReport,
    find_command,
    image_config,
    open_pinned,
    read_in_root,
    unpack_image,
)
from sealyard.sbom.source import open_source
from tests.fixtures.docker_archive import write_docker_archive
from tests.fixtures.images import (
    OCI_LAYER,
    FileEntry,
    Image,
    Layer,
    build_image,
    build_layer,
    compress,
    raw_member,
    sample_multilayer_image,
    sha256_digest,
    write_oci_layout,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to mapped ids needs root")


def _unpack(
    tmp_path: Path,
    image: Image,
    *,
    ids: IdMap | None = None,
    **kwargs: object,
) -> tuple[Path, UnpackReport]:
    layout = write_oci_layout(tmp_path / "layout", {"t": image})
    rootfs = tmp_path / "rootfs"
    with open_source(f"oci:{layout}:t") as source:
        report = unpack_image(source, rootfs, ids=ids, **kwargs)  # type: ignore[arg-type]
    return rootfs, report


def _layers(*entries: Sequence[FileEntry]) -> Image:
    return build_image([build_layer(list(e)) for e in entries])


def _raw_layer(members: Sequence[tuple[tarfile.TarInfo, bytes]]) -> Layer:
    """A layer of hand-made tar headers (device nodes, FIFOs) that FileEntry cannot express."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    raw = buf.getvalue()
    blob = compress(raw, "gzip")
    return Layer(
        blob, sha256_digest(blob), sha256_digest(raw), len(blob), OCI_LAYER["gzip"], "gzip"
    )


def _info(name: str, kind: bytes, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.devmajor, info.devminor = kind, mode, 1, 3
    return info


# ------------------------------------------------------------------------ overlay semantics


def test_sample_image_applies_whiteouts_opaque_dirs_links(tmp_path: Path) -> None:
    rootfs, report = _unpack(tmp_path, sample_multilayer_image())
    assert report.layers == 3
    assert not (rootfs / "tmp/scratch.txt").exists()
    assert not (rootfs / "app/cache/old.bin").exists()
    assert (rootfs / "app/cache/new.bin").read_bytes() == b"fresh"
    assert (rootfs / "app/main.py").read_bytes().startswith(b"print")
    assert os.readlink(rootfs / "usr/bin/env") == "../../bin/sh"
    assert os.stat(rootfs / "bin/busybox").st_ino == os.stat(rootfs / "bin/sh").st_ino
    assert stat.S_IMODE(os.stat(rootfs / "app/main.py").st_mode) == 0o755
    assert not list(rootfs.glob("**/.wh.*"))


def test_whiteouts_spare_what_the_same_layer_adds(tmp_path: Path) -> None:
    lower = [
        FileEntry("d", type="dir"),
        FileEntry("d/old", b"old"),
        FileEntry("d/sub", type="dir"),
        FileEntry("d/sub/old2", b"old2"),
        FileEntry("gone", b"x"),
        FileEntry("kept", b"lower"),
    ]
    upper = [
        FileEntry("d/new", b"new"),
        FileEntry("d/sub/new2", b"new2"),  # no entry for d/sub itself
        FileEntry("d", type="opaque"),  # after the new entries: must not remove them
        FileEntry("gone", type="whiteout"),
        FileEntry("kept", b"upper"),
        FileEntry("kept", type="whiteout"),  # same layer: does not hide its own entry
        FileEntry("never-existed", type="whiteout"),
    ]
    rootfs, _ = _unpack(tmp_path, _layers(lower, upper))
    assert sorted(p.name for p in (rootfs / "d").iterdir()) == ["new", "sub"]
    assert sorted(p.name for p in (rootfs / "d/sub").iterdir()) == ["new2"]
    assert not (rootfs / "gone").exists()
    assert (rootfs / "kept").read_bytes() == b"upper"


def test_replacing_types_across_layers(tmp_path: Path) -> None:
    lower = [
        FileEntry("a", type="dir"),
        FileEntry("a/inside", b"1"),
        FileEntry("b", b"file"),
        FileEntry("c", type="symlink", linkname="b"),
    ]
    upper = [
        FileEntry("a", b"now a file"),
        FileEntry("b", type="dir"),
        FileEntry("b/x", b"2"),
        FileEntry("c", b"no longer a link"),
    ]
    rootfs, _ = _unpack(tmp_path, _layers(lower, upper))
    assert (rootfs / "a").read_bytes() == b"now a file"
    assert (rootfs / "b/x").read_bytes() == b"2"
    assert not (rootfs / "c").is_symlink()
    assert (rootfs / "c").read_bytes() == b"no longer a link"


def test_opaque_root_directory(tmp_path: Path) -> None:
    lower = [FileEntry("old", b"1"), FileEntry("dir", type="dir"), FileEntry("dir/f", b"2")]
    upper = [FileEntry("new", b"3"), raw_member(".wh..wh..opq")]
    rootfs, _ = _unpack(tmp_path, _layers(lower, upper))
    assert sorted(p.name for p in rootfs.iterdir()) == ["new"]


# ------------------------------------------------------------------------ hostile members


def test_climbing_and_absolute_member_names(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    layer = [
        raw_member("../victim", b"pwned"),
        raw_member("../../../../../../tmp/sealyard-escape-test", b"pwned"),
        raw_member("/abs.txt", b"absolute"),
        raw_member("./a/../b.txt", b"normalised"),
    ]
    rootfs, report = _unpack(tmp_path, _layers(layer))
    assert not victim.exists()
    assert not Path("/tmp/sealyard-escape-test").exists()
    assert (rootfs / "abs.txt").read_bytes() == b"absolute"
    assert (rootfs / "b.txt").read_bytes() == b"normalised"
    assert sum("climbs out" in w for w in report.warnings) == 2
    assert any("absolute member name" in w for w in report.warnings)


def test_writing_through_an_escaping_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    escape = "../" * 8 + str(outside).lstrip("/")
    lower = [FileEntry("esc", type="symlink", linkname=escape)]
    upper = [
        FileEntry("esc/pwned", b"pwned"),
        FileEntry("esc", type="dir"),  # replaces the link itself, never follows it
    ]
    rootfs, report = _unpack(tmp_path, _layers(lower, upper))
    assert list(outside.iterdir()) == []
    assert any("resolves outside the root" in w for w in report.warnings)
    assert (rootfs / "esc").is_dir()
    assert not (rootfs / "esc").is_symlink()


def test_absolute_symlinks_resolve_inside_the_rootfs(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = [
        FileEntry("etc", type="dir"),
        FileEntry("abs", type="symlink", linkname=str(outside)),
        FileEntry("etcl", type="symlink", linkname="/etc"),
        FileEntry("abs/file", b"in the rootfs"),
        FileEntry("etcl/conf", b"conf"),
    ]
    rootfs, _ = _unpack(tmp_path, _layers(layer))
    assert list(outside.iterdir()) == []
    assert (rootfs / str(outside).lstrip("/") / "file").read_bytes() == b"in the rootfs"
    assert (rootfs / "etc/conf").read_bytes() == b"conf"
    assert os.readlink(rootfs / "abs") == str(outside)  # created as-is


def test_a_file_over_a_symlink_replaces_the_link(tmp_path: Path) -> None:
    target = tmp_path / "host-file"
    target.write_bytes(b"host content")
    lower = [FileEntry("link", type="symlink", linkname=str(target))]
    upper = [FileEntry("link", b"image content", mode=0o600)]
    rootfs, _ = _unpack(tmp_path, _layers(lower, upper))
    assert target.read_bytes() == b"host content"
    assert not (rootfs / "link").is_symlink()
    assert (rootfs / "link").read_bytes() == b"image content"


def test_symlink_loops_are_refused(tmp_path: Path) -> None:
    layer = [
        FileEntry("loop1", type="symlink", linkname="loop2"),
        FileEntry("loop2", type="symlink", linkname="loop1"),
        FileEntry("loop1/x", b"x"),
    ]
    _, report = _unpack(tmp_path, _layers(layer))
    assert any("too many symbolic links" in w for w in report.warnings)


def test_hardlinks_stay_inside_the_rootfs(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"host secret")
    escape = "../" * 8 + str(tmp_path).lstrip("/")
    layer = [
        FileEntry("esc", type="symlink", linkname=escape),
        FileEntry("real", b"data"),
        FileEntry("dir", type="dir"),
        FileEntry("h-climb", type="hardlink", linkname="../../../../../" + str(secret)),
        FileEntry("h-through-link", type="hardlink", linkname="esc/secret"),
        FileEntry("h-abs", type="hardlink", linkname=str(secret)),
        FileEntry("h-missing", type="hardlink", linkname="nothing"),
        FileEntry("h-dir", type="hardlink", linkname="dir"),
        FileEntry("h-ok", type="hardlink", linkname="/real"),
    ]
    rootfs, report = _unpack(tmp_path, _layers(layer))
    for name in ("h-climb", "h-through-link", "h-abs", "h-missing", "h-dir"):
        assert not (rootfs / name).exists(), name
    assert os.stat(secret).st_nlink == 1
    assert os.stat(rootfs / "h-ok").st_ino == os.stat(rootfs / "real").st_ino
    text = "\n".join(report.warnings)
    assert "points outside the image root" in text
    assert "resolves outside the root" in text
    assert "is a directory" in text
    assert "does not exist" in text


def test_device_nodes_are_skipped_and_fifos_created(tmp_path: Path) -> None:
    layer = _raw_layer(
        [
            (_info("dev", tarfile.DIRTYPE, 0o755), b""),
            (_info("dev/null-ish", tarfile.CHRTYPE), b""),
            (_info("dev/sda-ish", tarfile.BLKTYPE), b""),
            (_info("pipe", tarfile.FIFOTYPE), b""),
        ]
    )
    rootfs, report = _unpack(tmp_path, build_image([layer]))
    assert not (rootfs / "dev/null-ish").exists()
    assert not (rootfs / "dev/sda-ish").exists()
    assert stat.S_ISFIFO(os.lstat(rootfs / "pipe").st_mode)
    assert sum("device node skipped" in w for w in report.warnings) == 2


def test_setuid_bits_are_stripped_unless_kept(tmp_path: Path) -> None:
    layer = [
        FileEntry("su", b"#!", mode=0o4755),
        FileEntry("sg", b"#!", mode=0o2755),
        FileEntry("shared", type="dir", mode=0o2775),
    ]
    rootfs, report = _unpack(tmp_path / "a", _layers(layer))
    assert stat.S_IMODE(os.stat(rootfs / "su").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(rootfs / "sg").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(rootfs / "shared").st_mode) == 0o2775  # dirs keep setgid
    assert sorted(report.stripped_setuid) == ["sg", "su"]
    kept, report = _unpack(tmp_path / "b", _layers(layer), keep_setuid=True)
    assert stat.S_IMODE(os.stat(kept / "su").st_mode) == 0o4755
    assert report.stripped_setuid == []


def test_a_layer_past_the_size_cap_fails(tmp_path: Path) -> None:
    big = [FileEntry("big", b"\0" * (2 << 20))]
    with pytest.raises(SizeLimitError):
        _unpack(tmp_path / "a", _layers(big), limits=Limits(max_layer_uncompressed_bytes=1 << 20))
    many = [[FileEntry(f"f{i}", b"x" * 600)] for i in range(2)]
    with pytest.raises(SizeLimitError, match="unpack limit"):
        _unpack(tmp_path / "b", _layers(*many), max_bytes=1000)
    with pytest.raises(SizeLimitError, match="entries"):
        _unpack(tmp_path / "c", _layers([FileEntry(f"e{i}") for i in range(20)]), max_entries=10)


def test_a_tampered_layer_fails_as_tampering(tmp_path: Path) -> None:
    image = _layers([FileEntry("f", b"original content")])
    layout = write_oci_layout(tmp_path / "layout", {"t": image})
    blob = layout / "blobs/sha256" / image.layers[0].digest.removeprefix("sha256:")
    blob.write_bytes(build_layer([FileEntry("f", b"evil content!!!!")]).data)
    with open_source(f"oci:{layout}:t") as source, pytest.raises(DigestMismatchError):
        unpack_image(source, tmp_path / "rootfs")


def test_diff_ids_must_match_the_layers(tmp_path: Path) -> None:
    layer = build_layer([FileEntry("f", b"x")])
    image = build_image([layer], config_extra={"rootfs": {"type": "layers", "diff_ids": [
        "sha256:" + "0" * 64
    ]}})  # fmt: skip
    with pytest.raises(DigestMismatchError, match="diff_id"):
        _unpack(tmp_path, image)


def test_rootfs_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfs/leftover").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        _unpack(tmp_path, _layers([FileEntry("f", b"x")]))


# ------------------------------------------------------------------------ ownership


@needs_root
def test_ownership_is_mapped_into_the_user_namespace_range(tmp_path: Path) -> None:
    layer = [
        FileEntry("root-file", b"r"),
        FileEntry("home", type="dir"),
        FileEntry("home/app", type="dir", uid=1000, gid=1000),
        FileEntry("home/app/f", b"a", uid=1000, gid=1001),
        FileEntry("home/app/l", type="symlink", linkname="f", uid=1000, gid=1000),
        FileEntry("far", b"x", uid=70000, gid=5),
        FileEntry("implied/parent/file", b"y", uid=7, gid=7),
    ]
    ids = IdMap(200000, 300000, 65536)
    rootfs, report = _unpack(tmp_path, _layers(layer), ids=ids)

    def owner(rel: str) -> tuple[int, int]:
        st = os.lstat(rootfs / rel) if rel else os.stat(rootfs)
        return st.st_uid, st.st_gid

    assert owner("") == (200000, 300000)
    assert owner("root-file") == (200000, 300000)
    assert owner("home/app") == (201000, 301000)
    assert owner("home/app/f") == (201000, 301001)
    assert owner("home/app/l") == (201000, 301000)
    assert owner("far") == (200000 + 65534, 300005)  # each id is mapped on its own
    assert owner("implied") == (200000, 300000)
    assert owner("implied/parent/file") == (200007, 300007)
    assert any("outside the container's id range" in w for w in report.warnings)


@needs_root
def test_without_a_mapping_owners_are_kept(tmp_path: Path) -> None:
    rootfs, _ = _unpack(tmp_path, _layers([FileEntry("f", b"x", uid=1234, gid=4321)]))
    st = os.stat(rootfs / "f")
    assert (st.st_uid, st.st_gid) == (1234, 4321)


def test_id_map_validation() -> None:
    with pytest.raises(UsageError):
        IdMap(-1, 0)
    with pytest.raises(UsageError):
        IdMap(2**32 - 10, 100000, 65536)
    assert IdMap(100000, 100000, 10).host(3, 4) == ((100003, 100004), False)
    assert IdMap(100000, 100000, 10).host(30, 4) == ((100009, 100004), True)


# ------------------------------------------------------------------------ reading and pinning


def test_read_in_root_never_leaves_the_rootfs(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"host secret")
    layer = [
        FileEntry("etc", type="dir"),
        FileEntry("etc/passwd", b"root:x:0:0::/:/bin/sh\n"),
        FileEntry("etc/link", type="symlink", linkname="/etc/passwd"),
        FileEntry("etc/rel", type="symlink", linkname="../etc/./passwd"),
        FileEntry("escape", type="symlink", linkname="../" * 8 + str(secret).lstrip("/")),
        FileEntry("absolute", type="symlink", linkname=str(secret)),
    ]
    rootfs, _ = _unpack(tmp_path, _layers(layer))
    assert read_in_root(rootfs, "/etc/link", 100) == b"root:x:0:0::/:/bin/sh\n"
    assert read_in_root(rootfs, "etc/rel", 100) == b"root:x:0:0::/:/bin/sh\n"
    assert read_in_root(rootfs, "escape", 100) is None
    assert read_in_root(rootfs, "absolute", 100) is None  # /tmp/... inside the rootfs: absent
    assert read_in_root(rootfs, "etc/passwd", 5) is None
    assert read_in_root(rootfs, "etc", 100) is None


def test_find_command_resolves_inside_the_rootfs(tmp_path: Path) -> None:
    host_tool = tmp_path / "host-tool"
    host_tool.write_bytes(b"#!")
    host_tool.chmod(0o755)
    layer = [
        FileEntry("bin", type="dir"),
        FileEntry("bin/busybox", b"\x7fELF", mode=0o755),
        FileEntry("bin/sh", type="symlink", linkname="busybox"),
        FileEntry("bin/abs", type="symlink", linkname="/bin/busybox"),
        FileEntry("bin/outside", type="symlink", linkname="../" * 8 + str(host_tool)),
        FileEntry("etc", type="dir"),
        FileEntry("etc/data", b"x"),
        FileEntry("app", type="dir"),
        FileEntry("app/run", b"#!", mode=0o755),
    ]
    rootfs, _ = _unpack(tmp_path, _layers(layer))
    assert find_command(rootfs, "sh", "/usr/bin:/bin") == ("/bin/sh", True)
    assert find_command(rootfs, "/bin/abs", "") == ("/bin/abs", True)
    assert find_command(rootfs, "./run", "", cwd="/app") == ("/app/./run", True)
    assert find_command(rootfs, "outside", "/bin") == (None, False)
    assert find_command(rootfs, "/etc/data", "/bin") == ("/etc/data", False)
    assert find_command(rootfs, "/etc", "/bin") == ("/etc", False)
    assert find_command(rootfs, "missing", "/bin:relative") == (None, False)


def test_docker_archive_images_unpack_too(tmp_path: Path) -> None:
    image = sample_multilayer_image()
    archive = write_docker_archive(tmp_path / "image.tar", [(image, ["app:1"])])
    with open_source(f"docker-archive:{archive}") as source:
        report = unpack_image(source, tmp_path / "rootfs")
        assert image_config(source)["config"]["User"] == "1000"
    assert report.layers == 3
    assert (tmp_path / "rootfs/app/cache/new.bin").read_bytes() == b"fresh"


def test_open_pinned_reads_exactly_the_verified_digest(tmp_path: Path) -> None:
    first = _layers([FileEntry("v", b"1")])
    second = _layers([FileEntry("v", b"2")])
    layout = write_oci_layout(tmp_path / "layout", {"t": first, "other": second})
    with open_pinned(f"oci:{layout}:t", first.digest) as source:
        assert source.info.manifest_digest == first.digest
        assert image_config(source)["rootfs"]["diff_ids"] == [first.layers[0].diff_id]
    # the tag moved on after verification: the pinned digest is still what is read
    index = json.loads((layout / "index.json").read_text())
    index["manifests"] = [m for m in index["manifests"] if m["digest"] != first.digest]
    (layout / "index.json").write_text(json.dumps(index))
    with open_pinned(f"oci:{layout}:t", first.digest) as source:
        assert source.info.manifest_digest == first.digest
    with pytest.raises(UsageError, match="no manifest digest"):
        open_pinned(f"docker-archive:{tmp_path}/x.tar", first.digest)
