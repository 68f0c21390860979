"""The rpm cataloger: header blobs and the SQLite, Berkeley DB hash and ndb backends."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import struct
import subprocess
import time
from pathlib import Path

import pytest

from sealyard.sbom.catalogers import rpm as rpm_module
from sealyard.sbom.catalogers._rpm_header import RpmdbError, parse_header, read_name_arch
from sealyard.sbom.catalogers._rpmdb_bdb import read_bdb_hash
from sealyard.sbom.catalogers._rpmdb_ndb import read_ndb
from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.catalogers.rpm import DB_PATHS, RpmCataloger, read_rpmdb
from sealyard.sbom.model import Distro, Location, Package
from tests.conftest import need
from tests.sbom.catalogers import rpm_fixtures as fx

RHEL9 = Distro(id="rhel", version_id="9.3", name="Red Hat Enterprise Linux")
SQLITE = "var/lib/rpm/rpmdb.sqlite"
BDB = "var/lib/rpm/Packages"
NDB = "usr/lib/sysimage/rpm/Packages.db"


def _record(
    path: str,
    data: bytes | None,
    layer: int = 0,
    history: tuple[tuple[int, bytes | None], ...] = (),
) -> FileRecord:
    return FileRecord(path=path, layer=layer, data=data, size=len(data or b""), history=history)


def _catalog(*records: FileRecord, distro: Distro | None = RHEL9) -> CatalogResult:
    return RpmCataloger().catalog(ImageFiles(files=records, distro=distro))


def _by_name(result: CatalogResult) -> dict[str, Package]:
    return {p.name: p for p in result.packages}


def _headers() -> list[bytes]:
    return [
        fx.package_header(
            "openssl-libs",
            "3.0.7",
            "27.el9",
            epoch=1,
            source_rpm="openssl-3.0.7-27.el9.src.rpm",
            license="ASL 2.0",
            vendor="Red Hat, Inc.",
            size=6_000_000,
            files=["/usr/lib64/libssl.so.3", "/usr/lib64/libcrypto.so.3", "/etc/pki/tls/ct.cnf"],
            padding=3000,
        ),
        fx.package_header(
            "nodejs",
            "18.19.0",
            "1.module+el9.3.0+20000+abcdef12",
            modularity_label="nodejs:18:9030020231120:abcdef12",
            files=["/usr/bin/node"],
        ),
        fx.package_header("gpg-pubkey", "fd431d51", "4ae0493b", arch="", source_rpm=""),
        fx.package_header(
            "tzdata", "2024a", "1.el9", arch="noarch", files=["/usr/share/zoneinfo/UTC"]
        ),
    ]


# --- header blobs -------------------------------------------------------------------------


def test_header_fields_and_owned_files() -> None:
    info = parse_header(_headers()[0])
    assert (info.name, info.version, info.release, info.arch) == (
        "openssl-libs",
        "3.0.7",
        "27.el9",
        "x86_64",
    )
    assert info.epoch == 1
    assert info.source_rpm == "openssl-3.0.7-27.el9.src.rpm"
    assert info.license == "ASL 2.0"
    assert info.vendor == "Red Hat, Inc."
    assert info.size == 6_000_000
    assert info.files == (
        "usr/lib64/libssl.so.3",
        "usr/lib64/libcrypto.so.3",
        "etc/pki/tls/ct.cnf",
    )
    assert read_name_arch(_headers()[0]) == ("openssl-libs", "x86_64")


def test_header_without_epoch_and_with_modularity_label() -> None:
    info = parse_header(_headers()[1])
    assert info.epoch is None
    assert info.modularity_label == "nodejs:18:9030020231120:abcdef12"


def test_header_longsize_wins_over_size() -> None:
    blob = fx.header_blob(
        [
            fx.Entry(fx.NAME, fx.STRING, "huge"),
            fx.Entry(fx.VERSION, fx.STRING, "1"),
            fx.Entry(fx.SIZE, fx.INT32, 1),
            fx.Entry(fx.LONGSIZE, fx.INT64, 5_000_000_000),
        ]
    )
    assert parse_header(blob).size == 5_000_000_000
    with pytest.raises(RpmdbError, match="unexpected entry type"):
        parse_header(_patch_entry(blob, fx.LONGSIZE, type_=fx.INT32))


def test_header_legacy_oldfilenames() -> None:
    blob = fx.package_header("bash", files=["/bin/bash", "/etc/skel/.bashrc"], old_filenames=True)
    assert parse_header(blob).files == ("bin/bash", "etc/skel/.bashrc")


def test_header_without_region_and_i18n_name() -> None:
    blob = fx.header_blob(
        [
            fx.Entry(fx.NAME, fx.I18NSTRING, ["zsh", "zsh-localised"]),
            fx.Entry(fx.VERSION, fx.STRING, "5.9"),
        ],
        region=False,
    )
    info = parse_header(blob)
    assert (info.name, info.version, info.release, info.arch, info.files) == (
        "zsh",
        "5.9",
        "",
        "",
        (),
    )


def test_header_dribble_entry_overrides_region() -> None:
    blob = fx.header_blob(
        [fx.Entry(fx.NAME, fx.STRING, "a"), fx.Entry(fx.VERSION, fx.STRING, "1")],
        dribbles=[fx.Entry(fx.VERSION, fx.STRING, "2")],
    )
    assert parse_header(blob).version == "2"


def test_header_paths_are_normalised() -> None:
    blob = fx.package_header("x", files=["/usr/../etc/x.conf", "//opt//a/./b", "/", "rel/d/"])
    assert parse_header(blob).files == ("etc/x.conf", "opt/a/b", "rel/d")


def _patch_entry(
    blob: bytes,
    tag: int,
    *,
    type_: int | None = None,
    offset: int | None = None,
    count: int | None = None,
) -> bytes:
    il = struct.unpack_from(">i", blob)[0]
    out = bytearray(blob)
    for i in range(il):
        pos = 8 + 16 * i
        t, ty, off, cnt = struct.unpack_from(">iiii", blob, pos)
        if t == tag:
            struct.pack_into(
                ">iiii",
                out,
                pos,
                t,
                ty if type_ is None else type_,
                off if offset is None else offset,
                cnt if count is None else count,
            )
    return bytes(out)


_GOOD = fx.package_header("good", epoch=3, files=["/a/b", "/a/c"])


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "too short"),
        (_GOOD[:100], "blob has"),
        (struct.pack(">ii", 0x7FFFFFFF, 16) + _GOOD[8:], "index count"),
        (struct.pack(">ii", -1, 16) + _GOOD[8:], "index count"),
        (_GOOD[:4] + struct.pack(">i", 0x7FFFFFFF) + _GOOD[8:], "data length"),
        (_patch_entry(_GOOD, fx.NAME, offset=0x7FFFFFF0), "outside the data store"),
        (_patch_entry(_GOOD, fx.NAME, offset=-4), "outside the data store"),
        (_patch_entry(_GOOD, fx.NAME, type_=fx.INT32), "unexpected entry type"),
        (_patch_entry(_GOOD, fx.BASENAMES, count=2**31 - 1), "count"),
        (_patch_entry(_GOOD, fx.DIRINDEXES, count=2**31 - 1), "count"),
        (_patch_entry(_GOOD, fx.DIRINDEXES, count=1), "directory indexes"),
        (_patch_entry(_GOOD, fx.BASENAMES, type_=fx.STRING), "unexpected entry type"),
        (_patch_entry(_GOOD, fx.EPOCH, type_=fx.STRING), "unexpected entry type"),
        (fx.header_blob([fx.Entry(fx.VERSION, fx.STRING, "1")]), "no name"),
    ],
)
def test_hostile_headers_raise_rpmdb_error(blob: bytes, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(RpmdbError, match=message):
        parse_header(blob)
    assert time.monotonic() - started < 1


def test_header_dirindex_out_of_range() -> None:
    blob = fx.header_blob(
        [
            fx.Entry(fx.NAME, fx.STRING, "x"),
            fx.Entry(fx.VERSION, fx.STRING, "1"),
            fx.Entry(fx.DIRINDEXES, fx.INT32, [5]),
            fx.Entry(fx.BASENAMES, fx.STRING_ARRAY, ["f"]),
            fx.Entry(fx.DIRNAMES, fx.STRING_ARRAY, ["/d/"]),
        ]
    )
    with pytest.raises(RpmdbError, match="directory index 5"):
        parse_header(blob)


def test_header_unterminated_string() -> None:
    blob = fx.header_blob(
        [fx.Entry(fx.VERSION, fx.STRING, "1"), fx.Entry(fx.NAME, fx.STRING, "abc")],
        region=False,
    )
    il, dl = struct.unpack_from(">ii", blob)
    cut = struct.pack(">ii", il, dl - 1) + blob[8:-1]  # drop the final NUL
    with pytest.raises(RpmdbError, match="unterminated"):
        parse_header(cut)


def test_huge_string_array_count_is_bounded_by_the_store() -> None:
    # 2 MiB of NULs and a count of 2**31 - 1: rejected before any loop runs.
    blob = fx.header_blob(
        [
            fx.Entry(fx.NAME, fx.STRING, "x"),
            fx.Entry(fx.VERSION, fx.STRING, "1"),
            fx.Entry(fx.BASENAMES, fx.BIN, b"\0" * (2 * 1024 * 1024)),
        ],
        region=False,
    )
    blob = _patch_entry(blob, fx.BASENAMES, type_=fx.STRING_ARRAY, count=2**31 - 1)
    started = time.monotonic()
    with pytest.raises(RpmdbError, match="count"):
        parse_header(blob)
    assert time.monotonic() - started < 1


# --- the cataloger on each backend --------------------------------------------------------


def test_wants_only_rpm_databases() -> None:
    cataloger = RpmCataloger()
    for path in sorted(DB_PATHS):
        assert cataloger.wants(path)
    assert cataloger.wants("var/lib/rpm/rpmdb.sqlite-wal")
    assert cataloger.track_history
    for path in (
        "var/lib/rpm/Name",
        "var/lib/rpm/rpmdb.sqlite-shm",
        "var/lib/dpkg/status",
        "srv/var/lib/rpm/Packages",
        "/var/lib/rpm/Packages",
    ):
        assert not cataloger.wants(path)


def _check_rhel_packages(result: CatalogResult, path: str, layer: int) -> None:
    pkgs = _by_name(result)
    assert sorted(pkgs) == ["nodejs", "openssl-libs", "tzdata"]  # gpg-pubkey is not software
    ssl = pkgs["openssl-libs"]
    assert ssl.version == "1:3.0.7-27.el9"
    assert ssl.type == "rpm"
    assert ssl.found_by == "rpm"
    assert ssl.purl == (
        "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.3&epoch=1"
        "&upstream=openssl-3.0.7-27.el9.src.rpm"
    )
    assert ssl.locations == (Location(path, layer),)
    assert ssl.layer == layer
    assert ssl.introduced_layer == layer
    assert ssl.licenses == ("Apache-2.0",)
    assert ssl.metadata == {
        "epoch": 1,
        "version": "3.0.7",
        "release": "27.el9",
        "arch": "x86_64",
        "sourceRpm": "openssl-3.0.7-27.el9.src.rpm",
        "sourceName": "openssl",
        "sourceVersion": "3.0.7-27.el9",
        "vendor": "Red Hat, Inc.",
        "size": 6_000_000,
        "modularityLabel": "",
        "license": "ASL 2.0",
    }
    node = pkgs["nodejs"]
    assert node.version == "18.19.0-1.module+el9.3.0+20000+abcdef12"
    assert "epoch=" not in node.purl
    assert node.metadata["modularityLabel"] == "nodejs:18:9030020231120:abcdef12"
    assert result.owned_files == {
        "usr/lib64/libssl.so.3",
        "usr/lib64/libcrypto.so.3",
        "etc/pki/tls/ct.cnf",
        "usr/bin/node",
        "usr/share/zoneinfo/UTC",
    }


@pytest.mark.parametrize("path", [SQLITE, "usr/lib/sysimage/rpm/rpmdb.sqlite"])
def test_sqlite_rpmdb(path: str) -> None:
    result = _catalog(_record(path, fx.sqlite_rpmdb(_headers()), layer=2))
    assert result.warnings == []
    _check_rhel_packages(result, path, 2)


def test_sqlite_rpmdb_in_rollback_journal_mode() -> None:
    result = _catalog(_record(SQLITE, fx.sqlite_rpmdb(_headers(), wal=False)))
    assert len(result.packages) == 3


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("page_size", [512, 4096, 65536])
def test_bdb_rpmdb_both_byte_orders(order: str, page_size: int) -> None:
    data = fx.rpm_bdb(_headers(), order=order, page_size=page_size)
    result = _catalog(_record(BDB, data, layer=1))
    assert result.warnings == []
    _check_rhel_packages(result, BDB, 1)


def test_bdb_overflow_chain_spans_many_pages() -> None:
    blob = fx.package_header("big", padding=20_000)  # 40 overflow pages of 512 bytes
    data = fx.rpm_bdb([blob], page_size=512)
    contents = read_bdb_hash(data)
    assert contents.problems == []
    assert contents.blobs == [blob]


def test_bdb_small_header_stored_inline() -> None:
    blob = fx.header_blob(
        [fx.Entry(fx.NAME, fx.STRING, "t"), fx.Entry(fx.VERSION, fx.STRING, "1")], region=False
    )
    data = fx.rpm_bdb([blob], page_size=4096)
    assert read_bdb_hash(data).blobs == [blob]
    assert [p.name for p in _catalog(_record(BDB, data)).packages] == ["t"]


def test_bdb_checksummed_page_layout() -> None:
    items = fx.rpm_items(_headers())
    data = fx.bdb_hash(items, page_size=1024, checksum=True)
    assert len(read_bdb_hash(data).blobs) == 4


@pytest.mark.parametrize("path", [NDB, "var/lib/rpm/Packages.db"])
def test_ndb_rpmdb(path: str) -> None:
    result = _catalog(_record(path, fx.ndb_rpmdb(_headers()), layer=3))
    assert result.warnings == []
    _check_rhel_packages(result, path, 3)


def test_ndb_several_slot_pages() -> None:
    blobs = [fx.package_header(f"p{i}", files=[f"/opt/p{i}"]) for i in range(300)]
    contents = read_ndb(fx.ndb_rpmdb(blobs, slot_pages=2))
    assert contents.problems == []
    assert contents.blobs == blobs


def test_backend_is_chosen_by_content_not_name() -> None:
    # An ndb file where a Berkeley DB is expected is still read.
    result = _catalog(_record(BDB, fx.ndb_rpmdb(_headers())))
    assert len(result.packages) == 3


# --- purls, versions, distros -------------------------------------------------------------


@pytest.mark.parametrize(
    ("distro", "expected"),
    [
        (
            Distro(id="rhel", version_id="9.3"),
            "pkg:rpm/redhat/tzdata@2024a-1.el9?arch=noarch&distro=rhel-9.3",
        ),
        (
            Distro(id="centos", version_id="7"),
            "pkg:rpm/centos/tzdata@2024a-1.el9?arch=noarch&distro=centos-7",
        ),
        (
            Distro(id="fedora", version_id="40"),
            "pkg:rpm/fedora/tzdata@2024a-1.el9?arch=noarch&distro=fedora-40",
        ),
        (
            Distro(id="rocky", version_id="9.3"),
            "pkg:rpm/rocky/tzdata@2024a-1.el9?arch=noarch&distro=rocky-9.3",
        ),
        (
            Distro(id="almalinux", version_id="9.3"),
            "pkg:rpm/almalinux/tzdata@2024a-1.el9?arch=noarch&distro=almalinux-9.3",
        ),
        (
            Distro(id="amzn", version_id="2023"),
            "pkg:rpm/amzn/tzdata@2024a-1.el9?arch=noarch&distro=amzn-2023",
        ),
        (
            Distro(id="ol", version_id="8.9"),
            "pkg:rpm/ol/tzdata@2024a-1.el9?arch=noarch&distro=ol-8.9",
        ),
        (
            Distro(id="sles", version_id="15.5"),
            "pkg:rpm/sles/tzdata@2024a-1.el9?arch=noarch&distro=sles-15.5",
        ),
        (
            Distro(id="opensuse-leap", version_id="15.5"),
            "pkg:rpm/opensuse/tzdata@2024a-1.el9?arch=noarch&distro=opensuse-leap-15.5",
        ),
        (
            Distro(id="opensuse-tumbleweed"),
            "pkg:rpm/opensuse/tzdata@2024a-1.el9?arch=noarch&distro=opensuse-tumbleweed",
        ),
        (None, "pkg:rpm/tzdata@2024a-1.el9?arch=noarch"),
    ],
)
def test_purl_namespace_and_distro_qualifier(distro: Distro | None, expected: str) -> None:
    blob = fx.package_header("tzdata", "2024a", "1.el9", arch="noarch", source_rpm="")
    (pkg,) = _catalog(_record(SQLITE, fx.sqlite_rpmdb([blob])), distro=distro).packages
    assert pkg.purl == expected


def test_epoch_zero_is_kept() -> None:
    blob = fx.package_header("perl-libs", "5.32.1", "480.el9", epoch=0)
    (pkg,) = _catalog(_record(SQLITE, fx.sqlite_rpmdb([blob]))).packages
    assert pkg.version == "0:5.32.1-480.el9"
    assert "epoch=0" in pkg.purl


def test_unusual_source_rpm_name() -> None:
    blob = fx.package_header(
        "elasticsearch", "8.17.0", "1", source_rpm="elasticsearch-8.17.0-1-src.rpm"
    )
    (pkg,) = _catalog(_record(SQLITE, fx.sqlite_rpmdb([blob]))).packages
    assert pkg.metadata["sourceRpm"] == "elasticsearch-8.17.0-1-src.rpm"
    assert pkg.metadata["sourceName"] == ""
    assert "upstream=elasticsearch-8.17.0-1-src.rpm" in pkg.purl


# --- layers -------------------------------------------------------------------------------


def test_introduced_layer_from_history() -> None:
    a = fx.package_header("a")
    a_new = fx.package_header("a", "2.0")  # upgraded: same name+arch, still "present"
    b = fx.package_header("b")
    c = fx.package_header("c")
    c_i686 = fx.package_header("c", arch="i686")
    history = (
        (0, fx.sqlite_rpmdb([a, c])),
        (1, fx.sqlite_rpmdb([a, b])),  # c removed …
        (3, fx.sqlite_rpmdb([a_new, b, c_i686])),  # … and back, but for another arch
    )
    current = fx.sqlite_rpmdb([a_new, b, c, c_i686])
    result = _catalog(_record(SQLITE, current, layer=5, history=history))
    got = {(p.name, p.metadata["arch"]): (p.introduced_layer, p.layer) for p in result.packages}
    assert got == {
        ("a", "x86_64"): (0, 5),
        ("b", "x86_64"): (1, 5),
        ("c", "x86_64"): (5, 5),  # the run was interrupted in layer 1 and 3
        ("c", "i686"): (3, 5),
    }


def test_history_stops_at_unknown_or_unreadable_versions() -> None:
    a = fx.package_header("a")
    for broken in (None, b"garbage", fx.sqlite_rpmdb([])[:50]):
        history = ((0, fx.sqlite_rpmdb([a])), (1, broken), (2, fx.sqlite_rpmdb([a])))
        result = _catalog(_record(SQLITE, fx.sqlite_rpmdb([a]), layer=4, history=history))
        assert [p.introduced_layer for p in result.packages] == [2]


def test_history_skips_malformed_headers_of_older_versions() -> None:
    a, b = fx.package_header("a"), fx.package_header("b")
    history = ((0, fx.sqlite_rpmdb([a, b"\xff" * 16, b])),)
    result = _catalog(_record(SQLITE, fx.sqlite_rpmdb([a, b]), layer=1, history=history))
    assert {p.name: p.introduced_layer for p in result.packages} == {"a": 0, "b": 0}


def test_same_package_in_two_databases_is_one_package() -> None:
    headers = _headers()
    result = _catalog(
        _record(BDB, fx.rpm_bdb(headers), layer=0),
        _record(SQLITE, fx.sqlite_rpmdb(headers[:1]), layer=2),
    )
    ssl = [p for p in result.packages if p.name == "openssl-libs"]
    assert len(ssl) == 1
    assert ssl[0].locations == (Location(BDB, 0), Location(SQLITE, 2))
    assert len(result.packages) == 3


def test_oversized_database_is_skipped_quietly() -> None:
    # The walker already warned that the file exceeded max_file_size.
    assert _catalog(FileRecord(path=SQLITE, layer=0, data=None, size=10**10)) == CatalogResult()


def test_non_empty_wal_is_reported() -> None:
    result = _catalog(
        _record(SQLITE, fx.sqlite_rpmdb(_headers())),
        _record("var/lib/rpm/rpmdb.sqlite-wal", b"\x37\x7f\x06\x82" + b"\0" * 28),
    )
    assert len(result.packages) == 3
    assert [w.kind for w in result.warnings] == ["incomplete"]
    empty = _catalog(
        _record(SQLITE, fx.sqlite_rpmdb(_headers())), _record("var/lib/rpm/rpmdb.sqlite-wal", b"")
    )
    assert empty.warnings == []


# --- hostile databases --------------------------------------------------------------------


def _warnings(result: CatalogResult) -> list[tuple[str, str]]:
    return [(w.kind, w.message) for w in result.warnings]


@pytest.mark.parametrize(
    "data",
    [b"", b"\0" * 4096, b"SQLite format 3\0", b"RpmP", b"hello world" * 100],
)
def test_unrecognised_or_tiny_files_are_unreadable(data: bytes) -> None:
    result = _catalog(_record(BDB, data))
    assert result.packages == []
    assert [w.kind for w in result.warnings] == ["unreadable"]
    assert result.warnings[0].path == BDB
    assert result.warnings[0].source == "rpm"


def _sqlite(sql: str) -> bytes:
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(sql)
        return conn.serialize()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE other (x);",
        "CREATE TABLE t (hnum, blob); CREATE VIEW Packages AS SELECT * FROM t;",
        # A view that would never end: refused before it is queried.
        "CREATE VIEW Packages AS WITH RECURSIVE r(hnum, blob) AS "
        "(SELECT 1, x'00' UNION ALL SELECT hnum + 1, blob FROM r) SELECT * FROM r;",
        "CREATE TABLE Packages (other);",
        # A generated column that would allocate a gigabyte per row.
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob AS (zeroblob(1000000000)));"
        "INSERT INTO Packages (hnum) VALUES (1);",
    ],
)
def test_sqlite_without_a_packages_table(sql: str) -> None:
    result = _catalog(_record(SQLITE, _sqlite(sql)))
    assert result.packages == []
    assert [w.kind for w in result.warnings] == ["unreadable"]


def test_sqlite_rows_that_are_not_headers() -> None:
    good = fx.package_header("good")
    data = fx.sqlite_rpmdb([good, "text, not a blob", 42, b"\x00\x00\x00\x05garbage"])
    result = _catalog(_record(SQLITE, data))
    assert [p.name for p in result.packages] == ["good"]
    assert [k for k, _ in _warnings(result)] == ["malformed-entry"] * 3


def test_many_malformed_headers_give_few_warnings() -> None:
    data = fx.sqlite_rpmdb([b"\xff" * 16] * 200 + [fx.package_header("ok")])
    result = _catalog(_record(SQLITE, data))
    assert [p.name for p in result.packages] == ["ok"]
    assert len(result.warnings) == 6
    assert "195 more" in result.warnings[-1].message


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9])
def test_truncated_sqlite(keep: float) -> None:
    data = fx.sqlite_rpmdb([fx.package_header(f"p{i}", padding=2000) for i in range(50)])
    result = _catalog(_record(SQLITE, data[: int(len(data) * keep)]))
    assert result.warnings  # unreadable, or read partly with a warning
    assert all(w.kind in {"unreadable", "malformed-entry"} for w in result.warnings)


def _u32(data: bytearray, offset: int, value: int, order: str = "<") -> None:
    struct.pack_into(order + "I", data, offset, value)


def _bdb_items(data: bytes, page_size: int, pgno: int = 1) -> list[int]:
    """Offsets of the items of hash page ``pgno``."""
    page = data[pgno * page_size : (pgno + 1) * page_size]
    entries = struct.unpack_from("<H", page, 20)[0]
    return [pgno * page_size + o for o in struct.unpack_from(f"<{entries}H", page, 26)]


def _three_offpage(page_size: int = 512) -> bytes:
    blobs = [fx.package_header(f"p{i}", padding=1500) for i in range(3)]
    return fx.rpm_bdb(blobs, page_size=page_size)


def test_bdb_overflow_loop() -> None:
    data = bytearray(_three_offpage())
    items = _bdb_items(bytes(data), 512)
    first = struct.unpack_from("<I", data, items[3] + 4)[0]  # p0's first overflow page
    _u32(data, first * 512 + 16, first)  # its next_pgno points to itself
    result = _catalog(_record(BDB, bytes(data)))
    assert sorted(p.name for p in result.packages) == ["p1", "p2"]
    assert any("reuses page" in m for _, m in _warnings(result))


def test_bdb_items_sharing_an_overflow_chain() -> None:
    data = bytearray(_three_offpage())
    items = _bdb_items(bytes(data), 512)
    data[items[5] + 4 : items[5] + 12] = data[items[3] + 4 : items[3] + 12]
    result = _catalog(_record(BDB, bytes(data)))
    assert sorted(p.name for p in result.packages) == ["p0", "p2"]
    assert any("reuses page" in m for _, m in _warnings(result))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (4, 0xFFFFFFFF, "leaves the file"),
        (4, 0, "holds 0 of"),
        (4, 1, "has type 13"),
        (8, 0x7FFFFFFF, "claims"),
        (8, 10, "more than it can hold"),
    ],
)
def test_bdb_bad_offpage_reference(field: int, value: int, message: str) -> None:
    data = bytearray(_three_offpage())
    items = _bdb_items(bytes(data), 512)
    _u32(data, items[3] + field, value)
    result = _catalog(_record(BDB, bytes(data)))
    assert sorted(p.name for p in result.packages) == ["p1", "p2"]
    assert any(message in m for _, m in _warnings(result)), _warnings(result)


def test_bdb_bad_overflow_page_length() -> None:
    data = bytearray(_three_offpage())
    items = _bdb_items(bytes(data), 512)
    first = struct.unpack_from("<I", data, items[3] + 4)[0]
    struct.pack_into("<H", data, first * 512 + 22, 0xFFFF)
    result = _catalog(_record(BDB, bytes(data)))
    assert len(result.packages) == 2
    assert any("more than it can hold" in m for _, m in _warnings(result))


@pytest.mark.parametrize("entries", [0xFFFF, 7, 0xFFFE])
def test_bdb_absurd_item_count(entries: int) -> None:
    data = bytearray(_three_offpage())
    struct.pack_into("<H", data, 512 + 20, entries)
    result = _catalog(_record(BDB, bytes(data)))
    assert result.packages == []
    assert any("bad item count" in m for _, m in _warnings(result))


def test_bdb_item_offset_out_of_range() -> None:
    data = bytearray(_three_offpage())
    struct.pack_into("<H", data, 512 + 26 + 2 * 3, 0xFFF0)  # p0's value offset
    result = _catalog(_record(BDB, bytes(data)))
    # An item's length is the distance to the previous item: p1's key is lost with it.
    assert [p.name for p in result.packages] == ["p2"]
    assert any("out of range" in m for _, m in _warnings(result))


def test_bdb_truncated_offpage_item() -> None:
    data = bytearray(_three_offpage())
    items = _bdb_items(bytes(data), 512)
    data[items[2]] = 3  # p0's 5-byte key claims to be a 12-byte off-page reference
    result = _catalog(_record(BDB, bytes(data)))
    assert sorted(p.name for p in result.packages) == ["p1", "p2"]
    assert any("off-page item 2 is truncated" in m for _, m in _warnings(result))


def test_bdb_unknown_and_duplicate_item_types() -> None:
    data = bytearray(_three_offpage())
    items = _bdb_items(bytes(data), 512)
    data[items[3]] = 2  # H_DUPLICATE
    data[items[5]] = 99
    result = _catalog(_record(BDB, bytes(data)))
    assert [p.name for p in result.packages] == ["p2"]
    messages = " ".join(m for _, m in _warnings(result))
    assert "duplicate items" in messages
    assert "unknown item type 99" in messages


def test_bdb_truncated_file_keeps_what_is_readable() -> None:
    data = _three_offpage()
    result = _catalog(_record(BDB, data[: len(data) - 512 * 3]))
    messages = " ".join(m for _, m in _warnings(result))
    assert "truncated" in messages
    assert len(result.packages) < 3


def test_bdb_last_page_number_beyond_the_file() -> None:
    data = bytearray(_three_offpage())
    _u32(data, 32, 0xFFFFFFFF)
    result = _catalog(_record(BDB, bytes(data)))
    assert len(result.packages) == 3
    assert any("truncated" in m for _, m in _warnings(result))


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (20, 1000, "page size"),
        (20, 1 << 20, "page size"),
        (24, 1, "encrypted"),
        (25, 9, "metadata page type"),
        (12, 0x053162, "btree"),
    ],
)
def test_bdb_bad_metadata(offset: int, value: int, message: str) -> None:
    data = bytearray(_three_offpage())
    if offset in (24, 25):
        data[offset] = value
    else:
        _u32(data, offset, value)
    result = _catalog(_record(BDB, bytes(data)))
    assert result.packages == []
    assert [w.kind for w in result.warnings] == ["unreadable"]
    assert message in result.warnings[0].message


def test_bdb_hostile_file_is_read_in_bounded_time() -> None:
    # 4 MiB of 512-byte pages: page 1 is a hash page of off-page items that all point at
    # one overflow chain running through every other page and looping back on itself.
    page_size, pages = 512, 8192
    data = bytearray(fx.rpm_bdb([fx.package_header("x", padding=600)], page_size=page_size))
    data = data[: 2 * page_size].ljust(pages * page_size, b"\0")
    _u32(data, 32, pages - 1)
    for pgno in range(2, pages):
        base = pgno * page_size
        struct.pack_into(
            "<IIIHHBB", data, base + 8, pgno, 0, pgno + 1 if pgno + 1 < pages else 2, 1, 486, 0, 7
        )
    page = bytearray(page_size)
    count = (page_size - 26) // 16 * 2
    offsets = []
    top = page_size
    for _ in range(count // 2):
        top -= 5
        page[top : top + 5] = b"\x01\x01\x00\x00\x00"
        offsets.append(top)
        top -= 12
        struct.pack_into("<B3xII", page, top, 3, 2, 0x7FFFFF)
        offsets.append(top)
    struct.pack_into(
        f"<IIIIIHHBB{len(offsets)}H", page, 0, 0, 1, 1, 0, 0, len(offsets), top, 0, 13, *offsets
    )
    data[page_size : 2 * page_size] = page
    started = time.monotonic()
    result = _catalog(_record(BDB, bytes(data)))
    assert time.monotonic() - started < 5
    assert result.packages == []
    assert result.warnings


def test_ndb_truncated_slot_pages() -> None:
    data = bytearray(fx.ndb_rpmdb(_headers()))
    _u32(data, 12, 2**31)
    result = _catalog(_record(NDB, bytes(data)))
    assert len(result.packages) == 3
    assert any("slot pages declared" in m for _, m in _warnings(result))


def test_ndb_truncated_blobs() -> None:
    data = fx.ndb_rpmdb(_headers())
    result = _catalog(_record(NDB, data[: len(data) - 100]))
    assert len(result.packages) == 2  # the last blob (tzdata) is cut
    assert any("outside" in m for _, m in _warnings(result))


def _slot(n: int) -> int:
    return (2 + n) * 16


@pytest.mark.parametrize(
    ("patch", "message", "survivors"),
    [
        (lambda d: d.__setitem__(slice(_slot(0), _slot(0) + 4), b"Slxt"), "slot magic", 2),
        (
            lambda d: _u32(d, _slot(1) + 8, struct.unpack_from("<I", d, _slot(0) + 8)[0]),
            "no blob head",
            2,
        ),
        (lambda d: _u32(d, _slot(0) + 12, 2**31), "lie outside", 2),
        (lambda d: _u32(d, _slot(0) + 12, 1), "lie outside", 2),
        (lambda d: _u32(d, _slot(0) + 8, 3), "lie outside", 2),
        (lambda d: d.__setitem__(slice(_slot(2), _slot(3)), d[_slot(0) : _slot(1)]), "overlaps", 2),
    ],
)
def test_ndb_hostile_slots(patch: object, message: str, survivors: int) -> None:
    data = bytearray(fx.ndb_rpmdb(_headers()[:2] + _headers()[3:]))
    assert callable(patch)
    patch(data)
    result = _catalog(_record(NDB, bytes(data)))
    assert len(result.packages) == survivors
    assert any(message in m for _, m in _warnings(result)), _warnings(result)


def _blob_start(data: bytes | bytearray, n: int) -> int:
    return int(struct.unpack_from("<I", data, _slot(n) + 8)[0]) * 16


def test_ndb_two_blobs_for_one_package() -> None:
    data = bytearray(fx.ndb_rpmdb(_headers()))
    _u32(data, _slot(1) + 4, 1)
    _u32(data, _blob_start(data, 1) + 4, 1)
    result = _catalog(_record(NDB, bytes(data)))
    assert sorted(p.name for p in result.packages) == ["openssl-libs", "tzdata"]
    assert any("two slots" in m for _, m in _warnings(result))


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (0, b"BlbX", "no blob head"),
        (4, struct.pack("<I", 99), "no blob head"),
        (12, struct.pack("<I", 5), "does not fit"),
        (-4, b"BlbX", "tail is missing"),
        (-8, struct.pack("<I", 5), "tail is missing"),
    ],
)
def test_ndb_hostile_blobs(where: int, value: bytes, message: str) -> None:
    data = bytearray(fx.ndb_rpmdb(_headers()))
    start = _blob_start(data, 0)
    end = _blob_start(data, 1)
    pos = start + where if where >= 0 else end + where
    data[pos : pos + len(value)] = value
    result = _catalog(_record(NDB, bytes(data)))
    assert sorted(p.name for p in result.packages) == ["nodejs", "tzdata"]
    assert any(message in m for _, m in _warnings(result)), _warnings(result)


def test_ndb_checksum_mismatch_is_reported_but_read() -> None:
    data = bytearray(fx.ndb_rpmdb(_headers()))
    start = _blob_start(data, 0)
    data[data.index(b"xxxx", start)] ^= 0x01  # inside the summary text of the header
    result = _catalog(_record(NDB, bytes(data)))
    assert len(result.packages) == 3
    assert any("checksum mismatch" in m for _, m in _warnings(result))


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [(4, 1, "version 1"), (12, 0, "no slot pages")],
)
def test_ndb_bad_file_header(offset: int, value: int, message: str) -> None:
    data = bytearray(fx.ndb_rpmdb(_headers()))
    _u32(data, offset, value)
    result = _catalog(_record(NDB, bytes(data)))
    assert result.packages == []
    assert message in result.warnings[0].message


def test_ndb_many_problems_are_capped() -> None:
    data = bytearray(fx.ndb_rpmdb([fx.package_header(f"p{i}") for i in range(100)], slot_pages=1))
    for n in range(100):
        data[_blob_start(data, n)] = ord("X")  # break every blob head
    result = _catalog(_record(NDB, bytes(data)))
    assert result.packages == []
    assert len(result.warnings) == 21
    assert "80 more problems" in result.warnings[-1].message


@pytest.mark.parametrize("backend", ["sqlite", "bdb", "ndb"])
def test_random_corruption_never_escapes(backend: str) -> None:
    blobs = [fx.package_header(f"p{i}", files=[f"/opt/p{i}/f"], padding=300 * i) for i in range(8)]
    base = {
        "sqlite": fx.sqlite_rpmdb(blobs),
        "bdb": fx.rpm_bdb(blobs, page_size=512),
        "ndb": fx.ndb_rpmdb(blobs),
    }[backend]
    rng = random.Random(1234)
    started = time.monotonic()
    for _ in range(150):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randrange(len(data))]
        result = _catalog(_record(SQLITE, bytes(data)))
        assert len(result.packages) <= 8
        with contextlib.suppress(RpmdbError):
            read_rpmdb(bytes(data))
    assert time.monotonic() - started < 30


# --- real tools: rpm, rpmbuild, Berkeley DB 5.3 utilities -----------------------------------

_SPEC = """\
Name: sealyard-hello
Version: 1.2.3
Release: 4.fc40
Epoch: 2
Summary: tiny test package
License: MIT AND (Apache-2.0 OR BSD-3-Clause)
Vendor: Sealyard Test
BuildArch: noarch
%description
tiny
%package -n sealyard-extra
Summary: second package
Version: 0.9
Release: 1
License: GPL-2.0-or-later
%description -n sealyard-extra
extra
%install
mkdir -p %{buildroot}/usr/share/sealyard-hello %{buildroot}/etc %{buildroot}/usr/bin
echo hi > %{buildroot}/usr/share/sealyard-hello/README
echo x > %{buildroot}/etc/sealyard-hello.conf
echo y > %{buildroot}/usr/bin/sealyard-extra
%files
/usr/share/sealyard-hello/README
%config /etc/sealyard-hello.conf
%files -n sealyard-extra
/usr/bin/sealyard-extra
"""


def _run(*cmd: str, home: Path) -> str:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{cmd}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def built_rpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two genuine noarch rpms built by rpmbuild from a spec."""
    rpmbuild = need("rpmbuild")
    top = tmp_path_factory.mktemp("rpmbuild")
    spec = top / "hello.spec"
    spec.write_text(_SPEC)
    _run(rpmbuild, "--define", f"_topdir {top}", "-bb", str(spec), home=top)
    return {p.name.split("-")[1]: p for p in (top / "RPMS" / "noarch").glob("*.rpm")}


def _install(dbpath: Path, *rpms: Path) -> None:
    rpm = need("rpm")
    if not dbpath.exists():
        dbpath.mkdir()
        _run(rpm, "--dbpath", str(dbpath), "--initdb", home=dbpath)
    _run(
        rpm,
        "--dbpath",
        str(dbpath),
        "-i",
        "--justdb",
        "--nodeps",
        "--noscripts",
        "--ignorearch",
        "--ignoreos",
        *map(str, rpms),
        home=dbpath,
    )


def _rpm_query(dbpath: Path, *backend: str) -> set[tuple[str, ...]]:
    """What rpm itself reports: name, epoch, version, release, arch, source rpm, license."""
    fmt = "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{LICENSE}|%{VENDOR}\\n"
    out = _run(need("rpm"), "--dbpath", str(dbpath), *backend, "-qa", "--qf", fmt, home=dbpath)
    return {tuple(line.split("|")) for line in out.splitlines()}


def _ours(result: CatalogResult) -> set[tuple[str, ...]]:
    rows: set[tuple[str, ...]] = set()
    for p in result.packages:
        m = p.metadata
        epoch = "(none)" if m["epoch"] is None else str(m["epoch"])
        rows.add(
            (
                p.name,
                epoch,
                str(m["version"]),
                str(m["release"]),
                str(m["arch"]),
                str(m["sourceRpm"]) or "(none)",
                str(m["license"]),
                str(m["vendor"]) or "(none)",
            )
        )
    return rows


@pytest.mark.integration
def test_rpmdb_sqlite_written_by_rpm(tmp_path: Path, built_rpms: dict[str, Path]) -> None:
    """rpm installs genuine packages into a SQLite rpmdb, one per "layer"; we read them all."""
    db = tmp_path / "db"
    _install(db, built_rpms["hello"])
    layer0 = (db / "rpmdb.sqlite").read_bytes()
    _install(db, built_rpms["extra"])
    layer1 = (db / "rpmdb.sqlite").read_bytes()
    assert layer1[18] == 2  # rpm leaves the database in WAL mode
    assert (db / "rpmdb.sqlite-wal").stat().st_size == 0

    result = _catalog(
        _record(SQLITE, layer1, layer=1, history=((0, layer0),)),
        _record("var/lib/rpm/rpmdb.sqlite-wal", b""),
        distro=Distro(id="fedora", version_id="40"),
    )
    assert result.warnings == []
    assert _ours(result) == _rpm_query(db)
    pkgs = {p.name: p for p in result.packages}
    hello = pkgs["sealyard-hello"]
    assert hello.version == "2:1.2.3-4.fc40"
    assert hello.purl == (
        "pkg:rpm/fedora/sealyard-hello@1.2.3-4.fc40?arch=noarch&distro=fedora-40&epoch=2"
        "&upstream=sealyard-hello-1.2.3-4.fc40.src.rpm"
    )
    assert (hello.introduced_layer, hello.layer) == (0, 1)
    assert (pkgs["sealyard-extra"].introduced_layer, pkgs["sealyard-extra"].layer) == (1, 1)
    listed = _run(need("rpm"), "--dbpath", str(db), "-qal", home=db).split()
    assert result.owned_files == {p.lstrip("/") for p in listed}
    assert result.owned_files == {
        "etc/sealyard-hello.conf",
        "usr/share/sealyard-hello/README",
        "usr/bin/sealyard-extra",
    }


def _db_load(
    tmp_path: Path, items: list[tuple[bytes, bytes]], order: str, page_size: int, *options: str
) -> bytes:
    load = need("db5.3_load")
    dump = tmp_path / f"dump-{order == '<'}-{page_size}.txt"
    dump.write_text(fx.db_load_input(items, order=order, page_size=page_size))
    out = tmp_path / f"Packages-{order == '<'}-{page_size}-{len(options)}"
    out.unlink(missing_ok=True)
    subprocess.run([load, *options, "-f", str(dump), str(out)], check=True, timeout=60)
    return out.read_bytes()


@pytest.mark.integration
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("page_size", [512, 4096, 16384])
def test_genuine_berkeley_db_from_db_load(tmp_path: Path, order: str, page_size: int) -> None:
    """libdb itself writes the hash database: buckets, splits, inline and overflow items."""
    blobs = [
        fx.package_header(f"pkg{i:03d}", f"1.{i}", epoch=i % 3 or None, padding=(i * 97) % 4000)
        for i in range(150)
    ]
    data = _db_load(tmp_path, fx.rpm_items(blobs, order=order), order, page_size)
    assert data[12:16] == struct.pack(order + "I", 0x061561)
    contents = read_bdb_hash(data)
    assert contents.problems == []
    assert sorted(contents.blobs) == sorted(blobs)
    result = _catalog(_record(BDB, data))
    assert result.warnings == []
    assert len(result.packages) == 150


@pytest.mark.integration
def test_genuine_checksummed_berkeley_db(tmp_path: Path) -> None:
    blobs = [fx.package_header(f"p{i}", padding=i * 500) for i in range(20)]
    data = _db_load(tmp_path, fx.rpm_items(blobs), "<", 1024, "-c", "chksum=1")
    assert data[26] & 1  # DBMETA_CHKSUM
    assert sorted(read_bdb_hash(data).blobs) == sorted(blobs)


@pytest.mark.integration
def test_headers_written_by_rpm_in_a_genuine_berkeley_db(
    tmp_path: Path, built_rpms: dict[str, Path]
) -> None:
    """Real rpm header blobs (from rpm's SQLite database) in a real libdb hash file."""
    db = tmp_path / "db"
    _install(db, built_rpms["hello"], built_rpms["extra"])
    conn = sqlite3.connect(f"file:{db / 'rpmdb.sqlite'}?mode=ro", uri=True)
    try:
        blobs = [row[0] for row in conn.execute("SELECT blob FROM Packages")]
    finally:
        conn.close()
    for order in ("<", ">"):
        data = _db_load(tmp_path, fx.rpm_items(blobs, order=order), order, 1024)
        result = _catalog(_record(BDB, data), distro=None)
        assert result.warnings == []
        assert _ours(result) == _rpm_query(db)


@pytest.mark.integration
@pytest.mark.parametrize("order", ["<", ">"])
def test_rpm_reads_our_berkeley_db_fixture(tmp_path: Path, order: str) -> None:
    """rpm's own read-only Berkeley DB backend agrees with our parser on our fixture."""
    data = fx.rpm_bdb(_headers(), order=order, page_size=1024)
    (tmp_path / "Packages").write_bytes(data)
    theirs = _rpm_query(tmp_path, "--define", "_db_backend bdb_ro")
    ours = _ours(_catalog(_record(BDB, data)))
    gpg = {row for row in theirs if row[0] == "gpg-pubkey"}
    assert len(gpg) == 1
    assert theirs - gpg == ours


@pytest.mark.integration
@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("page_size", [512, 8192])
def test_db_verify_accepts_our_berkeley_db_fixture(
    tmp_path: Path, order: str, page_size: int
) -> None:
    verify = need("db5.3_verify")
    path = tmp_path / "Packages"
    path.write_bytes(fx.rpm_bdb(_headers(), order=order, page_size=page_size))
    subprocess.run([verify, str(path)], check=True, timeout=60, capture_output=True)
    dumped = subprocess.run(
        [need("db5.3_dump"), str(path)], check=True, timeout=60, capture_output=True, text=True
    ).stdout
    assert dumped.count("\n ") == 2 * (len(_headers()) + 1)


def test_sqlite_query_budget_interrupts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shrink the budget to 1000 VM instructions: a scan of 2000 rows needs more, so it
    # stops part-way and says so.
    monkeypatch.setattr(rpm_module, "_SQLITE_STEPS_PER_BYTE", 0)
    monkeypatch.setattr(rpm_module, "_SQLITE_PROGRESS_EVERY", 1)
    data = fx.sqlite_rpmdb([fx.package_header(f"p{i}") for i in range(2000)])
    result = _catalog(_record(SQLITE, data))
    assert 0 < len(result.packages) < 2000
    assert [w.kind for w in result.warnings] == ["malformed-entry"]
    assert "interrupted" in result.warnings[0].message


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("GPLv2+", ("GPL-2.0-or-later",)),
        ("LGPLv2+ and GPLv3+", ("LGPL-2.0-or-later AND GPL-3.0-or-later",)),
        ("MIT AND (Apache-2.0 OR BSD-3-Clause)", ("MIT AND (Apache-2.0 OR BSD-3-Clause)",)),
        ("Some Vendor EULA", ("Some Vendor EULA",)),  # unknown: the declared text, not a guess
        ("", ()),
    ],
)
def test_licenses_become_spdx_where_known(declared: str, expected: tuple[str, ...]) -> None:
    (pkg,) = _catalog(
        _record(SQLITE, fx.sqlite_rpmdb([fx.package_header("p", license=declared)]))
    ).packages
    assert pkg.licenses == expected
    assert pkg.metadata["license"] == declared


def test_scan_of_an_image_with_an_rpmdb_rewritten_in_each_layer(tmp_path: Path) -> None:
    """Through the real layer walker: history gives each package its introduced layer."""
    from sealyard.sbom.scan import scan_image
    from sealyard.sbom.source import open_source
    from tests.fixtures.images import FileEntry, build_image, build_layer, write_oci_layout

    a, a2, b, c = (
        fx.package_header(n, v) for n, v in (("a", "1"), ("a", "2"), ("b", "1"), ("c", "1"))
    )
    db = "usr/lib/sysimage/rpm/rpmdb.sqlite"
    layers = [
        build_layer(
            [
                FileEntry("etc/os-release", b'ID="rocky"\nVERSION_ID="9.3"\n'),
                FileEntry("usr/lib/sysimage/rpm", type="dir"),
                FileEntry(db, fx.sqlite_rpmdb([a])),
                FileEntry("var/lib/rpm", type="symlink", linkname="../../usr/lib/sysimage/rpm"),
            ]
        ),
        build_layer([FileEntry(db, fx.sqlite_rpmdb([a, b]))]),
        build_layer([FileEntry(db, fx.sqlite_rpmdb([a2, b, c]))]),
    ]
    write_oci_layout(tmp_path, {"latest": build_image(layers)})
    with open_source(f"oci:{tmp_path}:latest", platform="linux/amd64") as source:
        sbom = scan_image(source)
    got = {(p.name, p.version): (p.introduced_layer, p.layer) for p in sbom.packages}
    assert got == {("a", "2-1.el9"): (0, 2), ("b", "1-1.el9"): (1, 2), ("c", "1-1.el9"): (2, 2)}
    assert sbom.packages[0].purl.startswith("pkg:rpm/rocky/a@2-1.el9?arch=x86_64&distro=rocky-9.3")
    assert sbom.warnings == ()


@pytest.mark.parametrize(
    ("reader", "data", "message"),
    [
        (read_bdb_hash, fx.rpm_bdb(_headers())[:300], "truncated"),
        (read_bdb_hash, b"\0" * 1024, "bad magic"),
        (read_ndb, b"\0" * 10, "truncated"),
        (read_ndb, b"NotRpmP!" * 8, "bad magic"),
    ],
)
def test_backend_readers_refuse_foreign_files(reader: object, data: bytes, message: str) -> None:
    assert callable(reader)
    with pytest.raises(RpmdbError, match=message):
        reader(data)
