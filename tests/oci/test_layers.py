"""Streaming layer reading: compression sniffing, hostile names, truncation and bombs."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
import time
import tracemalloc
import zlib
from collections.abc import Sequence

import pytest
import zstandard

from sealyard.errors import SizeLimitError, UntrustedDataError
from sealyard.oci.layers import LayerMember, iter_layer, normalise_member_path, open_layer_stream
from tests.fixtures.images import FileEntry, build_layer, build_tar, raw_member

BIG = 1 << 40
ENTRIES = [
    FileEntry("etc", type="dir"),
    FileEntry("etc/hello.txt", b"hello world\n", mode=0o600),
    FileEntry("etc/link", type="symlink", linkname="hello.txt"),
    FileEntry("etc/hard", type="hardlink", linkname="etc/hello.txt"),
    FileEntry("etc/gone", type="whiteout"),
    FileEntry("opt", type="opaque"),
]


Row = tuple[str, str, str, bytes | str]


def read_all(blob: bytes, cap: int = BIG, limit: int = 1 << 20) -> list[Row | str]:
    """Every member as ``(path, kind, linkname, content-or-'-')``; warnings as strings."""
    out: list[Row | str] = []
    for member in iter_layer(open_layer_stream(io.BytesIO(blob), cap)):
        if isinstance(member, str):
            out.append(member)
            continue
        data = member.read(limit)
        out.append((member.path, member.kind, member.linkname, "-" if data is None else data))
    return out


def members(blob: bytes, cap: int = BIG) -> list[LayerMember | str]:
    return list(iter_layer(open_layer_stream(io.BytesIO(blob), cap)))


def tar_of(infos: Sequence[tuple[tarfile.TarInfo, bytes]], end: bool = True) -> bytes:
    """A tar of hand-made headers; ``end=False`` leaves out the end-of-archive blocks."""
    buf = io.BytesIO()
    for info, data in infos:
        buf.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        buf.write(data)
        if len(data) % 512:
            buf.write(b"\0" * (512 - len(data) % 512))
    if end:
        buf.write(b"\0" * 1024)
    return buf.getvalue()


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info


EXPECTED: list[Row | str] = [
    ("etc", "dir", "", "-"),
    ("etc/hello.txt", "file", "", b"hello world\n"),
    ("etc/link", "symlink", "hello.txt", "-"),
    ("etc/hard", "hardlink", "etc/hello.txt", "-"),
    ("etc/.wh.gone", "whiteout", "", "-"),
    ("opt/.wh..wh..opq", "opaque", "", "-"),
]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_compression_is_sniffed_from_content(compression: str) -> None:
    layer = build_layer(ENTRIES, compression)
    assert read_all(layer.data) == EXPECTED


def test_member_metadata() -> None:
    (_, hello, *_) = members(build_layer(ENTRIES, "none").data)
    assert isinstance(hello, LayerMember)
    assert (hello.size, hello.mode, hello.warning) == (12, 0o600, "")


def test_concatenated_gzip_members_and_zero_padding() -> None:
    tar = build_tar(ENTRIES)
    cut = len(tar) // 3
    blob = gzip.compress(tar[:cut], mtime=0) + gzip.compress(tar[cut:], mtime=0) + b"\0" * 700
    assert read_all(blob) == EXPECTED


def test_many_small_gzip_members_across_read_chunks() -> None:
    rng = random.Random(7)
    contents = [rng.randbytes(3000) for _ in range(600)]
    tar = build_tar([FileEntry(f"f{i:04d}", data) for i, data in enumerate(contents)])
    blob = b"".join(gzip.compress(tar[i : i + 4096], mtime=0) for i in range(0, len(tar), 4096))
    assert len(blob) > 1 << 20  # members straddle the reader's 1 MiB input chunks
    got = read_all(blob)
    assert got == [(f"f{i:04d}", "file", "", data) for i, data in enumerate(contents)]


def test_multi_frame_zstd() -> None:
    tar = build_tar(ENTRIES)
    cut = len(tar) // 2
    cctx = zstandard.ZstdCompressor()
    assert read_all(cctx.compress(tar[:cut]) + cctx.compress(tar[cut:])) == EXPECTED


def test_media_type_is_not_trusted_gzip_bytes_read_as_gzip() -> None:
    # A layer whose tar happens to start with the zstd magic would be mis-sniffed; gzip and
    # zstd magics never start a tar (the first bytes are the member name).
    assert read_all(gzip.compress(build_tar(ENTRIES), mtime=0)) == EXPECTED


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9, 0.999])
def test_truncated_gzip_is_untrusted(keep: float) -> None:
    data = build_layer([FileEntry(f"f{i}", bytes(range(256)) * 40) for i in range(40)], "gzip").data
    with pytest.raises(UntrustedDataError):
        read_all(data[: int(len(data) * keep)])


def test_truncated_gzip_second_member_is_untrusted() -> None:
    tar = build_tar(ENTRIES)
    second = gzip.compress(tar[1024:], mtime=0)
    blob = gzip.compress(tar[:1024], mtime=0) + second[: len(second) - 10]
    with pytest.raises(UntrustedDataError):
        read_all(blob)


def test_truncated_zstd_is_untrusted() -> None:
    entries = [FileEntry(f"f{i}", bytes(range(256)) * 400) for i in range(20)]
    data = build_layer(entries, "zstd").data
    with pytest.raises(UntrustedDataError):
        read_all(data[: len(data) // 2])


def test_corrupt_gzip_is_untrusted() -> None:
    data = bytearray(build_layer(ENTRIES, "gzip").data)
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(UntrustedDataError):
        read_all(bytes(data))


def test_garbage_after_gzip_member_is_untrusted() -> None:
    with pytest.raises(UntrustedDataError):
        read_all(build_layer(ENTRIES, "gzip").data + b"not gzip at all")


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"this is not a tar archive" * 100,
        gzip.compress(b"neither is this" * 100, mtime=0),
        zstandard.ZstdCompressor().compress(b"\x01" * 5000),
    ],
    ids=["empty", "text", "gzip-text", "zstd-junk"],
)
def test_not_a_tar_is_untrusted(blob: bytes) -> None:
    with pytest.raises(UntrustedDataError):
        read_all(blob)


def test_corrupt_tar_header_checksum_is_untrusted() -> None:
    tar = bytearray(build_tar(ENTRIES))
    tar[148:156] = b"0000000\0"  # the first header's checksum
    with pytest.raises(UntrustedDataError):
        read_all(bytes(tar))


def _gzip_bomb(total: int) -> bytes:
    """One tar member of ``total`` zero bytes, as concatenated gzip members (cheap to build)."""
    piece = 32 << 20
    head = tar_of([(header("zeros", total), b"")], end=False)
    zeros = gzip.compress(b"\0" * piece, compresslevel=9, mtime=0)
    return gzip.compress(head, mtime=0) + zeros * (total // piece)


def test_gzip_bomb_stops_at_the_cap_without_inflating_in_memory() -> None:
    bomb = _gzip_bomb(1 << 30)
    assert len(bomb) < 2 << 20  # ~1 MB that expands to 1 GiB
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SizeLimitError, match="decompression bomb"):
            read_all(bomb, cap=8 << 20, limit=64 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20
    assert time.monotonic() - started < 10


def test_zstd_bomb_stops_at_the_cap() -> None:
    head = tar_of([(header("zeros", 256 << 20), b"")], end=False)
    bomb = zstandard.ZstdCompressor().compress(head + b"\0" * (256 << 20))
    assert len(bomb) < 1 << 20
    with pytest.raises(SizeLimitError):
        members(bomb, cap=4 << 20)


def test_uncompressed_layer_over_the_cap() -> None:
    blob = build_layer([FileEntry("big", b"x" * 100_000)], "none").data
    with pytest.raises(SizeLimitError):
        members(blob, cap=50_000)
    assert len(members(blob, cap=len(blob))) == 1  # exactly at the cap is fine


def test_huge_pax_header_is_refused_before_it_is_read() -> None:
    pax = header("././@PaxHeader", 64 << 20, tarfile.XHDTYPE)
    blob = gzip.compress(tar_of([(pax, b"\0" * (64 << 20))]), mtime=0)
    with pytest.raises(SizeLimitError, match="extended header"):
        members(blob)


def test_long_names_within_limits_still_work() -> None:
    name = "d/" + "n" * 300
    assert read_all(build_tar([FileEntry(name, b"x")])) == [(name, "file", "", b"x")]
    gnu = io.BytesIO()
    with tarfile.open(fileobj=gnu, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"y"))
    assert read_all(gnu.getvalue()) == [(name, "file", "", b"y")]


def test_absolute_member_names_are_taken_relative_with_a_warning() -> None:
    blob = build_tar([raw_member("/etc/passwd", b"root"), raw_member("//usr/./bin/x", b"x")])
    assert read_all(blob) == [("etc/passwd", "file", "", b"root"), ("usr/bin/x", "file", "", b"x")]
    warnings = [m.warning for m in members(blob) if isinstance(m, LayerMember)]
    assert warnings == [
        "absolute member name '/etc/passwd' taken relative to the image root",
        "absolute member name '//usr/./bin/x' taken relative to the image root",
    ]


@pytest.mark.parametrize("name", ["../evil", "a/../../b", "./x/./../../y", "..", "a/b/../../../c"])
def test_members_escaping_the_root_are_skipped_with_a_warning(name: str) -> None:
    blob = build_tar([raw_member(name, b"evil"), FileEntry("ok", b"fine")])
    got = read_all(blob)
    assert len(got) == 2
    assert isinstance(got[0], str)
    assert "climbs out" in got[0]
    assert got[1] == ("ok", "file", "", b"fine")


def test_dotdot_inside_the_root_is_resolved() -> None:
    blob = build_tar([raw_member("a/../b", b"1"), raw_member("./c/./d", b"2")])
    assert read_all(blob) == [("b", "file", "", b"1"), ("c/d", "file", "", b"2")]


def test_root_entry_is_skipped() -> None:
    assert read_all(build_tar([raw_member("./", type="dir"), FileEntry("x", b"")])) == [
        ("x", "file", "", b"")
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("etc/passwd", ("etc/passwd", "")),
        ("./etc//passwd", ("etc/passwd", "")),
        ("a/../b", ("b", "")),
        ("", ("", "")),
        ("/abs", ("abs", "absolute member name '/abs' taken relative to the image root")),
    ],
)
def test_normalise_member_path(name: str, expected: tuple[str, str]) -> None:
    assert normalise_member_path(name) == expected


def test_normalise_member_path_refuses_escape() -> None:
    path, warning = normalise_member_path("a/../../b")
    assert path is None
    assert "climbs out" in warning


def test_hardlinks_outside_the_root_are_skipped() -> None:
    blob = build_tar(
        [
            raw_member("hard-out", type="hardlink", linkname="../../etc/shadow"),
            raw_member("hard-abs", type="hardlink", linkname="/etc/passwd"),
            FileEntry("after", b"!"),
        ]
    )
    got = read_all(blob)
    assert isinstance(got[0], str)
    assert "hard-out" in got[0]
    assert got[1:] == [("hard-abs", "hardlink", "etc/passwd", "-"), ("after", "file", "", b"!")]


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_devices_and_fifos_are_special(kind: bytes) -> None:
    blob = tar_of([(header("dev/thing.pkg", 0, kind), b""), (header("next", 1), b"n")])
    assert read_all(blob) == [("dev/thing.pkg", "special", "", "-"), ("next", "file", "", b"n")]


def test_read_returns_none_over_the_limit() -> None:
    stream = iter_layer(open_layer_stream(io.BytesIO(build_tar([FileEntry("f", b"12345")])), BIG))
    member = next(stream)
    assert isinstance(member, LayerMember)
    assert member.read(4) is None
    assert member.read(5) == b"12345"
    assert member.read(5) == b"12345"  # reading again is harmless


def test_read_after_the_stream_moved_on_is_a_programming_error() -> None:
    first, _ = members(build_tar([FileEntry("f", b"12345"), FileEntry("g", b"")]))
    assert isinstance(first, LayerMember)
    with pytest.raises(RuntimeError, match="moved on"):
        first.read(100)


def test_unread_members_are_skipped() -> None:
    blob = build_layer([FileEntry(f"f{i}", b"%d" % i * 1000) for i in range(5)], "gzip").data
    got = [m.path for m in members(blob) if isinstance(m, LayerMember)]
    assert got == ["f0", "f1", "f2", "f3", "f4"]


def test_truncated_small_member_is_untrusted_when_read() -> None:
    blob = tar_of([(header("a", 3), b"abc"), (header("b.pkg", 1000), b"x" * 100)], end=False)
    stream = iter_layer(open_layer_stream(io.BytesIO(blob), BIG))
    first = next(stream)
    assert isinstance(first, LayerMember)
    assert first.read(10) == b"abc"
    second = next(stream)
    assert isinstance(second, LayerMember)
    with pytest.raises(UntrustedDataError, match="truncated"):
        second.read(1 << 20)


@pytest.mark.parametrize("name", ["big.bin", "../escaping.bin"])
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_huge_member_with_missing_data_fails_fast(name: str, compression: str) -> None:
    """A header claiming 10 GB (or 1 PB) followed by EOF: an error, not a hang."""
    for size in (10 * 1024**3, 1024**5):
        blob = tar_of([(header("before", 5), b"hello"), (header(name, size), b"x" * 100)], False)
        if compression == "gzip":
            blob = gzip.compress(blob, mtime=0)
        started = time.monotonic()
        with pytest.raises(UntrustedDataError, match=r"truncated|end of data"):
            read_all(blob, limit=64 << 20)
        assert time.monotonic() - started < 1


def test_member_header_without_end_of_archive_is_accepted() -> None:
    blob = tar_of([(header("a", 3), b"abc")], end=False)
    assert read_all(blob) == [("a", "file", "", b"abc")]


def test_gzip_inflate_error_is_wrapped() -> None:
    broken = b"\x1f\x8b\x08\x00" + b"\0" * 6 + b"\xff" * 64
    with pytest.raises(UntrustedDataError, match="gzip"):
        read_all(broken)
    assert zlib.decompressobj(wbits=31)  # the module under test uses zlib's gzip mode
