"""The layer walker: streams every layer once and keeps the final state of wanted files.

Whiteouts (``.wh.NAME``) and opaque directories (``.wh..wh..opq``) delete what lower layers
put there; entries of the same layer are never deleted by them, so member order inside a
layer does not matter. Only files some cataloger asked for are read, each up to that
cataloger's size limit. Symlinks are recorded (cheaply) so lookups can follow them, never
leaving the image root.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sealyard.errors import DigestMismatchError, SizeLimitError, UntrustedDataError
from sealyard.sbom.catalogers.interface import Cataloger, FileRecord
from sealyard.sbom.model import LayerInfo, ScanWarning
from sealyard.sbom.source import ImageSource

__all__ = ["WalkResult", "walk_image"]

MAX_SYMLINK_HOPS = 40
_V = TypeVar("_V")


@dataclass
class _Entry:
    layer: int
    first_layer: int
    size: int
    mode: int
    data: bytes | None
    wanted_by: tuple[int, ...]
    history: list[tuple[int, bytes | None]] = field(default_factory=list)


@dataclass
class WalkResult:
    files: dict[str, _Entry]
    symlinks: dict[str, tuple[str, int]]
    warnings: list[ScanWarning]
    catalogers: Sequence[Cataloger]

    def record(self, path: str, entry: _Entry, keep_history: bool) -> FileRecord:
        return FileRecord(
            path=path,
            layer=entry.layer,
            data=entry.data,
            size=entry.size,
            mode=entry.mode,
            history=tuple(entry.history) if keep_history else (),
        )

    def files_for(self, index: int) -> list[FileRecord]:
        keep = self.catalogers[index].track_history
        return [
            self.record(path, entry, keep)
            for path, entry in sorted(self.files.items())
            if index in entry.wanted_by
        ]

    def first_layer(self, path: str) -> int | None:
        entry = self.files.get(path)
        return None if entry is None else entry.first_layer

    def resolve(self, path: str) -> str | None:
        """Follow symlinks (in every component) inside the root; ``None`` on a loop."""
        parts = [p for p in path.split("/") if p and p != "."]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/".join([*resolved, part])
            link = self.symlinks.get(candidate)
            if link is None:
                resolved.append(part)
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return None
            target = link[0]
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
        return "/".join(resolved)

    def lookup(self, path: str) -> FileRecord | None:
        real = self.resolve(path)
        if real is None:
            return None
        entry = self.files.get(real)
        return None if entry is None else self.record(real, entry, False)


class _PathMap(dict[str, _V]):
    """A dict of paths that knows which directories have entries below them.

    Replacing or whiting out a directory must drop everything under it; the ancestor counts
    make that check O(depth) instead of a scan of every entry for every tar member.
    """

    def __init__(self) -> None:
        super().__init__()
        self._below: Counter[str] = Counter()

    @staticmethod
    def _ancestors(path: str) -> list[str]:
        parts = path.split("/")
        return ["/".join(parts[:i]) for i in range(1, len(parts))]

    def __setitem__(self, path: str, value: _V) -> None:
        if path not in self:
            self._below.update(self._ancestors(path))
        super().__setitem__(path, value)

    def __delitem__(self, path: str) -> None:
        super().__delitem__(path)
        self._below.subtract(self._ancestors(path))

    def pop(self, path: str, default: Any = None) -> Any:
        if path not in self:
            return default
        value = self[path]
        del self[path]
        return value

    def has_below(self, path: str) -> bool:
        return self._below.get(path, 0) > 0


def _layer_of(value: _Entry | tuple[str, int]) -> int:
    return value.layer if isinstance(value, _Entry) else value[1]


def _drop(store: _PathMap[Any], prefix: str, layer: int, *, exact: bool) -> None:
    """Remove entries of layers below ``layer`` at ``prefix`` (if ``exact``) and under it."""
    if exact and prefix in store and _layer_of(store[prefix]) < layer:
        del store[prefix]
    if not store.has_below(prefix):
        return
    below = prefix + "/"
    doomed = [
        path for path, value in store.items()
        if path.startswith(below) and _layer_of(value) < layer
    ]  # fmt: skip
    for path in doomed:
        del store[path]


def walk_image(
    source: ImageSource,
    catalogers: Sequence[Cataloger],
    extra_wanted: Callable[[str], bool] = lambda _p: False,
    progress: Callable[[LayerInfo, int], None] | None = None,
) -> WalkResult:
    """Stream all layers of ``source`` and return the wanted files in their final state.

    ``extra_wanted`` marks paths the scanner itself needs (os-release); they are kept
    under the pseudo-cataloger index ``-1``.

    Raises:
        DigestMismatchError: a layer does not match its digest (tampered input).
    """
    files: _PathMap[_Entry] = _PathMap()
    symlinks: _PathMap[tuple[str, int]] = _PathMap()
    warnings: list[ScanWarning] = []
    limits = [c.max_file_size for c in catalogers]

    def warn(kind: str, message: str, path: str = "", layer: int | None = None) -> None:
        warnings.append(ScanWarning(kind, message, path, layer, "walker"))

    for layer, members in source.iter_layers():
        n = layer.index
        count = 0
        try:
            for member in members:
                if isinstance(member, str):
                    warn("path-escape", member, layer=n)
                    continue
                count += 1
                path, kind = member.path, member.kind
                if member.warning:
                    warn("absolute-path", member.warning, path, n)
                if kind == "whiteout":
                    target = posixpath.join(posixpath.dirname(path), posixpath.basename(path)[4:])
                    _drop(files, target, n, exact=True)
                    _drop(symlinks, target, n, exact=True)
                    continue
                if kind == "opaque":
                    directory = posixpath.dirname(path)
                    _drop(files, directory, n, exact=False)
                    _drop(symlinks, directory, n, exact=False)
                    continue
                if kind != "dir":
                    # A non-directory replaces whatever lower layers had at and under it.
                    _drop(files, path, n, exact=False)
                    _drop(symlinks, path, n, exact=False)
                if kind in ("dir", "special"):
                    # ... and a directory or device replaces a file or symlink at its path.
                    files.pop(path, None)
                    symlinks.pop(path, None)
                if kind == "symlink":
                    files.pop(path, None)
                    symlinks[path] = (member.linkname, n)
                    continue
                if kind == "special":
                    if any(c.wants(path) for c in catalogers) or extra_wanted(path):
                        warn("special-file", f"{path} is a device or fifo; not read", path, n)
                    continue
                if kind not in ("file", "hardlink"):
                    continue
                symlinks.pop(path, None)
                wanted = tuple(i for i, c in enumerate(catalogers) if c.wants(path))
                if extra_wanted(path):
                    wanted += (-1,)
                if not wanted:
                    files.pop(path, None)
                    continue
                limit = max(limits[i] if i >= 0 else 1 << 20 for i in wanted)
                if kind == "hardlink":
                    linked = files.get(member.linkname)
                    if linked is None:
                        files.pop(path, None)
                        warn(
                            "hardlink-unread",
                            f"{path} links to {member.linkname}, which was not read",
                            path,
                            n,
                        )
                        continue
                    data, size = linked.data, linked.size
                else:
                    size = member.size
                    try:
                        data = member.read(limit)
                    except OSError as exc:  # dir: sources read files lazily
                        files.pop(path, None)
                        warn("unreadable", f"{path}: {exc}", path, n)
                        continue
                    if data is None:
                        warn(
                            "member-too-large",
                            f"{path} is {size} bytes; the limit for its catalogers is {limit}",
                            path,
                            n,
                        )
                previous = files.get(path)
                entry = _Entry(n, n, size, member.mode, data, wanted)
                if previous is not None:
                    entry.first_layer = previous.first_layer
                    if any(i >= 0 and catalogers[i].track_history for i in wanted):
                        entry.history = [*previous.history, (previous.layer, previous.data)]
                files[path] = entry
        except DigestMismatchError:
            raise
        except (UntrustedDataError, SizeLimitError, OSError) as exc:
            warn("layer-unreadable", f"layer {n} ({layer.digest or layer.diff_id}): {exc}", layer=n)
        if progress is not None:
            progress(layer, count)
    return WalkResult(files, symlinks, warnings, catalogers)
