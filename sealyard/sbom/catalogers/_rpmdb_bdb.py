"""Read the values of a Berkeley DB hash database: rpm's legacy ``Packages`` file.

Pure Python, from the on-disk format (libdb ``dbinc/db_page.h``), the way go-rpmdb reads it:

* page 0 is the hash metadata page: magic ``0x061561`` at offset 12 (its byte order tells
  the byte order of the whole file), page size at 20, page type 8 at 25, last page at 32;
* every page starts with a 26-byte header: ``lsn[8], pgno, prev_pgno, next_pgno`` (u32),
  ``entries, hf_offset`` (u16), ``level, type`` (u8); checksummed databases reserve 6 more
  bytes (encrypted ones are refused);
* hash pages (type 13, or 2 for the unsorted pages of old releases) hold ``entries`` u16
  offsets to items, alternately key and data; an item starts with its type byte:
  ``H_KEYDATA`` (1) holds the bytes inline, its length given by the previous item's offset;
  ``H_OFFPAGE`` (3) names the first overflow page (u32 at +4) and the total length (u32 at +8);
* overflow pages (type 7) carry ``hf_offset`` bytes each and chain through ``next_pgno``.

Pages are scanned in file order (as go-rpmdb does), so bucket chains are never followed;
each overflow page may serve one item only, which bounds the work by the file size even for
chains that loop or are shared between items.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sealyard.sbom.catalogers._rpm_header import DbContents, RpmdbError

__all__ = ["BTREE_MAGIC", "HASH_MAGIC", "read_bdb_hash"]

HASH_MAGIC = 0x061561
BTREE_MAGIC = 0x053162

P_HASH_UNSORTED = 2
P_OVERFLOW = 7
P_HASHMETA = 8
P_HASH = 13

H_KEYDATA = 1
H_DUPLICATE = 2
H_OFFPAGE = 3
H_OFFDUP = 4

PAGE_HEADER_SIZE = 26
CHECKSUM_SIZE = 6
DBMETA_CHKSUM = 0x01
_VALID_PAGE_SIZES = frozenset(1 << n for n in range(9, 17))


@dataclass
class _Db:
    data: bytes
    order: str
    page_size: int
    pages: int
    overhead: int
    used: set[int] = field(default_factory=set)

    def page(self, pgno: int) -> bytes:
        start = pgno * self.page_size
        return self.data[start : start + self.page_size]

    def u16(self, buf: bytes, offset: int) -> int:
        value: int = struct.unpack_from(self.order + "H", buf, offset)[0]
        return value

    def u32(self, buf: bytes, offset: int) -> int:
        value: int = struct.unpack_from(self.order + "I", buf, offset)[0]
        return value


def _open(data: bytes) -> _Db:
    if len(data) < 512:
        raise RpmdbError(f"Berkeley DB file of {len(data)} bytes is truncated")
    order = ""
    for candidate in ("<", ">"):
        magic = struct.unpack_from(candidate + "I", data, 12)[0]
        if magic == HASH_MAGIC:
            order = candidate
            break
        if magic == BTREE_MAGIC:
            raise RpmdbError("Berkeley DB btree databases are not supported (expected hash)")
    if not order:
        raise RpmdbError("not a Berkeley DB hash database (bad magic)")
    page_size, encrypt, page_type, meta_flags = struct.unpack_from(order + "IBBB", data, 20)
    last_pgno = struct.unpack_from(order + "I", data, 32)[0]
    if page_size not in _VALID_PAGE_SIZES:
        raise RpmdbError(f"unexpected Berkeley DB page size {page_size}")
    if encrypt != 0:
        raise RpmdbError("encrypted Berkeley DB databases are not supported")
    if page_type != P_HASHMETA:
        raise RpmdbError(f"unexpected metadata page type {page_type}")
    pages = len(data) // page_size
    db = _Db(
        data=data,
        order=order,
        page_size=page_size,
        pages=min(pages, last_pgno + 1),
        overhead=PAGE_HEADER_SIZE + (CHECKSUM_SIZE if meta_flags & DBMETA_CHKSUM else 0),
    )
    return db


def _overflow(db: _Db, first: int, total: int, out: DbContents) -> bytes | None:
    """Concatenate an overflow chain of ``total`` bytes starting at page ``first``."""
    chunks: list[bytes] = []
    length = 0
    pgno = first
    while pgno != 0:
        if not 0 < pgno < db.pages:
            out.problem(f"overflow chain from page {first} leaves the file at page {pgno}")
            return None
        if pgno in db.used:
            out.problem(f"overflow chain from page {first} reuses page {pgno} (loop or shared)")
            return None
        db.used.add(pgno)
        page = db.page(pgno)
        if page[25] != P_OVERFLOW:
            out.problem(f"overflow chain from page {first}: page {pgno} has type {page[25]}")
            return None
        size = db.u16(page, 22)
        if db.overhead + size > db.page_size or length + size > total:
            out.problem(f"overflow page {pgno} claims {size} bytes, more than it can hold")
            return None
        chunks.append(page[db.overhead : db.overhead + size])
        length += size
        pgno = db.u32(page, 16)
    if length != total:
        out.problem(f"overflow chain from page {first} holds {length} of {total} bytes")
        return None
    return b"".join(chunks)


def _item(
    db: _Db, page: bytes, pgno: int, index: int, offsets: list[int], out: DbContents
) -> bytes | None:
    """The content of item ``index`` of a hash page, or ``None`` (with a problem noted)."""
    offset = offsets[index]
    end = db.page_size if index == 0 else offsets[index - 1]
    if not db.overhead + 2 * len(offsets) <= offset < end <= db.page_size:
        out.problem(f"page {pgno}: item {index} at offset {offset} is out of range")
        return None
    kind = page[offset]
    if kind == H_KEYDATA:
        return page[offset + 1 : end]
    if kind == H_OFFPAGE:
        if offset + 12 > end:
            out.problem(f"page {pgno}: off-page item {index} is truncated")
            return None
        first, total = db.u32(page, offset + 4), db.u32(page, offset + 8)
        if total > len(db.data):
            out.problem(f"page {pgno}: off-page item {index} claims {total} bytes")
            return None
        return _overflow(db, first, total, out)
    if kind in (H_DUPLICATE, H_OFFDUP):
        out.problem(f"page {pgno}: duplicate items are not used by rpm; skipped")
        return None
    out.problem(f"page {pgno}: unknown item type {kind}")
    return None


def read_bdb_hash(data: bytes) -> DbContents:
    """Every data item of a Berkeley DB hash file, skipping rpm's key-0 bookkeeping record.

    Raises:
        RpmdbError: the file is not a readable Berkeley DB hash database at all. Problems
            with single pages or items are collected in :attr:`DbContents.problems`.
    """
    db = _open(data)
    out = DbContents()
    declared = db.u32(data, 32) + 1
    if db.pages < declared:
        out.problem(f"file holds {db.pages} of its {declared} pages (truncated)")
    for pgno in range(1, db.pages):
        page = db.page(pgno)
        if page[25] not in (P_HASH, P_HASH_UNSORTED):
            continue
        entries = db.u16(page, 20)
        if entries % 2 or db.overhead + 2 * entries > db.page_size:
            out.problem(f"page {pgno}: bad item count {entries}")
            continue
        offsets = [db.u16(page, db.overhead + 2 * i) for i in range(entries)]
        for index in range(0, entries, 2):
            key = _item(db, page, pgno, index, offsets, out)
            if key is None:
                continue
            if key == b"\0\0\0\0":
                continue  # rpm's record 0: the next free instance number, not a header
            value = _item(db, page, pgno, index + 1, offsets, out)
            if value is not None:
                out.blobs.append(value)
    return out
