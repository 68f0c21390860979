"""Read the header blobs of rpm's "ndb" ``Packages.db`` (SUSE), from rpm's ``rpmpkg.c``.

Layout, all integers little-endian:

* a 32-byte file header: ``"RpmP"``, version 0, generation, number of 4 KiB slot pages,
  next package index;
* the slot pages right after it (the header takes the first two 16-byte slots): each slot is
  ``"Slot"``, package index, block offset, block count; a block offset of 0 marks a free slot;
* blobs in 16-byte blocks after the slot pages: a 16-byte head ``"BlbS"``, package index,
  timestamp, blob length; the header blob; zero padding; a 12-byte tail holding the Adler-32
  of head + blob + padding, the blob length again and ``"BlbE"``.

Every slot is checked against the file size and against its neighbours (blobs may not
overlap), so the bytes read never exceed the file size however the slots are forged.
"""

from __future__ import annotations

import struct
import zlib

from sealyard.sbom.catalogers._rpm_header import DbContents, RpmdbError

__all__ = ["NDB_MAGIC", "read_ndb"]

NDB_MAGIC = b"RpmP"
SLOT_MAGIC = b"Slot"
BLOB_MAGIC = b"BlbS"
BLOB_TAIL_MAGIC = b"BlbE"
HEADER_SIZE = 32
PAGE_SIZE = 4096
SLOT_SIZE = 16
BLOCK_SIZE = 16
BLOB_HEAD_SIZE = 16
BLOB_TAIL_SIZE = 12


def _slots(data: bytes, slot_pages: int, out: DbContents) -> list[tuple[int, int, int]]:
    slots: list[tuple[int, int, int]] = []
    bad = 0
    for offset in range(HEADER_SIZE, slot_pages * PAGE_SIZE, SLOT_SIZE):
        magic = data[offset : offset + 4]
        if magic != SLOT_MAGIC:
            bad += 1
            continue
        pkgidx, blkoff, blkcnt = struct.unpack_from("<III", data, offset + 4)
        if blkoff == 0 or pkgidx == 0:
            continue  # free slot
        slots.append((blkoff, blkcnt, pkgidx))
    if bad:
        out.problem(f"{bad} slots without the slot magic were skipped")
    return slots


def _check(data: bytes, pkgidx: int, blkoff: int, blkcnt: int, out: DbContents) -> int | None:
    """The blob length if the blob's head and tail agree with its slot (constant time)."""
    start = blkoff * BLOCK_SIZE
    end = (blkoff + blkcnt) * BLOCK_SIZE
    magic, idx, _stamp, length = struct.unpack_from("<4sIII", data, start)
    if magic != BLOB_MAGIC or idx != pkgidx:
        out.problem(f"package {pkgidx}: no blob head at block {blkoff}")
        return None
    if blkcnt != (BLOB_HEAD_SIZE + length + BLOB_TAIL_SIZE + BLOCK_SIZE - 1) // BLOCK_SIZE:
        out.problem(f"package {pkgidx}: blob of {length} bytes does not fit {blkcnt} blocks")
        return None
    _sum, tail_length, tail_magic = struct.unpack_from("<II4s", data, end - BLOB_TAIL_SIZE)
    if tail_magic != BLOB_TAIL_MAGIC or tail_length != length:
        out.problem(f"package {pkgidx}: blob tail is missing or inconsistent")
        return None
    return int(length)


def _blob(
    data: bytes, pkgidx: int, blkoff: int, blkcnt: int, length: int, out: DbContents
) -> bytes:
    start = blkoff * BLOCK_SIZE
    end = (blkoff + blkcnt) * BLOCK_SIZE
    checksum = struct.unpack_from("<I", data, end - BLOB_TAIL_SIZE)[0]
    if zlib.adler32(data[start : end - BLOB_TAIL_SIZE]) != checksum:
        # rpm itself does not verify this on reads; keep the blob (the header parser checks
        # its structure) but say that the file is damaged.
        out.problem(f"package {pkgidx}: blob checksum mismatch")
    return data[start + BLOB_HEAD_SIZE : start + BLOB_HEAD_SIZE + length]


def _slot_pages(data: bytes, declared: int, out: DbContents) -> int:
    """The declared slot page count, or, if the file cannot hold it, the pages that look
    like slot pages."""
    if declared * PAGE_SIZE <= len(data):
        return declared
    out.problem(f"{declared} slot pages declared, the file is {len(data)} bytes")
    pages = 0
    while pages < len(data) // PAGE_SIZE:
        first = HEADER_SIZE if pages == 0 else 0
        base = pages * PAGE_SIZE
        if any(
            data[base + o : base + o + 4] != SLOT_MAGIC for o in range(first, PAGE_SIZE, SLOT_SIZE)
        ):
            break
        pages += 1
    return pages


def read_ndb(data: bytes) -> DbContents:
    """Every package header blob of an ndb ``Packages.db``.

    Raises:
        RpmdbError: the file header is not an ndb header. Bad slots and blobs are
            collected in :attr:`DbContents.problems`.
    """
    if len(data) < HEADER_SIZE:
        raise RpmdbError(f"ndb file of {len(data)} bytes is truncated")
    magic, version, _generation, slot_pages = struct.unpack_from("<4sIII", data)
    if magic != NDB_MAGIC:
        raise RpmdbError("not an rpm ndb database (bad magic)")
    if version != 0:
        raise RpmdbError(f"unsupported ndb version {version}")
    if slot_pages == 0:
        raise RpmdbError("ndb file has no slot pages")
    out = DbContents()
    slot_pages = _slot_pages(data, slot_pages, out)
    first_block = slot_pages * PAGE_SIZE // BLOCK_SIZE
    file_blocks = len(data) // BLOCK_SIZE
    # Check every slot's head and tail (constant work each) before reading any blob, then
    # keep blobs that do not overlap: the bytes read never exceed the file size.
    valid: list[tuple[int, int, int, int]] = []
    for blkoff, blkcnt, pkgidx in sorted(_slots(data, slot_pages, out)):
        if blkoff < first_block or blkcnt < 2 or blkoff + blkcnt > file_blocks:
            out.problem(f"package {pkgidx}: blocks {blkoff}+{blkcnt} lie outside the blob area")
            continue
        length = _check(data, pkgidx, blkoff, blkcnt, out)
        if length is not None:
            valid.append((blkoff, blkcnt, pkgidx, length))
    seen: set[int] = set()
    previous_end = first_block
    for blkoff, blkcnt, pkgidx, length in valid:
        if blkoff < previous_end:
            out.problem(f"package {pkgidx}: blob overlaps the previous one; skipped")
            continue
        if pkgidx in seen:
            out.problem(f"package {pkgidx} has two slots; the second was skipped")
            continue
        previous_end = blkoff + blkcnt
        seen.add(pkgidx)
        out.blobs.append(_blob(data, pkgidx, blkoff, blkcnt, length, out))
    return out
