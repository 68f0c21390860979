"""Decode an rpm header blob, the value every rpmdb backend stores per package.

The blob (rpm's ``headerExport`` form, without the 8-byte intro magic of a ``.rpm`` file):

* ``il`` (int32, big-endian): number of index entries;
* ``dl`` (int32): length of the data store;
* ``il`` entries of 16 bytes: ``tag, type, offset, count`` (int32 each, big-endian);
* ``dl`` bytes of data; each entry's value starts at ``offset`` in the data store.

Only the tags the cataloger needs are decoded; every offset and count is checked against
the blob before it is used, so a hostile header yields :class:`RpmdbError`, never an
``IndexError`` or a huge allocation. Entries added after the immutable region (rpm's
"dribble" entries, e.g. install time) override region entries of the same tag, as in rpm.
"""

from __future__ import annotations

import posixpath
import struct
from dataclasses import dataclass, field

from sealyard.errors import UntrustedDataError

__all__ = [
    "TAG_ARCH",
    "TAG_NAME",
    "DbContents",
    "RpmHeaderInfo",
    "RpmdbError",
    "parse_header",
    "read_name_arch",
]


class RpmdbError(UntrustedDataError):
    """An rpm database or one of its header blobs is malformed or hostile."""


MAX_PROBLEMS = 20


@dataclass
class DbContents:
    """Header blobs read from a database, and what was wrong along the way."""

    blobs: list[bytes] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    suppressed: int = 0

    def problem(self, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.suppressed += 1


# Header tags (rpmtag.h).
TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_SIZE = 1009
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_OLDFILENAMES = 1027
TAG_SOURCERPM = 1044
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118
TAG_LONGSIZE = 5009
TAG_MODULARITYLABEL = 5096

# Header entry types (rpmTagType).
TYPE_INT32 = 4
TYPE_INT64 = 5
TYPE_STRING = 6
TYPE_STRING_ARRAY = 8
TYPE_I18NSTRING = 9

_STRING_TYPES = frozenset({TYPE_STRING, TYPE_I18NSTRING, TYPE_STRING_ARRAY})
_ARRAY_TYPES = frozenset({TYPE_STRING_ARRAY})
_INT32_TYPES = frozenset({TYPE_INT32})
_INT64_TYPES = frozenset({TYPE_INT64})
_STRING_TAGS = frozenset(
    {
        TAG_NAME,
        TAG_VERSION,
        TAG_RELEASE,
        TAG_VENDOR,
        TAG_LICENSE,
        TAG_ARCH,
        TAG_SOURCERPM,
        TAG_MODULARITYLABEL,
    }
)
_INT_TAGS = frozenset({TAG_EPOCH, TAG_SIZE, TAG_LONGSIZE})
_ARRAY_TAGS = frozenset({TAG_OLDFILENAMES, TAG_BASENAMES, TAG_DIRNAMES})
_ALL_TAGS = _STRING_TAGS | _INT_TAGS | _ARRAY_TAGS | {TAG_DIRINDEXES}
_NAME_ARCH = frozenset({TAG_NAME, TAG_ARCH})

# rpm's own sanity limits (header_internal.h: hdrchkTags / HEADER_DATA_MAX).
MAX_INDEX_ENTRIES = 0xFFFF
MAX_DATA_LENGTH = 0x0FFFFFFF
_ENTRY = struct.Struct(">iiii")
_INTRO = struct.Struct(">ii")


@dataclass(frozen=True)
class RpmHeaderInfo:
    """What the cataloger keeps of one installed package's header."""

    name: str
    version: str
    release: str
    arch: str
    epoch: int | None = None
    source_rpm: str = ""
    license: str = ""
    vendor: str = ""
    size: int | None = None
    modularity_label: str = ""
    files: tuple[str, ...] = ()


@dataclass
class _Tags:
    strings: dict[int, str]
    arrays: dict[int, tuple[str, ...]]
    ints: dict[int, tuple[int, ...]]


def _index(blob: bytes) -> tuple[list[tuple[int, int, int, int]], bytes]:
    """The index entries and the data store, after checking the two counts."""
    if len(blob) < _INTRO.size:
        raise RpmdbError(f"header blob of {len(blob)} bytes is too short")
    il, dl = _INTRO.unpack_from(blob)
    if not 0 < il <= MAX_INDEX_ENTRIES:
        raise RpmdbError(f"header index count {il} out of range")
    if not 0 <= dl <= MAX_DATA_LENGTH:
        raise RpmdbError(f"header data length {dl} out of range")
    start = _INTRO.size + il * _ENTRY.size
    if start + dl > len(blob):
        raise RpmdbError(
            f"header claims {il} entries and {dl} data bytes but the blob has {len(blob)} bytes"
        )
    entries = [_ENTRY.unpack_from(blob, _INTRO.size + i * _ENTRY.size) for i in range(il)]
    return entries, blob[start : start + dl]


def _strings(store: bytes, offset: int, count: int, tag: int) -> tuple[str, ...]:
    if count < 1 or count > len(store) - offset:
        raise RpmdbError(f"tag {tag}: string count {count} out of range")
    parts = store[offset:].split(b"\0", count)
    if len(parts) <= count:
        raise RpmdbError(f"tag {tag}: unterminated string")
    return tuple(part.decode("utf-8", "replace") for part in parts[:count])


def _ints(store: bytes, offset: int, count: int, tag: int, width: int) -> tuple[int, ...]:
    if count < 1 or count * width > len(store) - offset:
        raise RpmdbError(f"tag {tag}: integer count {count} out of range")
    code = "I" if width == 4 else "Q"
    return struct.unpack_from(f">{count}{code}", store, offset)


def _expect(tag: int, type_: int, allowed: frozenset[int]) -> None:
    if type_ not in allowed:
        raise RpmdbError(f"tag {tag}: unexpected entry type {type_}")


def _decode(
    entries: list[tuple[int, int, int, int]], store: bytes, wanted: frozenset[int]
) -> _Tags:
    tags = _Tags({}, {}, {})
    for tag, type_, offset, count in entries:
        if tag not in wanted:
            continue
        if not 0 <= offset < len(store):
            raise RpmdbError(f"tag {tag}: offset {offset} outside the data store")
        if tag in _STRING_TAGS:
            _expect(tag, type_, _STRING_TYPES)
            n = 1 if type_ == TYPE_STRING else count
            tags.strings[tag] = _strings(store, offset, n, tag)[0]
        elif tag in _ARRAY_TAGS:
            _expect(tag, type_, _ARRAY_TYPES)
            tags.arrays[tag] = _strings(store, offset, count, tag)
        elif tag == TAG_LONGSIZE:
            _expect(tag, type_, _INT64_TYPES)
            tags.ints[tag] = _ints(store, offset, count, tag, 8)
        else:  # EPOCH, SIZE, DIRINDEXES
            _expect(tag, type_, _INT32_TYPES)
            tags.ints[tag] = _ints(store, offset, count, tag, 4)
    return tags


def read_name_arch(blob: bytes) -> tuple[str, str]:
    """Just ``(name, arch)``: cheap enough to run on every earlier version of a database.

    Raises:
        RpmdbError: the blob is malformed.
    """
    entries, store = _index(blob)
    tags = _decode(entries, store, _NAME_ARCH)
    return tags.strings.get(TAG_NAME, ""), tags.strings.get(TAG_ARCH, "")


def _owned_files(tags: _Tags) -> tuple[str, ...]:
    basenames = tags.arrays.get(TAG_BASENAMES, ())
    paths: list[str] = []
    if basenames:
        dirnames = tags.arrays.get(TAG_DIRNAMES, ())
        dirindexes = tags.ints.get(TAG_DIRINDEXES, ())
        if len(dirindexes) != len(basenames):
            raise RpmdbError(f"{len(basenames)} basenames but {len(dirindexes)} directory indexes")
        for base, idx in zip(basenames, dirindexes, strict=True):
            if idx >= len(dirnames):
                raise RpmdbError(f"directory index {idx} out of range")
            paths.append(dirnames[idx] + base)
    else:
        paths.extend(tags.arrays.get(TAG_OLDFILENAMES, ()))
    out: list[str] = []
    for path in paths:
        if "//" in path or "/." in path or path.endswith("/") or not path.startswith("/"):
            path = posixpath.normpath("/" + path)
        path = path.lstrip("/")
        if path:
            out.append(path)
    return tuple(out)


def parse_header(blob: bytes) -> RpmHeaderInfo:
    """Decode the tags Sealyard needs from one header blob.

    Raises:
        RpmdbError: the blob is malformed (bad counts, offsets past the end, wrong tag
            types, missing name/version).
    """
    entries, store = _index(blob)
    tags = _decode(entries, store, _ALL_TAGS)
    name = tags.strings.get(TAG_NAME, "")
    version = tags.strings.get(TAG_VERSION, "")
    if not name or not version:
        raise RpmdbError("header has no name or no version")
    epoch = tags.ints.get(TAG_EPOCH, ())
    size = tags.ints.get(TAG_LONGSIZE) or tags.ints.get(TAG_SIZE, ())
    return RpmHeaderInfo(
        name=name,
        version=version,
        release=tags.strings.get(TAG_RELEASE, ""),
        arch=tags.strings.get(TAG_ARCH, ""),
        epoch=epoch[0] if epoch else None,
        source_rpm=tags.strings.get(TAG_SOURCERPM, ""),
        license=tags.strings.get(TAG_LICENSE, ""),
        vendor=tags.strings.get(TAG_VENDOR, ""),
        size=size[0] if size else None,
        modularity_label=tags.strings.get(TAG_MODULARITYLABEL, ""),
        files=_owned_files(tags),
    )
