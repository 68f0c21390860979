"""Builders for rpm header blobs and the three rpmdb backends, in real file formats.

* :func:`header_blob` encodes an rpm header the way rpm stores it in a database (index
  count, data length, big-endian index entries, aligned data store, optional immutable
  region with its trailer, optional dribble entries after the region);
* :func:`sqlite_rpmdb` creates rpm's ``Packages`` table with :mod:`sqlite3` and serialises it,
  left in WAL mode like the files rpm writes;
* :func:`bdb_hash` writes a Berkeley DB 5.x hash database (metadata page, bucket page chain,
  overflow page chains) that ``db5.3_verify`` accepts and ``db5.3_dump`` reads, in either
  byte order;
* :func:`ndb_rpmdb` writes rpm's ndb ``Packages.db`` as ``rpmpkg.c`` does.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

# rpm tag numbers and types (rpmtag.h)
HEADERIMMUTABLE = 63
NAME, VERSION, RELEASE, EPOCH, SUMMARY, SIZE, VENDOR, LICENSE, ARCH = (
    1000,
    1001,
    1002,
    1003,
    1004,
    1009,
    1011,
    1014,
    1022,
)
OLDFILENAMES, SOURCERPM, INSTALLTIME = 1027, 1044, 1008
DIRINDEXES, BASENAMES, DIRNAMES = 1116, 1117, 1118
MODULARITYLABEL = 5096

LONGSIZE = 5009

BIN, INT32, INT64, STRING, STRING_ARRAY, I18NSTRING = 7, 4, 5, 6, 8, 9

Value = str | int | bytes | Sequence[str] | Sequence[int]


@dataclass(frozen=True)
class Entry:
    tag: int
    type: int
    value: Value


def _encode(entry: Entry) -> tuple[bytes, int, int]:
    """(data, count, alignment) of one entry."""
    v = entry.value
    if entry.type == STRING:
        assert isinstance(v, str)
        return v.encode() + b"\0", 1, 1
    if entry.type in (STRING_ARRAY, I18NSTRING):
        assert not isinstance(v, int | bytes)
        items = [v] if isinstance(v, str) else [str(i) for i in v]
        return b"".join(i.encode() + b"\0" for i in items), len(items), 1
    if entry.type == INT32:
        ints = [v] if isinstance(v, int) else list(v)
        return struct.pack(f">{len(ints)}I", *ints), len(ints), 4
    if entry.type == INT64:
        longs = [v] if isinstance(v, int) else list(v)
        return struct.pack(f">{len(longs)}Q", *longs), len(longs), 8
    if entry.type == BIN:
        assert isinstance(v, bytes)
        return v, len(v), 1
    raise ValueError(entry.type)


def header_blob(
    entries: Sequence[Entry], *, region: bool = True, dribbles: Sequence[Entry] = ()
) -> bytes:
    """An rpm header blob as stored in an rpmdb.

    With ``region`` the entries form an immutable region (tag 63 first, its 16-byte trailer
    at the end of the region's data), as in every installed header; ``dribbles`` are
    entries rpm appends outside the region at install time.
    """
    index: list[tuple[int, int, int, int]] = []
    store = bytearray()

    def add(entry: Entry) -> None:
        data, count, align = _encode(entry)
        while len(store) % align:
            store.append(0)
        index.append((entry.tag, entry.type, len(store), count))
        store.extend(data)

    if region:
        index.append((HEADERIMMUTABLE, BIN, 0, 16))  # offset fixed below
    for entry in entries:
        add(entry)
    if region:
        region_entries = len(index)
        trailer_offset = len(store)
        store.extend(struct.pack(">iiii", HEADERIMMUTABLE, BIN, -(region_entries * 16), 16))
        index[0] = (HEADERIMMUTABLE, BIN, trailer_offset, 16)
    for entry in dribbles:
        add(entry)
    out = bytearray(struct.pack(">ii", len(index), len(store)))
    for item in index:
        out += struct.pack(">iiii", *item)
    return bytes(out + store)


def package_header(
    name: str,
    version: str = "1.0",
    release: str = "1.el9",
    arch: str = "x86_64",
    *,
    epoch: int | None = None,
    source_rpm: str | None = None,
    license: str = "MIT",
    vendor: str = "Sealyard Test",
    size: int = 1234,
    modularity_label: str | None = None,
    files: Sequence[str] = (),
    old_filenames: bool = False,
    padding: int = 0,
) -> bytes:
    """A realistic installed-package header; ``padding`` adds a summary of that many bytes
    (real headers are several KiB, larger than a Berkeley DB page)."""
    entries = [
        Entry(NAME, STRING, name),
        Entry(VERSION, STRING, version),
        Entry(RELEASE, STRING, release),
    ]
    if epoch is not None:
        entries.append(Entry(EPOCH, INT32, epoch))
    entries += [
        Entry(SUMMARY, I18NSTRING, "test package " + "x" * padding),
        Entry(SIZE, INT32, size),
        Entry(VENDOR, STRING, vendor),
        Entry(LICENSE, STRING, license),
        Entry(ARCH, STRING, arch),
    ]
    if files:
        if old_filenames:
            entries.append(Entry(OLDFILENAMES, STRING_ARRAY, list(files)))
        else:
            dirs: list[str] = []
            bases: list[str] = []
            indexes: list[int] = []
            for path in files:
                d, _, b = path.rpartition("/")
                d += "/"
                if d not in dirs:
                    dirs.append(d)
                indexes.append(dirs.index(d))
                bases.append(b)
            entries += [
                Entry(DIRINDEXES, INT32, indexes),
                Entry(BASENAMES, STRING_ARRAY, bases),
                Entry(DIRNAMES, STRING_ARRAY, dirs),
            ]
    srpm = f"{name}-{version}-{release}.src.rpm" if source_rpm is None else source_rpm
    if srpm:
        entries.append(Entry(SOURCERPM, STRING, srpm))
    if modularity_label:
        entries.append(Entry(MODULARITYLABEL, STRING, modularity_label))
    return header_blob(entries, dribbles=[Entry(INSTALLTIME, INT32, 1_700_000_000)])


# --- SQLite -------------------------------------------------------------------------------


def sqlite_rpmdb(blobs: Sequence[bytes | object], *, wal: bool = True) -> bytes:
    """rpm's SQLite database with one ``Packages`` row per blob (hnum 1, 2, …)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(
            "CREATE TABLE 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE 'Name' (key 'TEXT' NOT NULL, hnum INTEGER NOT NULL, "
            "idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))"
        )
        conn.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
        conn.commit()
        data = bytearray(conn.serialize())
    finally:
        conn.close()
    if wal:
        data[18] = data[19] = 2  # what rpm's "PRAGMA journal_mode = WAL" leaves on disk
    return bytes(data)


# --- Berkeley DB hash ---------------------------------------------------------------------

_HASH_MAGIC = 0x061561
_CHARKEY = b"%$sniglet^&"


def _fnv(data: bytes) -> int:
    """libdb's default hash function (``__ham_func5``: FNV-1a with a zero basis)."""
    h = 0
    for byte in data:
        h ^= byte
        h = (h * 16777619) & 0xFFFFFFFF
    return h


def _page_header(
    order: str, pgno: int, prev: int, nxt: int, entries: int, hf: int, ptype: int
) -> bytes:
    return struct.pack(order + "IIIIIHHBB", 0, 1, pgno, prev, nxt, entries, hf, 0, ptype)


def bdb_hash(
    items: Sequence[tuple[bytes, bytes]],
    *,
    order: str = "<",
    page_size: int = 4096,
    checksum: bool = False,
) -> bytes:
    """A Berkeley DB hash database holding ``items`` (key, value) in one bucket.

    One bucket (``max_bucket`` 0) is a valid if degenerate hash table: every key hashes
    to it, its pages chain through ``next_pgno``. Items larger than a quarter page go to
    overflow page chains, as libdb does. ``checksum`` sets the checksum flag and leaves the
    6-byte checksum area (zeroed: libdb would reject the file, readers that skip checksums
    do not).
    """
    overhead = 26 + (6 if checksum else 0)
    big = page_size // 4
    pages: dict[int, bytes] = {}
    # Plan the bucket pages: each item is (kind byte + payload).
    encoded: list[tuple[bytes, bytes | None]] = []  # (inline item bytes, overflow payload)
    for key, value in items:
        for part in (key, value):
            if 1 + len(part) > big:
                encoded.append((b"", part))
            else:
                encoded.append((b"\x01" + part, None))
    # Assign bucket pages greedily, pairs kept together.
    bucket_pages: list[list[int]] = [[]]
    free = page_size - overhead
    for i in range(0, len(encoded), 2):
        need = sum(2 + (len(e[0]) if e[1] is None else 12) for e in encoded[i : i + 2])
        if need > free:
            bucket_pages.append([])
            free = page_size - overhead
        bucket_pages[-1].extend((i, i + 1))
        free -= need
    next_pgno = 1 + len(bucket_pages)
    # Overflow chains.
    item_bytes: list[bytes] = []
    for inline, payload in encoded:
        if payload is None:
            item_bytes.append(inline)
            continue
        first = next_pgno
        chunk = page_size - overhead
        parts = [payload[i : i + chunk] for i in range(0, len(payload), chunk)] or [b""]
        for n, part in enumerate(parts):
            pgno = next_pgno + n
            prev = pgno - 1 if n else 0
            nxt = pgno + 1 if n + 1 < len(parts) else 0
            head = _page_header(order, pgno, prev, nxt, 1, len(part), 7)
            head += b"\0" * (overhead - 26)
            pages[pgno] = (head + part).ljust(page_size, b"\0")
        next_pgno += len(parts)
        item_bytes.append(struct.pack(order + "B3xII", 3, first, len(payload)))
    for n, members in enumerate(bucket_pages):
        pgno = 1 + n
        body = bytearray(page_size)
        top = page_size
        offsets: list[int] = []
        for i in members:
            data = item_bytes[i]
            top -= len(data)
            body[top : top + len(data)] = data
            offsets.append(top)
        prev = pgno - 1 if n else 0
        nxt = pgno + 1 if n + 1 < len(bucket_pages) else 0
        head = _page_header(order, pgno, prev, nxt, len(offsets), top, 13)
        head += b"\0" * (overhead - 26)
        head += struct.pack(order + f"{len(offsets)}H", *offsets)
        body[: len(head)] = head
        pages[pgno] = bytes(body)
    last = next_pgno - 1
    meta = bytearray(page_size)
    struct.pack_into(
        order + "IIIIIIBBBBIIIIII",
        meta,
        0,
        0,
        1,  # lsn
        0,  # pgno
        _HASH_MAGIC,
        9,  # hash version of Berkeley DB 4.x/5.x
        page_size,
        0,  # encrypt_alg
        8,  # P_HASHMETA
        1 if checksum else 0,
        0,
        0,  # free list
        last,
        0,  # nparts
        0,  # key_count
        0,  # record_count
        0,  # flags
    )
    meta[52:72] = b"sealyard-fixture-uid"
    # max_bucket 0, high_mask 0, low_mask (high_mask + 1) // 2 - 1 as libdb computes it
    struct.pack_into(order + "IIIIII", meta, 72, 0, 0, 0xFFFFFFFF, 0, len(items), _fnv(_CHARKEY))
    struct.pack_into(order + "I", meta, 96, 1)  # spares[0]: bucket 0 is page 1
    return bytes(meta) + b"".join(pages[p] for p in range(1, last + 1))


def rpm_bdb(blobs: Sequence[bytes], *, order: str = "<", page_size: int = 4096) -> bytes:
    """rpm's ``Packages``: key = instance number (native order), value = header blob, plus
    rpm's record 0 holding the next instance number."""
    return bdb_hash(rpm_items(blobs, order=order), order=order, page_size=page_size)


def db_load_input(items: Sequence[tuple[bytes, bytes]], *, order: str, page_size: int) -> str:
    """The ``db_dump -p``-style text ``db_load`` reads to create a genuine hash database."""
    lorder = "1234" if order == "<" else "4321"
    lines = [
        "VERSION=3",
        "format=bytevalue",
        "type=hash",
        f"db_pagesize={page_size}",
        f"db_lorder={lorder}",
        "HEADER=END",
    ]
    for key, value in items:
        lines += [" " + key.hex(), " " + value.hex()]
    lines.append("DATA=END")
    return "\n".join(lines) + "\n"


def rpm_items(blobs: Sequence[bytes], *, order: str = "<") -> list[tuple[bytes, bytes]]:
    """Key/value pairs of rpm's ``Packages``: instance number (native order) → header."""
    items = [(struct.pack(order + "I", 0), struct.pack(order + "I", len(blobs) + 1))]
    items += [(struct.pack(order + "I", n + 1), blob) for n, blob in enumerate(blobs)]
    return items


# --- ndb ----------------------------------------------------------------------------------

NDB_PAGE = 4096


def ndb_rpmdb(blobs: Sequence[bytes], *, slot_pages: int = 1, first_pkgidx: int = 1) -> bytes:
    """rpm's ndb ``Packages.db`` with one slot and one blob per header."""
    slots_per_page = NDB_PAGE // 16
    assert len(blobs) <= slot_pages * slots_per_page - 2
    area = bytearray(slot_pages * NDB_PAGE)
    struct.pack_into("<4sIIII", area, 0, b"RpmP", 0, 7, slot_pages, first_pkgidx + len(blobs))
    for slot in range(2, slot_pages * slots_per_page):
        area[slot * 16 : slot * 16 + 4] = b"Slot"
    blocks = bytearray()
    blkoff = len(area) // 16
    for n, blob in enumerate(blobs):
        pkgidx = first_pkgidx + n
        blkcnt = (16 + len(blob) + 12 + 15) // 16
        head = struct.pack("<4sIII", b"BlbS", pkgidx, 1_700_000_000, len(blob))
        pad = b"\0" * (blkcnt * 16 - 16 - len(blob) - 12)
        body = head + blob + pad
        blocks += body + struct.pack("<II4s", zlib.adler32(body), len(blob), b"BlbE")
        struct.pack_into("<4sIII", area, (2 + n) * 16, b"Slot", pkgidx, blkoff, blkcnt)
        blkoff += blkcnt
    return bytes(area + blocks)
