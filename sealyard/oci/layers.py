"""Streaming reader of image layer tarballs.

A layer is read once, front to back, never extracted. Compression is detected from the
content (gzip, zstd or none), not trusted from the media type. Member names are normalised
to paths relative to the image root; names that are absolute are made relative and names
that climb out of the root (``../``) are refused — both with a :class:`LayerEvent` warning.
Total uncompressed bytes per layer are capped against decompression bombs.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Self, cast

from sealyard.errors import SizeLimitError, UntrustedDataError

__all__ = ["LayerMember", "iter_layer", "normalise_member_path", "open_layer_stream"]

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_READ = 1 << 20


class _Counted(io.RawIOBase):
    """Counts (and caps) bytes produced by a decompressing reader."""

    def __init__(self, inner: BinaryIO | io.RawIOBase, limit: int) -> None:
        self._inner = inner
        self._limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        if not data:
            return 0
        n = len(data)
        self.count += n
        if self.count > self._limit:
            raise SizeLimitError(f"layer expands beyond {self._limit} bytes (decompression bomb?)")
        buffer[:n] = data
        return n


class _GunzipRaw(io.RawIOBase):
    """gzip decompression with large reads; handles concatenated gzip members.

    Output per step is bounded (``max_length``), so a bomb never inflates a whole input chunk
    (up to ~1000x its size) in memory before the size cap can stop it.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._d = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._tail = b""  # input received but not yet decompressed
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._eof:
            chunk, self._tail = self._tail, b""
            if not chunk:
                chunk = self._raw.read(_READ)
                if not chunk:
                    self._eof = True
                    if not self._d.eof:
                        raise UntrustedDataError("gzip stream is truncated")
                    break
            try:
                self._pending = self._inflate(chunk)
            except zlib.error as exc:
                raise UntrustedDataError(f"corrupt gzip data: {exc}") from exc
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def _inflate(self, chunk: bytes) -> bytes:
        if self._d.eof:  # the previous member ended: zero padding or the next member
            if not chunk.strip(b"\0"):
                return b""
            self._d = zlib.decompressobj(wbits=31)
        out = self._d.decompress(chunk, _READ)
        if self._d.unconsumed_tail:
            self._tail = self._d.unconsumed_tail
        elif self._d.eof and self._d.unused_data.strip(b"\0"):
            self._tail = self._d.unused_data
        return out


def open_layer_stream(raw: IO[bytes], max_bytes: int) -> BinaryIO:
    """Wrap a (possibly compressed) layer blob as an uncompressed, size-capped stream."""
    buffered: io.BufferedReader = (
        raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(Any, raw), _READ)
    )
    magic = buffered.peek(4)[:4]
    inner: BinaryIO | io.RawIOBase
    if magic.startswith(_GZIP):
        inner = _GunzipRaw(buffered)
    elif magic == _ZSTD:
        import zstandard

        inner = zstandard.ZstdDecompressor().stream_reader(buffered, read_size=_READ)
    else:
        inner = buffered
    return cast(BinaryIO, io.BufferedReader(_Counted(inner, max_bytes), _READ))


@dataclass
class LayerMember:
    """One member of a layer with its normalised path.

    ``read`` is valid only while the member is current (layers are streams).
    """

    path: str
    kind: str  # file, dir, symlink, hardlink, whiteout, opaque, special
    size: int
    mode: int
    linkname: str
    reader: Callable[[int], bytes | None]
    warning: str = ""

    def read(self, limit: int) -> bytes | None:
        """The content if it is a regular file of at most ``limit`` bytes, else ``None``."""
        if self.kind != "file" or self.size > limit:
            return None
        return self.reader(limit)


class _MemberData:
    """A member's content, read or skipped through one handle.

    Skipping through the handle (not tarfile's own seek) makes a member whose data is missing
    fail at once, however large its header claims it is.
    """

    def __init__(self, tar: tarfile.TarFile, info: tarfile.TarInfo, path: str) -> None:
        self._tar = tar
        self._info = info
        self.path = path
        self._handle: IO[bytes] | None = None
        self._data: bytes | None = None
        self._skipped = False

    def _open(self) -> IO[bytes] | None:
        if self._handle is None:
            self._handle = self._tar.extractfile(self._info)
        return self._handle

    def read(self, limit: int) -> bytes | None:
        if self._data is not None:
            return self._data if len(self._data) <= limit else None
        if self._skipped:
            raise RuntimeError(f"{self.path}: read after the layer stream moved on")
        handle = self._open()
        if handle is None:
            return None
        try:
            data = handle.read(limit + 1)
        except (tarfile.TarError, EOFError) as exc:
            raise UntrustedDataError(f"{self.path}: member is truncated") from exc
        if len(data) != self._info.size:
            raise UntrustedDataError(f"{self.path}: member is truncated")
        self._data = data
        return data

    def skip(self) -> None:
        self._skipped = True
        handle = self._open()
        if handle is None:
            return
        while handle.read(_READ):
            pass


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses PAX and GNU long-name headers larger than Go's archive/tar accepts (1 MiB):
    tarfile reads them into memory whole."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        info = super().frombuf(buf, encoding, errors)
        if info.type in _META_TYPES and info.size > _MAX_META_BYTES:
            raise SizeLimitError(
                f"tar extended header of {info.size} bytes (limit {_MAX_META_BYTES})"
            )
        return info


_META_TYPES = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)
_MAX_META_BYTES = 1 << 20


def normalise_member_path(name: str) -> tuple[str | None, str]:
    """``(path, warning)``: the root-relative path, or ``None`` if it escapes the root."""
    warning = ""
    if name.startswith("/"):
        warning = f"absolute member name {name!r} taken relative to the image root"
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None, f"member name {name!r} climbs out of the image root"
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts), warning


def _kind(info: tarfile.TarInfo, base: str) -> str:
    if base == ".wh..wh..opq":
        return "opaque"
    if base.startswith(".wh."):
        return "whiteout"
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    return "special"


def _member(info: tarfile.TarInfo, content: _MemberData) -> LayerMember | str | None:
    """The member for ``info``, a warning string, or ``None`` for the root itself."""
    path, warning = normalise_member_path(info.name)
    if path is None:
        return warning
    if not path:
        return None
    kind = _kind(info, posixpath.basename(path))
    linkname = info.linkname
    if kind == "hardlink":
        target, _ = normalise_member_path(linkname)
        if target is None:
            return f"hardlink {path!r} points outside the image root"
        linkname = target
    content.path = path
    return LayerMember(
        path=path,
        kind=kind,
        size=info.size,
        mode=info.mode,
        linkname=linkname,
        reader=content.read,
        warning=warning,
    )


def iter_layer(stream: BinaryIO) -> Iterator[LayerMember | str]:
    """Yield members of an uncompressed layer stream; plain strings are warnings.

    Raises:
        UntrustedDataError: the tar stream is corrupt or truncated.
        SizeLimitError: the layer expands beyond the cap.
    """
    try:
        tar = tarfile.open(  # noqa: SIM115 - closed by the with below
            fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo
        )
    except tarfile.TarError as exc:
        raise UntrustedDataError(f"layer is not a tar archive: {exc}") from exc
    with tar:
        try:
            for info in tar:
                content = _MemberData(tar, info, info.name)
                item = _member(info, content)
                if item is not None:
                    yield item
                if info.isreg() or info.type not in tarfile.SUPPORTED_TYPES:
                    content.skip()
            # Read to the end so a truncated or corrupt compressed stream is noticed even
            # after the end-of-archive marker.
            while stream.read(_READ):
                pass
        except tarfile.TarError as exc:
            raise UntrustedDataError(f"corrupt or truncated layer: {exc}") from exc
        except EOFError as exc:
            raise UntrustedDataError(f"layer is truncated: {exc}") from exc
