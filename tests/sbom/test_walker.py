"""The layer walker: overlay semantics (whiteouts, opaque dirs, replacement), symlinks,
hardlinks, history and warnings, with real layers built by code."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator, Sequence

import pytest

from sealyard.oci.layers import iter_layer, open_layer_stream
from sealyard.sbom.catalogers.interface import Cataloger, CatalogResult, ImageFiles
from sealyard.sbom.model import ImageInfo, LayerInfo, Location, Package
from sealyard.sbom.source import ImageSource, Member
from sealyard.sbom.walker import WalkResult, walk_image
from tests.fixtures.images import FileEntry, Layer, build_layer, raw_member


class PkgCataloger(Cataloger):
    """Test cataloger: every ``*.pkg`` file holds ``name version``.

    Packages record the layers of the file's earlier versions in ``metadata["history"]``.
    """

    name = "pkgfile"
    track_history = True
    max_file_size = 1024

    def wants(self, path: str) -> bool:
        return path.endswith(".pkg")

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        for record in image.files:
            if record.data is None:
                continue
            name, version = record.data.decode().split()
            result.packages.append(
                Package(
                    name=name,
                    version=version,
                    type="generic",
                    purl=f"pkg:generic/{name}@{version}",
                    found_by=self.name,
                    locations=(Location(record.path, record.layer),),
                    metadata={"history": [layer for layer, _ in record.history]},
                )
            )
        return result


def pkg(path: str, name: str, version: str = "1.0") -> FileEntry:
    return FileEntry(path, f"{name} {version}".encode())


class LayersSource(ImageSource):
    """An in-memory image source over layers built by code (the ImageSource seam)."""

    def __init__(self, layers: Sequence[Layer]) -> None:
        self.layers = list(layers)
        self.info = ImageInfo(
            reference="memory:test",
            layers=tuple(
                LayerInfo(i, x.digest, x.diff_id, x.media_type, x.size)
                for i, x in enumerate(self.layers)
            ),
        )

    def iter_layers(self) -> Iterator[tuple[LayerInfo, Iterator[Member]]]:
        for info, layer in zip(self.info.layers, self.layers, strict=True):
            yield info, iter_layer(open_layer_stream(io.BytesIO(layer.data), 1 << 30))


def walk(*layers: Sequence[FileEntry], catalogers: Sequence[Cataloger] = ()) -> WalkResult:
    built = [build_layer(entries) for entries in layers]
    return walk_image(LayersSource(built), list(catalogers) or [PkgCataloger()])


def state(result: WalkResult) -> dict[str, tuple[int, bytes | None]]:
    return {path: (entry.layer, entry.data) for path, entry in result.files.items()}


def kinds(result: WalkResult) -> list[str]:
    return [w.kind for w in result.warnings]


def test_reads_only_wanted_files() -> None:
    result = walk([pkg("a.pkg", "a"), FileEntry("b.txt", b"unwanted"), FileEntry("d", type="dir")])
    assert state(result) == {"a.pkg": (0, b"a 1.0")}
    assert result.warnings == []


def test_whiteout_removes_a_lower_file() -> None:
    result = walk(
        [pkg("etc/a.pkg", "a"), pkg("etc/b.pkg", "b")],
        [FileEntry("etc/a.pkg", type="whiteout")],
    )
    assert set(result.files) == {"etc/b.pkg"}


def test_whiteout_removes_a_lower_directory_subtree() -> None:
    result = walk(
        [
            FileEntry("opt/app", type="dir"),
            pkg("opt/app/x.pkg", "x"),
            pkg("opt/app/deep/er/y.pkg", "y"),
            FileEntry("opt/app/lib", type="symlink", linkname="/usr/lib"),
            pkg("opt/app2/z.pkg", "z"),  # shares a prefix, not a parent
            pkg("opt/apple.pkg", "apple"),
        ],
        [FileEntry("opt/app", type="whiteout")],
    )
    assert set(result.files) == {"opt/app2/z.pkg", "opt/apple.pkg"}
    assert "opt/app/lib" not in result.symlinks


@pytest.mark.parametrize("whiteout_first", [True, False])
def test_whiteout_never_deletes_entries_of_its_own_layer(whiteout_first: bool) -> None:
    wh, new = FileEntry("a.pkg", type="whiteout"), pkg("a.pkg", "a", "2.0")
    result = walk([pkg("a.pkg", "a")], [wh, new] if whiteout_first else [new, wh])
    assert state(result) == {"a.pkg": (1, b"a 2.0")}


@pytest.mark.parametrize("opaque_first", [True, False])
def test_opaque_dir_hides_lower_children_but_keeps_its_own_layer(opaque_first: bool) -> None:
    opq = FileEntry("app/cache", type="opaque")
    same = [FileEntry("app/cache", type="dir"), pkg("app/cache/new.pkg", "new")]
    result = walk(
        [
            pkg("app/cache/old.pkg", "old"),
            pkg("app/cache/sub/older.pkg", "older"),
            FileEntry("app/cache/link.pkg", type="symlink", linkname="old.pkg"),
            pkg("app/cache2/kept.pkg", "kept"),
            pkg("app/keep.pkg", "keep"),
        ],
        [opq, *same] if opaque_first else [*same, opq],
    )
    assert state(result) == {
        "app/cache/new.pkg": (1, b"new 1.0"),
        "app/cache2/kept.pkg": (0, b"kept 1.0"),
        "app/keep.pkg": (0, b"keep 1.0"),
    }
    assert "app/cache/link.pkg" not in result.symlinks


def test_opaque_dir_does_not_hide_entries_of_later_layers() -> None:
    result = walk(
        [pkg("d/a.pkg", "a")],
        [FileEntry("d", type="opaque")],
        [pkg("d/b.pkg", "b")],
    )
    assert state(result) == {"d/b.pkg": (2, b"b 1.0")}


def test_replaced_file_keeps_first_layer_and_history() -> None:
    result = walk(
        [pkg("db.pkg", "db", "1")],
        [pkg("other.pkg", "o")],
        [pkg("db.pkg", "db", "2")],
        [pkg("db.pkg", "db", "3")],
    )
    entry = result.files["db.pkg"]
    assert (entry.layer, entry.first_layer, entry.data) == (3, 0, b"db 3")
    assert entry.history == [(0, b"db 1"), (2, b"db 2")]
    assert result.first_layer("db.pkg") == 0
    assert result.first_layer("missing.pkg") is None
    (record,) = [r for r in result.files_for(0) if r.path == "db.pkg"]
    assert record.history == ((0, b"db 1"), (2, b"db 2"))
    assert record.layer == 3


def test_history_is_omitted_for_catalogers_not_tracking_it() -> None:
    class Untracked(PkgCataloger):
        track_history = False

    result = walk([pkg("a.pkg", "a", "1")], [pkg("a.pkg", "a", "2")], catalogers=[Untracked()])
    assert result.files["a.pkg"].history == []
    assert result.files_for(0)[0].history == ()


def test_deleted_then_readded_file_resets_first_layer() -> None:
    result = walk(
        [pkg("a.pkg", "a", "1")],
        [FileEntry("a.pkg", type="whiteout")],
        [pkg("a.pkg", "a", "2")],
    )
    entry = result.files["a.pkg"]
    assert (entry.layer, entry.first_layer, entry.history) == (2, 2, [])


def test_readded_after_opaque_parent_resets_first_layer() -> None:
    result = walk(
        [pkg("d/a.pkg", "a", "1")],
        [FileEntry("d", type="opaque"), pkg("d/a.pkg", "a", "2")],
    )
    entry = result.files["d/a.pkg"]
    assert (entry.layer, entry.first_layer, entry.history) == (1, 1, [])


def test_file_replaced_by_symlink_then_file_again_resets_first_layer() -> None:
    result = walk(
        [pkg("a.pkg", "a", "1"), pkg("b.pkg", "b")],
        [FileEntry("a.pkg", type="symlink", linkname="b.pkg")],
        [pkg("a.pkg", "a", "3")],
    )
    assert (result.files["a.pkg"].first_layer, result.files["a.pkg"].history) == (2, [])
    assert "a.pkg" not in result.symlinks


def test_directory_replaced_by_a_file_loses_its_children() -> None:
    result = walk(
        [pkg("d/x.pkg", "x"), FileEntry("d/l.pkg", type="symlink", linkname="x.pkg")],
        [pkg("d", "notadir")],
        catalogers=[AllCataloger()],
    )
    assert set(result.files) == {"d"}
    assert result.symlinks == {}


def test_file_replaced_by_a_directory_is_gone() -> None:
    result = walk(
        [pkg("x.pkg", "x"), FileEntry("lib", type="symlink", linkname="usr/lib")],
        [
            FileEntry("x.pkg", type="dir"),
            pkg("x.pkg/inner.pkg", "inner"),
            FileEntry("lib", type="dir"),
        ],
    )
    assert set(result.files) == {"x.pkg/inner.pkg"}
    assert "lib" not in result.symlinks


def test_file_replaced_by_a_device_is_gone() -> None:
    layers = [build_layer([pkg("a.pkg", "a")]), _tar_with_fifo("a.pkg")]
    result = walk_image(LayersSource(layers), [PkgCataloger()])
    assert result.files == {}
    assert kinds(result) == ["special-file"]


def _tar_with_fifo(name: str) -> Layer:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)
    data = buf.getvalue()
    return Layer(data, "sha256:" + "0" * 64, "sha256:" + "0" * 64, len(data), "tar", "none")


class AllCataloger(PkgCataloger):
    def wants(self, path: str) -> bool:
        return True


def test_symlink_resolution_through_directory_symlinks() -> None:
    result = walk(
        [
            FileEntry("usr/lib", type="dir"),
            pkg("usr/lib/os.pkg", "os"),
            FileEntry("lib", type="symlink", linkname="usr/lib"),
            FileEntry("abs", type="symlink", linkname="/usr/lib/os.pkg"),
            FileEntry("etc/rel.pkg", type="symlink", linkname="../lib/os.pkg"),
            FileEntry("chain", type="symlink", linkname="etc/rel.pkg"),
            FileEntry("dot", type="symlink", linkname="./usr/./lib"),
        ]
    )
    assert result.resolve("lib/os.pkg") == "usr/lib/os.pkg"
    assert result.resolve("/lib/os.pkg") == "usr/lib/os.pkg"
    assert result.resolve("abs") == "usr/lib/os.pkg"
    assert result.resolve("etc/rel.pkg") == "usr/lib/os.pkg"
    assert result.resolve("chain") == "usr/lib/os.pkg"
    assert result.resolve("dot/os.pkg") == "usr/lib/os.pkg"
    record = result.lookup("chain")
    assert record is not None
    assert (record.path, record.data) == ("usr/lib/os.pkg", b"os 1.0")
    assert result.lookup("lib/missing.pkg") is None


def test_symlink_loops_resolve_to_none() -> None:
    result = walk(
        [
            FileEntry("a", type="symlink", linkname="b"),
            FileEntry("b", type="symlink", linkname="a"),
            FileEntry("self", type="symlink", linkname="./self"),
            FileEntry("grow", type="symlink", linkname="grow/x"),
        ]
    )
    assert result.resolve("a") is None
    assert result.resolve("self/x.pkg") is None
    assert result.resolve("grow") is None
    assert result.lookup("a") is None


def test_symlinks_pointing_outside_the_root_stay_inside() -> None:
    result = walk(
        [
            pkg("etc/passwd.pkg", "passwd"),
            FileEntry("app/conf/evil.pkg", type="symlink", linkname="../../../../etc/passwd.pkg"),
            FileEntry("up", type="symlink", linkname="../../.."),
        ]
    )
    assert result.resolve("app/conf/evil.pkg") == "etc/passwd.pkg"
    assert result.resolve("up/etc/passwd.pkg") == "etc/passwd.pkg"
    assert result.resolve("../../etc/passwd.pkg") == "etc/passwd.pkg"
    record = result.lookup("app/conf/evil.pkg")
    assert record is not None
    assert record.data == b"passwd 1.0"


def test_whited_out_symlink_is_not_followed() -> None:
    result = walk(
        [pkg("usr/lib/a.pkg", "a"), FileEntry("lib", type="symlink", linkname="usr/lib")],
        [FileEntry("lib", type="whiteout")],
    )
    assert result.resolve("lib/a.pkg") == "lib/a.pkg"
    assert result.lookup("lib/a.pkg") is None


def test_hardlink_to_a_wanted_file_gets_its_content() -> None:
    result = walk(
        [
            pkg("a.pkg", "a"),
            FileEntry("b.pkg", type="hardlink", linkname="a.pkg"),
            raw_member("c.pkg", type="hardlink", linkname="/a.pkg"),
        ]
    )
    assert state(result) == {"a.pkg": (0, b"a 1.0"), "b.pkg": (0, b"a 1.0"), "c.pkg": (0, b"a 1.0")}


def test_hardlink_to_an_unread_file_is_a_warning() -> None:
    result = walk(
        [
            FileEntry("usr/bin/tool", b"x y"),
            FileEntry("tool.pkg", type="hardlink", linkname="usr/bin/tool"),
        ]
    )
    assert result.files == {}
    assert kinds(result) == ["hardlink-unread"]
    assert result.warnings[0].path == "tool.pkg"


def test_hardlink_to_a_lower_layer_file() -> None:
    result = walk([pkg("a.pkg", "a")], [FileEntry("b.pkg", type="hardlink", linkname="a.pkg")])
    assert state(result) == {"a.pkg": (0, b"a 1.0"), "b.pkg": (1, b"a 1.0")}


def test_member_too_large_is_a_warning_with_no_data() -> None:
    result = walk([FileEntry("big.pkg", b"x" * 2000), pkg("small.pkg", "s")])
    assert state(result) == {"big.pkg": (0, None), "small.pkg": (0, b"s 1.0")}
    (warning,) = result.warnings
    assert (warning.kind, warning.path, warning.layer) == ("member-too-large", "big.pkg", 0)
    assert "2000" in warning.message


def test_hostile_names_become_warnings() -> None:
    result = walk(
        [
            raw_member("../../escape.pkg", b"e 1"),
            raw_member("/abs.pkg", b"abs 1"),
            raw_member("x", type="hardlink", linkname="../../etc/shadow"),
        ]
    )
    assert state(result) == {"abs.pkg": (0, b"abs 1")}
    assert sorted(kinds(result)) == ["absolute-path", "path-escape", "path-escape"]


def test_special_file_that_is_wanted_is_a_warning() -> None:
    result = walk_image(LayersSource([_tar_with_fifo("dev/x.pkg")]), [PkgCataloger()])
    assert [(w.kind, w.path) for w in result.warnings] == [("special-file", "dev/x.pkg")]
    quiet = walk_image(LayersSource([_tar_with_fifo("dev/null")]), [PkgCataloger()])
    assert quiet.warnings == []


def test_unreadable_layer_is_a_warning_and_later_layers_still_count() -> None:
    good = build_layer([pkg("a.pkg", "a")])
    broken = build_layer([pkg("b.pkg", "b")])
    broken = Layer(
        broken.data[: len(broken.data) // 2], broken.digest, broken.diff_id, 0, "", "gzip"
    )
    last = build_layer([pkg("c.pkg", "c")])
    result = walk_image(LayersSource([good, broken, last]), [PkgCataloger()])
    assert set(result.files) == {"a.pkg", "c.pkg"}
    assert [(w.kind, w.layer) for w in result.warnings] == [("layer-unreadable", 1)]


def test_extra_wanted_paths_use_the_pseudo_index() -> None:
    built = [build_layer([FileEntry("etc/os-release", b"ID=x"), pkg("a.pkg", "a")])]
    result = walk_image(
        LayersSource(built), [PkgCataloger()], extra_wanted=lambda p: p == "etc/os-release"
    )
    assert result.files["etc/os-release"].wanted_by == (-1,)
    assert [r.path for r in result.files_for(0)] == ["a.pkg"]
    record = result.lookup("etc/os-release")
    assert record is not None
    assert record.data == b"ID=x"


def test_files_for_is_per_cataloger_and_sorted() -> None:
    class Txt(PkgCataloger):
        name = "txt"

        def wants(self, path: str) -> bool:
            return path.endswith(".txt")

    result = walk(
        [pkg("z.pkg", "z"), FileEntry("m.txt", b"m"), pkg("a.pkg", "a"), FileEntry("b.txt", b"")],
        catalogers=[PkgCataloger(), Txt()],
    )
    assert [r.path for r in result.files_for(0)] == ["a.pkg", "z.pkg"]
    assert [r.path for r in result.files_for(1)] == ["b.txt", "m.txt"]


def test_progress_reports_every_layer_with_its_member_count() -> None:
    seen: list[tuple[int, int]] = []
    built = [build_layer([pkg("a.pkg", "a"), FileEntry("d", type="dir")]), build_layer([])]
    walk_image(
        LayersSource(built), [PkgCataloger()], progress=lambda x, n: seen.append((x.index, n))
    )
    assert seen == [(0, 2), (1, 0)]


def test_unreadable_new_version_does_not_leave_the_old_one_behind() -> None:
    result = walk(
        [pkg("a.pkg", "a", "1"), FileEntry("usr/bin/tool", b"t")],
        [FileEntry("a.pkg", type="hardlink", linkname="usr/bin/tool")],
    )
    assert result.files == {}
    assert kinds(result) == ["hardlink-unread"]
