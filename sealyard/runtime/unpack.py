"""Apply an image's layers to a root filesystem directory, treating every layer as hostile.

Layers are streamed once, verified against their digest (and their uncompressed content
against the config's ``diff_ids``), and applied in order with overlay semantics:
``.wh.NAME`` removes ``NAME`` from lower layers, ``.wh..wh..opq`` empties a directory of
lower-layer content; neither touches what the same layer adds.

Every write goes through directory file descriptors opened with ``O_NOFOLLOW`` from the root
down, never through a path string:

* member names that climb out of the root (``../``) are refused; absolute names are taken
  relative to the root (both with a warning);
* a symbolic link is created as it is, and never followed by the writer at the final
  component: writing ``link`` replaces the link itself. Links in *parent* components resolve
  the way the container will see them — an absolute target starts at the rootfs — and a
  link whose ``..`` climbs above the rootfs makes the member refused with a warning;
* hard links must name an existing non-directory inside the rootfs (same resolution);
* device nodes are skipped (a container with no capabilities could not create them
  either); FIFOs are created;
* set-user-ID and set-group-ID bits of regular files are removed unless ``keep_setuid``
  (with ``no_new_privileges`` they grant nothing; without it they would let a non-root
  user become root inside the container);
* extended attributes, including file capabilities, are not applied;
* bytes written per rootfs and entries per image are capped; a layer past the cap fails
  the unpack (a partial root filesystem is never run).

Ownership follows the user namespace: with an :class:`IdMap`, container id ``N`` is owned
by host id ``base + N``, so the container's (unprivileged) root owns its root filesystem.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Self, cast

from sealyard.config import Limits
from sealyard.errors import (
    DigestMismatchError,
    SizeLimitError,
    UntrustedDataError,
    UsageError,
)
from sealyard.oci.digest import Digest, parse_digest, sha256_digest
from sealyard.oci.layers import normalise_member_path, open_layer_stream
from sealyard.oci.reference import parse_reference
from sealyard.oci.verify import VerifyingReader
from sealyard.sbom.model import LayerInfo
from sealyard.sbom.source import (
    BlobImageSource,
    DockerArchiveSource,
    ImageSource,
    OciLayoutSource,
    RegistrySource,
    open_source,
)

__all__ = [
    "IdMap",
    "UnpackReport",
    "find_command",
    "image_config",
    "open_pinned",
    "read_in_root",
    "unpack_image",
]

MAX_SYMLINK_HOPS = 40
DEFAULT_MAX_ENTRIES = 1_000_000
_CHUNK = 1 << 20
_MAX_TAR_HEADER = 1 << 20  # PAX / GNU long-name headers, as Go's archive/tar
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NOBODY = 65534


@dataclass(frozen=True)
class IdMap:
    """Container ids ``0 .. size-1`` map to host ids ``uid .. uid+size-1`` (and gids)."""

    uid: int
    gid: int
    size: int = 65536

    def __post_init__(self) -> None:
        if self.uid < 0 or self.gid < 0 or self.size < 1:
            raise UsageError("id map needs non-negative host ids and a positive size")
        if self.uid + self.size > 2**32 - 1 or self.gid + self.size > 2**32 - 1:
            raise UsageError("id map exceeds the 32-bit id space")

    def host(self, uid: int, gid: int) -> tuple[tuple[int, int], bool]:
        """Host ``(uid, gid)`` for a container owner; ``True`` when it had to be clamped
        (an id outside the mapped range becomes the container's ``nobody``)."""
        fallback = min(_NOBODY, self.size - 1)
        clamped = not (0 <= uid < self.size and 0 <= gid < self.size)
        uid = uid if 0 <= uid < self.size else fallback
        gid = gid if 0 <= gid < self.size else fallback
        return (self.uid + uid, self.gid + gid), clamped


@dataclass
class UnpackReport:
    """What an unpack did: counts and every warning (skipped or changed members)."""

    layers: int = 0
    entries: int = 0
    bytes: int = 0
    stripped_setuid: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Refused(Exception):
    """The member cannot be applied safely; it is skipped with this message."""


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses oversized PAX / GNU long-name headers (tarfile would read them whole)."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        info = super().frombuf(buf, encoding, errors)
        meta = (
            tarfile.XHDTYPE,
            tarfile.XGLTYPE,
            tarfile.GNUTYPE_LONGNAME,
            tarfile.GNUTYPE_LONGLINK,
        )
        if info.type in meta and info.size > _MAX_TAR_HEADER:
            raise SizeLimitError(f"tar extended header of {info.size} bytes")
        return info


class _Hashing(io.RawIOBase):
    """Hashes the uncompressed layer as the tar reader consumes it (for the diff_id)."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner
        self.hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        if not data:
            return 0
        self.hasher.update(data)
        buffer[: len(data)] = data
        return len(data)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)
    fds.clear()


class _Root:
    """Writes below one directory through file descriptors, never leaving it."""

    def __init__(self, path: Path, ids: IdMap | None, report: UnpackReport) -> None:
        self.fd = os.open(path, _DIR_FLAGS)
        self.ids = ids
        self.report = report

    def close(self) -> None:
        os.close(self.fd)

    def owner(self, uid: int, gid: int, path: str) -> tuple[int, int]:
        if self.ids is None:
            return uid, gid
        host, clamped = self.ids.host(uid, gid)
        if clamped:
            self.report.warnings.append(
                f"{path}: owner {uid}:{gid} is outside the container's id range; "
                "owned by the container's nobody instead"
            )
        return host

    def parent(self, path: str, *, create: bool) -> tuple[int, str]:
        """``(fd of the directory holding path's last component, that component)``.

        The caller closes the fd. Missing directories are created when ``create``.

        Raises:
            _Refused: the path leads out of the root, through a non-directory, or loops.
            FileNotFoundError: a directory is missing and ``create`` is false.
        """
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if not parts or parts[-1] == "..":
            raise _Refused(f"{path!r} names no entry below the root")
        fds = [os.dup(self.fd)]
        try:
            self._walk(fds, parts[:-1], create, path)
            top = fds.pop()
            return top, parts[-1]
        finally:
            _close_all(fds)

    def _walk(
        self, fds: list[int], pending: list[str], create: bool, path: str, *, to_file: bool = False
    ) -> str | None:
        """Descend through ``pending`` components, pushing directory fds onto ``fds``.

        With ``to_file``, a last component that is not a directory is returned (by name, in
        ``fds[-1]``) instead of refused; ``None`` means the path ended at a directory.
        """
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if len(fds) == 1:
                    raise _Refused(f"{path!r} resolves outside the root filesystem")
                os.close(fds.pop())
                continue
            try:
                st = os.stat(part, dir_fd=fds[-1], follow_symlinks=False)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fds[-1])
                fd = os.open(part, _DIR_FLAGS, dir_fd=fds[-1])
                fds.append(fd)
                os.fchown(fd, *self.owner(0, 0, path))
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise _Refused(f"{path!r}: too many symbolic links")
                target = os.readlink(part, dir_fd=fds[-1])
                if target.startswith("/"):
                    _close_all(fds[1:])
                    del fds[1:]
                pending[:0] = target.split("/")
                continue
            if not stat.S_ISDIR(st.st_mode):
                if to_file and not pending:
                    return part
                raise _Refused(f"{path!r}: {part!r} is not a directory")
            fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
        return None

    # -- removal with overlay semantics -------------------------------------------------

    def remove_lower(self, path: str, fresh: set[str]) -> None:
        """Remove ``path`` as lower layers left it; entries this layer added stay."""
        try:
            dir_fd, name = self.parent(path, create=False)
        except FileNotFoundError:
            return
        try:
            self._remove_lower(dir_fd, name, path, fresh)
        finally:
            os.close(dir_fd)

    def _remove_lower(self, dir_fd: int, name: str, path: str, fresh: set[str]) -> None:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if path not in fresh:
            _remove(dir_fd, name, st)
            return
        if stat.S_ISDIR(st.st_mode):
            self.purge_children(dir_fd, name, path, fresh)

    def purge_children(self, dir_fd: int, name: str, path: str, fresh: set[str]) -> None:
        """Remove every child of directory ``name`` that this layer did not add."""
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        try:
            for child in os.listdir(fd):
                self._remove_lower(fd, child, f"{path}/{child}" if path else child, fresh)
        finally:
            os.close(fd)

    # -- creation ------------------------------------------------------------------------

    def clear(self, dir_fd: int, name: str, *, keep_dir: bool) -> bool:
        """Make room for a new entry; ``True`` if a directory was kept in place."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if keep_dir and stat.S_ISDIR(st.st_mode):
            return True
        _remove(dir_fd, name, st)
        return False


def _remove(dir_fd: int, name: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dir_fd)  # fd-based: symlinks inside are not followed
    else:
        os.unlink(name, dir_fd=dir_fd)


class _LayerApplier:
    def __init__(
        self,
        root: _Root,
        report: UnpackReport,
        *,
        keep_setuid: bool,
        budget: list[int],
        max_entries: int,
    ) -> None:
        self.root = root
        self.report = report
        self.keep_setuid = keep_setuid
        self.budget = budget  # remaining bytes, shared across layers
        self.max_entries = max_entries
        self.fresh: set[str] = set()

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)

    def apply(self, tar: tarfile.TarFile, layer: int) -> None:
        for info in tar:
            self.report.entries += 1
            if self.report.entries > self.max_entries:
                raise SizeLimitError(f"image has more than {self.max_entries} entries")
            path, warning = normalise_member_path(info.name)
            if path is None:
                self.warn(f"layer {layer}: {warning}; skipped")
                continue
            if warning:
                self.warn(f"layer {layer}: {warning}")
            if not path:
                continue  # the root directory itself keeps its own owner and mode
            try:
                self._member(tar, info, path)
            except _Refused as exc:
                self.warn(f"layer {layer}: {exc}; skipped")

    def _member(self, tar: tarfile.TarFile, info: tarfile.TarInfo, path: str) -> None:
        base = path.rsplit("/", 1)[-1]
        if base == ".wh..wh..opq":
            directory = path.rpartition("/")[0]
            self._opaque(directory)
            return
        if base.startswith(".wh..wh."):
            return  # other aufs bookkeeping (.wh..wh.plnk …)
        if base.startswith(".wh."):
            head = path.rpartition("/")[0]
            target = f"{head}/{base[4:]}" if head else base[4:]
            if base[4:] in ("", ".", ".."):
                raise _Refused(f"whiteout {path!r} names nothing")
            self.root.remove_lower(target, self.fresh)
            return
        if info.ischr() or info.isblk():
            self.warn(f"{path}: device node skipped")
            return
        kinds = {
            tarfile.DIRTYPE: self._dir,
            tarfile.SYMTYPE: self._symlink,
            tarfile.LNKTYPE: self._hardlink,
            tarfile.FIFOTYPE: self._fifo,
        }
        handler = self._file if info.isreg() else kinds.get(info.type)
        if handler is None:
            self.warn(f"{path}: unsupported tar member type {info.type!r} skipped")
            return
        dir_fd, name = self.root.parent(path, create=True)
        try:
            handler(tar, info, path, dir_fd, name)
        finally:
            os.close(dir_fd)
        parts = path.split("/")
        self.fresh.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))

    def _opaque(self, directory: str) -> None:
        if not directory:
            for child in os.listdir(self.root.fd):
                self.root._remove_lower(self.root.fd, child, child, self.fresh)
            return
        try:
            dir_fd, name = self.root.parent(directory, create=False)
        except FileNotFoundError:
            return
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                self.root.purge_children(dir_fd, name, directory, self.fresh)
        except FileNotFoundError:
            pass
        finally:
            os.close(dir_fd)

    def _mode(self, info: tarfile.TarInfo, path: str) -> int:
        mode = info.mode & 0o7777
        if info.isreg() and mode & 0o6000 and not self.keep_setuid:
            self.report.stripped_setuid.append(path)
            mode &= ~0o6000
        return mode

    def _file(
        self, tar: tarfile.TarFile, info: tarfile.TarInfo, path: str, dir_fd: int, name: str
    ) -> None:
        if info.size > self.budget[0]:
            raise SizeLimitError(
                f"{path} ({info.size} bytes) exceeds what is left of the unpack limit"
            )
        self.root.clear(dir_fd, name, keep_dir=False)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
        try:
            source = tar.extractfile(info)
            written = 0
            if source is not None:
                try:
                    while written < info.size:
                        chunk = source.read(min(_CHUNK, info.size - written))
                        if not chunk:
                            break
                        _write_all(fd, chunk)
                        written += len(chunk)
                except (tarfile.TarError, EOFError) as exc:
                    raise UntrustedDataError(f"{path}: member is truncated") from exc
            if written != info.size:
                raise UntrustedDataError(f"{path}: member is truncated")
            self.budget[0] -= written
            self.report.bytes += written
            os.fchown(fd, *self.root.owner(info.uid, info.gid, path))
            os.fchmod(fd, self._mode(info, path))  # after chown, which clears set-id bits
            os.utime(fd, (info.mtime, info.mtime))
        finally:
            os.close(fd)

    def _dir(
        self, tar: tarfile.TarFile, info: tarfile.TarInfo, path: str, dir_fd: int, name: str
    ) -> None:
        if not self.root.clear(dir_fd, name, keep_dir=True):
            os.mkdir(name, 0o700, dir_fd=dir_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        try:
            os.fchown(fd, *self.root.owner(info.uid, info.gid, path))
            os.fchmod(fd, self._mode(info, path))
        finally:
            os.close(fd)

    def _symlink(
        self, tar: tarfile.TarFile, info: tarfile.TarInfo, path: str, dir_fd: int, name: str
    ) -> None:
        if not info.linkname or "\0" in info.linkname:
            raise _Refused(f"symlink {path!r} has no usable target")
        self.root.clear(dir_fd, name, keep_dir=False)
        os.symlink(info.linkname, name, dir_fd=dir_fd)
        owner = self.root.owner(info.uid, info.gid, path)
        os.chown(name, *owner, dir_fd=dir_fd, follow_symlinks=False)

    def _hardlink(
        self, tar: tarfile.TarFile, info: tarfile.TarInfo, path: str, dir_fd: int, name: str
    ) -> None:
        target, _ = normalise_member_path(info.linkname)
        if not target:
            raise _Refused(f"hardlink {path!r} points outside the image root")
        try:
            src_fd, src_name = self.root.parent(target, create=False)
        except FileNotFoundError:
            raise _Refused(f"hardlink {path!r}: target {target!r} does not exist") from None
        try:
            try:
                src = os.stat(src_name, dir_fd=src_fd, follow_symlinks=False)
            except FileNotFoundError:
                raise _Refused(f"hardlink {path!r}: target {target!r} does not exist") from None
            if stat.S_ISDIR(src.st_mode):
                raise _Refused(f"hardlink {path!r}: target {target!r} is a directory")
            try:
                dst = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if (dst.st_dev, dst.st_ino) == (src.st_dev, src.st_ino):
                    return
            except FileNotFoundError:
                pass
            self.root.clear(dir_fd, name, keep_dir=False)
            os.link(src_name, name, src_dir_fd=src_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
        finally:
            os.close(src_fd)

    def _fifo(
        self, tar: tarfile.TarFile, info: tarfile.TarInfo, path: str, dir_fd: int, name: str
    ) -> None:
        self.root.clear(dir_fd, name, keep_dir=False)
        os.mkfifo(name, 0o600, dir_fd=dir_fd)
        os.chown(name, *self.root.owner(info.uid, info.gid, path), dir_fd=dir_fd)
        os.chmod(name, info.mode & 0o777, dir_fd=dir_fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _layer_blobs(source: ImageSource) -> Iterator[tuple[LayerInfo, VerifyingReader]]:
    """Each layer's raw blob as a stream verified against its digest."""
    if isinstance(source, DockerArchiveSource):
        for layer, name in zip(source.info.layers, source.layer_files, strict=True):
            expected = parse_digest(layer.diff_id)
            if name.startswith("blobs/sha256/"):
                expected = parse_digest("sha256:" + name.rsplit("/", 1)[1])
            yield layer, VerifyingReader(source.archive.open(name), expected)
        return
    if isinstance(source, OciLayoutSource | RegistrySource | BlobImageSource):
        for layer in source.info.layers:
            # the sources' own opener: the same verified access the scanner uses
            yield layer, source._open(parse_digest(layer.digest))
        return
    raise UsageError(
        f"{source.info.reference}: only images (oci:, docker-archive:, a registry) can be run"
    )


def _apply_blob(
    blob: VerifyingReader,
    layer: LayerInfo,
    applier: _LayerApplier,
    limits: Limits,
) -> None:
    stream = open_layer_stream(cast(IO[bytes], blob), limits.max_layer_uncompressed_bytes)
    hashing = _Hashing(stream)
    reader = io.BufferedReader(hashing, _CHUNK)
    try:
        try:
            tar = tarfile.open(fileobj=reader, mode="r|", tarinfo=_BoundedTarInfo)  # noqa: SIM115
        except tarfile.TarError as exc:
            raise UntrustedDataError(f"layer {layer.index} is not a tar archive: {exc}") from exc
        with tar:
            try:
                applier.apply(tar, layer.index)
                while reader.read(_CHUNK):  # the rest, so the digests cover every byte
                    pass
            except (tarfile.TarError, EOFError) as exc:
                raise UntrustedDataError(f"layer {layer.index} is corrupt: {exc}") from exc
        blob.finish()
    except UntrustedDataError as exc:
        if not isinstance(exc, DigestMismatchError):
            blob.finish()  # tampering is reported as such, not as a corrupt layer
        raise
    finally:
        blob.close()
    if layer.diff_id.startswith("sha256:") and hashing.hasher.hexdigest() != layer.diff_id[7:]:
        raise DigestMismatchError(
            f"layer {layer.index}: content does not match the config's diff_id {layer.diff_id}"
        )


def unpack_image(
    source: ImageSource,
    rootfs: Path,
    *,
    ids: IdMap | None = None,
    keep_setuid: bool = False,
    limits: Limits | None = None,
    max_bytes: int | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> UnpackReport:
    """Apply every layer of ``source`` to ``rootfs`` (an empty or missing directory).

    ``max_bytes`` caps the file content written in total (default: the per-layer cap of
    ``limits``); each layer is also capped when decompressed.

    Raises:
        UsageError: ``rootfs`` is not empty, or the source is not an image.
        UntrustedDataError: a layer is corrupt, too large (:class:`SizeLimitError`) or does
            not match its digest (:class:`DigestMismatchError`).
    """
    limits = limits or Limits()
    rootfs = Path(rootfs)
    try:
        rootfs.mkdir(mode=0o755, exist_ok=True)
        if any(rootfs.iterdir()):
            raise UsageError(f"{rootfs} is not empty")
        if ids is not None:
            os.chown(rootfs, ids.uid, ids.gid)
        os.chmod(rootfs, 0o755)  # noqa: S103 - the container must read its own root
    except PermissionError as exc:
        raise UsageError(f"cannot prepare {rootfs}: {exc} (ownership mapping needs root)") from exc
    report = UnpackReport()
    root = _Root(rootfs, ids, report)
    budget = [limits.max_layer_uncompressed_bytes if max_bytes is None else max_bytes]
    try:
        for layer, blob in _layer_blobs(source):
            applier = _LayerApplier(
                root, report, keep_setuid=keep_setuid, budget=budget, max_entries=max_entries
            )
            _apply_blob(blob, layer, applier, limits)
            report.layers += 1
    except PermissionError as exc:
        raise UsageError(f"cannot write {rootfs}: {exc} (ownership mapping needs root)") from exc
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UsageError(f"no space left while unpacking into {rootfs}") from exc
        raise UntrustedDataError(f"cannot apply the image to {rootfs}: {exc}") from exc
    finally:
        root.close()
    return report


def read_in_root(rootfs: Path, path: str, limit: int) -> bytes | None:
    """The content of regular file ``path`` as the container would see it, or ``None``.

    Symbolic links resolve inside ``rootfs`` (never out of it); a file larger than
    ``limit``, missing, or not regular gives ``None``.
    """
    root = _Root(rootfs, None, UnpackReport())
    fds = [os.dup(root.fd)]
    try:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        name = root._walk(fds, parts, False, path, to_file=True)
        if name is None:
            return None
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fds[-1])
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            data = fh.read(limit + 1)
        return data if len(data) <= limit else None
    except (OSError, _Refused):
        return None
    finally:
        _close_all(fds)
        root.close()


def _stat_in_root(rootfs: Path, path: str) -> os.stat_result | None:
    """``stat`` of ``path`` resolved inside ``rootfs`` (symlinks followed, never out)."""
    root = _Root(rootfs, None, UnpackReport())
    fds = [os.dup(root.fd)]
    try:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        name = root._walk(fds, parts, False, path, to_file=True)
        if name is None:
            return os.fstat(fds[-1])
        return os.stat(name, dir_fd=fds[-1], follow_symlinks=False)
    except (OSError, _Refused):
        return None
    finally:
        _close_all(fds)
        root.close()


def find_command(
    rootfs: Path, command: str, search_path: str, cwd: str = "/"
) -> tuple[str | None, bool]:
    """Where ``command`` is in ``rootfs`` (searching ``search_path`` for a bare name) and
    whether it is an executable regular file: ``(None, False)`` when it is not there."""
    if "/" in command:
        candidates = [command if command.startswith("/") else f"{cwd}/{command}"]
    else:
        candidates = [f"{d}/{command}" for d in search_path.split(":") if d.startswith("/")]
    found = None
    for candidate in candidates:
        st = _stat_in_root(rootfs, candidate)
        if st is None:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate, True
        found = found or candidate
    return found, False


def _layout_path(rest: str) -> str:
    """The directory of ``oci:DIR[:TAG|@DIGEST]`` (DIR may itself contain colons)."""
    if os.path.exists(rest):
        return rest
    for index in range(len(rest) - 1, 0, -1):
        if rest[index] in ":@" and os.path.exists(rest[:index]):
            return rest[:index]
    raise UsageError(f"{rest.split(':')[0]!r} does not exist")


def open_pinned(
    image: str,
    digest: str,
    *,
    platform: str | None = None,
    credentials: tuple[str, str] | None = None,
    insecure: bool | None = None,
    limits: Limits | None = None,
) -> ImageSource:
    """Open ``image`` again, by the manifest ``digest`` that was verified — never its tag.

    ``digest`` may name the image manifest or the index that leads to it; the source must
    resolve to it, or the call fails.

    Raises:
        UsageError: the image kind cannot be addressed by digest (docker-archive:, dir:).
        DigestMismatchError: what was opened is not what was verified.
    """
    pinned: Digest = parse_digest(digest)
    transport, sep, rest = image.partition(":")
    if sep and transport == "oci":
        spec = f"oci:{_layout_path(rest)}@{pinned}"
    elif sep and transport in ("docker-archive", "dir"):
        raise UsageError(f"{transport}: images have no manifest digest to verify and pin")
    else:
        ref = parse_reference(image.removeprefix("docker://"))
        spec = f"{ref.registry}/{ref.repository}@{pinned}"
    source = open_source(
        spec, platform=platform, credentials=credentials, insecure=insecure, limits=limits
    )
    resolved = getattr(source, "image", None)
    found = {source.info.manifest_digest, getattr(resolved, "index_digest", None)}
    if pinned not in found:
        source.close()
        raise DigestMismatchError(f"{image}: opened {source.info.manifest_digest}, not {pinned}")
    return source


def image_config(source: ImageSource, limits: Limits | None = None) -> dict[str, Any]:
    """The image configuration (``config.Entrypoint``, ``Cmd``, ``User`` …) of ``source``,
    as verified against its digest.

    Raises:
        UsageError: the source is not an image.
        UntrustedDataError: the configuration is malformed.
    """
    if isinstance(source, OciLayoutSource | RegistrySource | BlobImageSource):
        return dict(source.image.config)
    if isinstance(source, DockerArchiveSource):
        limit = (limits or Limits()).max_manifest_bytes
        for entry in source.archive.entries:
            data = source.archive.read(str(entry.get("Config", "")), limit)
            if sha256_digest(data) == source.info.config_digest:
                doc = json.loads(data)
                if isinstance(doc, dict):
                    return doc
        raise UntrustedDataError(f"{source.info.reference}: image config not found")
    raise UsageError(f"{source.info.reference}: not an image")
