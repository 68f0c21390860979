"""Which layer brought a package in: walking back through earlier versions of a database file.

Database-style catalogers (dpkg, apk, rpm, Composer, .NET) see one file listing many
packages, rewritten by every layer that installs something. ``FileRecord.history`` holds the
earlier versions of that file (oldest first) in the uninterrupted run of layers that had it;
walking it backwards tells, per package, the oldest layer of the run that already listed it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from sealyard.sbom.catalogers.interface import FileRecord

__all__ = ["ages", "introduced_layers"]

K = TypeVar("K", bound=Hashable)


def introduced_layers(
    record: FileRecord, keys: Iterable[K], keys_of: Callable[[bytes], set[K] | None]
) -> dict[K, int]:
    """For each key, the oldest layer of the unbroken run of versions that list it.

    ``keys_of(data)`` returns the keys an earlier version lists, or ``None`` when it cannot be
    read; an unreadable or missing version ends the run.
    """
    introduced = dict.fromkeys(keys, record.layer)
    alive = set(introduced)
    cache: dict[bytes, set[K] | None] = {}
    for layer, data in reversed(record.history):
        if data is None or not alive:
            break
        if data not in cache:
            cache[data] = keys_of(data)
        present = cache[data]
        if present is None:
            break
        alive &= present
        for key in alive:
            introduced[key] = layer
    return introduced


def ages(
    record: FileRecord,
    current: Iterable[tuple[str, str]],
    parse: Callable[[bytes], set[tuple[str, str]] | None],
) -> dict[tuple[str, str], tuple[int, int]]:
    """``(layer, introduced_layer)`` for each ``(name, version)`` read from ``record``.

    ``layer`` is the oldest layer of the uninterrupted run of earlier versions of the file
    that already held this exact version, ``introduced_layer`` the oldest that held the
    package in any version. Without history both are ``record.layer``.
    """
    older: list[tuple[int, set[tuple[str, str]], set[str]]] = []
    for layer, data in reversed(record.history):
        pairs = parse(data) if data is not None else None
        if pairs is None:
            break
        older.append((layer, pairs, {n for n, _ in pairs}))
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for key in current:
        layer = introduced = record.layer
        same = True
        for old_layer, pairs, names in older:
            if key[0] not in names:
                break
            introduced = old_layer
            same = same and key in pairs
            if same:
                layer = old_layer
        out[key] = (layer, introduced)
    return out
