"""The apk cataloger, on installed databases shaped like Alpine's and Wolfi's."""

from __future__ import annotations

import pytest

from sealyard.sbom.catalogers.apk import ApkCataloger, apk_licenses, parse_apk_installed
from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.model import Distro, Location, Package

ALPINE = Distro(id="alpine", version_id="3.19.1", name="Alpine Linux")
DB = "lib/apk/db/installed"

# Records as apk-tools writes them in Alpine 3.19's lib/apk/db/installed (file lists trimmed).
MUSL = """\
C:Q1zsT/XeJ6uyyqz/B9w8DQ3i5Tkbs=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1703186178
c:f93af038c3ff3d5fd3ea6ec1c3c1b4a6f8b8d4d7
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1yCDbwl5FJ4FnPsNtmcGDpb3NfTQ=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=
"""

BUSYBOX = """\
C:Q1wPRHWzp0uNf6vSE8IhYD8Yl+N7o=
P:busybox
V:1.36.1-r15
A:x86_64
S:515716
I:946176
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1700492089
c:2b6a5b2c8b7bb4a2b2e8ae5d9e6c64c0a7d6b1d9
D:so:libc.musl-x86_64.so.1
p:/bin/sh cmd:busybox=1.36.1-r15 cmd:sh=1.36.1-r15
r:busybox-initscripts
F:bin
R:busybox
a:0:0:755
Z:Q1WUwBY0eOGgzhOZrZ5KjAdlaI2kQ=
R:sh
a:0:0:777
Z:Q1pcfTfDNEbNKQc2s1tia7da05M8Q=
F:etc
R:securetty
Z:Q1mB95Hq2NUTZ599RDiSsj9w5FrOU=
F:etc/udhcpd
F:usr
F:usr/share
F:usr/share/udhcpc
R:default.script
a:0:0:755
Z:Q1HWpG3eQD8Uoi4mks2E3SSvOAUhY=
"""

# Origin differs from the name, and the license is an SPDX expression.
LIBCRYPTO3 = """\
C:Q1Gt9gMmlVYa+b6Ir6Cg0DUIPhDUE=
P:libcrypto3
V:3.1.4-r5
A:x86_64
S:1757398
I:4382720
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conill <ariadne@dereferenced.org>
t:1707240934
c:36a0d5c3a4d7e62f4f8b9fd9aa8e7d4e2c5c8b3a
D:so:libc.musl-x86_64.so.1
p:so:libcrypto.so.3=3
F:usr
F:usr/lib
R:libcrypto.so.3
a:0:0:755
Z:Q1cLOGrF2AhDlnGMfVQzxJ5mRxpLw=
"""

CA_BUNDLE = """\
C:Q1/ZJXjQhCUWdPkyhmI2tOQO8Ow9w=
P:ca-certificates-bundle
V:20240226-r0
A:x86_64
S:126164
I:229376
T:Pre generated bundle of Mozilla certificates
U:https://www.mozilla.org/en-US/about/governance/policies/security-group/certs/
L:MPL-2.0 AND MIT
o:ca-certificates
m:Natanael Copa <ncopa@alpinelinux.org>
t:1709039015
c:fb9fa1dd3e1cebfb1f8f5ec53cd1a2e9c3f1e5f4
F:etc
F:etc/ssl
F:etc/ssl/certs
R:ca-certificates.crt
Z:Q1B7/Jwy+x3Yzlc5oQ9DX2sKyFXYA=
"""

# Older aports: a space-separated list (syft's musl-utils fixture).
MUSL_UTILS = """\
C:Q1bTtF5526tETKfL+lnigzIDvm+2o=
P:musl-utils
V:1.1.24-r2
A:x86_64
S:37944
I:151552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT BSD GPL2+
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1584790550
c:4024cc3b29ad4c65544ad068b8f59172b5494306
D:scanelf so:libc.musl-x86_64.so.1
p:cmd:getconf cmd:getent cmd:iconv cmd:ldconfig cmd:ldd
r:libiconv
F:sbin
R:ldconfig
a:0:0:755
Z:Q1Kja2+POZKxEkUOZqwSjC6kmaED4=
F:usr
F:usr/bin
R:iconv
a:0:0:755
Z:Q1CVmFbdY+Hv6/jAHl1gec2Kbx1EY=
"""


def db(*records: str) -> bytes:
    return "\n".join(records).encode()


def rec(
    data: bytes | None,
    layer: int = 0,
    history: tuple[tuple[int, bytes | None], ...] = (),
    path: str = DB,
) -> FileRecord:
    return FileRecord(path=path, layer=layer, data=data, size=len(data or b""), history=history)


def catalog(*records: FileRecord, distro: Distro | None = ALPINE) -> CatalogResult:
    cataloger = ApkCataloger()
    for record in records:
        assert cataloger.wants(record.path)
    return cataloger.catalog(ImageFiles(files=records, distro=distro))


def by_name(result: CatalogResult) -> dict[str, Package]:
    packages = {p.name: p for p in result.packages}
    assert len(packages) == len(result.packages)
    return packages


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("lib/apk/db/installed", True),
        ("usr/lib/apk/db/installed", True),
        ("lib/apk/db/installed.old", False),
        ("lib/apk/db/scripts.tar", False),
        ("etc/apk/world", False),
        ("var/lib/dpkg/status", False),
        ("x/lib/apk/db/installed", False),
    ],
)
def test_wants(path: str, wanted: bool) -> None:
    assert ApkCataloger().wants(path) is wanted


def test_name_and_history_flag() -> None:
    assert ApkCataloger.name == "apk"
    assert ApkCataloger.track_history is True


def test_packages_and_purls() -> None:
    result = catalog(rec(db(MUSL, BUSYBOX, LIBCRYPTO3, CA_BUNDLE), layer=0))
    purls = {p.name: p.purl for p in result.packages}
    assert purls == {
        "musl": "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1",
        "busybox": "pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1",
        "libcrypto3": "pkg:apk/alpine/libcrypto3@3.1.4-r5"
        "?arch=x86_64&distro=alpine-3.19.1&upstream=openssl",
        "ca-certificates-bundle": "pkg:apk/alpine/ca-certificates-bundle@20240226-r0"
        "?arch=x86_64&distro=alpine-3.19.1&upstream=ca-certificates",
    }
    assert {p.type for p in result.packages} == {"apk"}
    assert {p.found_by for p in result.packages} == {"apk"}
    assert result.warnings == []


def test_wolfi_namespace_and_missing_distro() -> None:
    wolfi = Distro(id="wolfi", version_id="20230201")
    (pkg,) = catalog(rec(db(MUSL)), distro=wolfi).packages
    assert pkg.purl == "pkg:apk/wolfi/musl@1.2.4_git20230717-r4?arch=x86_64&distro=wolfi-20230201"
    (pkg,) = catalog(rec(db(MUSL)), distro=None).packages
    assert pkg.purl == "pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64"


def test_metadata() -> None:
    packages = by_name(catalog(rec(db(BUSYBOX, LIBCRYPTO3))))
    busybox = dict(packages["busybox"].metadata)
    assert busybox == {
        "arch": "x86_64",
        "source": "busybox",
        "license": "GPL-2.0-only",
        "maintainer": "Sören Tempel <soeren+alpine@soeren-tempel.net>",
        "url": "https://busybox.net/",
        "description": "Size optimized toolbox of many common UNIX utilities",
        "commit": "2b6a5b2c8b7bb4a2b2e8ae5d9e6c64c0a7d6b1d9",
        "checksum": "Q1wPRHWzp0uNf6vSE8IhYD8Yl+N7o=",
        "size": 515716,
        "installed_size": 946176,
        "build_time": 1700492089,
        "depends": ["so:libc.musl-x86_64.so.1"],
        "provides": ["/bin/sh", "cmd:busybox=1.36.1-r15", "cmd:sh=1.36.1-r15"],
    }
    assert packages["libcrypto3"].metadata["source"] == "openssl"


def test_origin_defaults_to_the_name() -> None:
    record = MUSL.replace("o:musl\n", "")
    (pkg,) = catalog(rec(db(record))).packages
    assert pkg.metadata["source"] == "musl"
    assert "upstream" not in pkg.purl


def test_owned_files_are_directory_plus_file() -> None:
    result = catalog(rec(db(MUSL, BUSYBOX)))
    assert result.owned_files == {
        "lib/ld-musl-x86_64.so.1",
        "lib/libc.musl-x86_64.so.1",
        "bin/busybox",
        "bin/sh",
        "etc/securetty",
        "usr/share/udhcpc/default.script",
    }


def test_files_at_the_root_and_odd_slashes() -> None:
    record = "P:odd\nV:1-r0\nA:x86_64\nR:toplevel\nF:/usr/bin/\nR:tool\n"
    assert catalog(rec(db(record))).owned_files == {"toplevel", "usr/bin/tool"}


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("MIT", ("MIT",)),
        ("GPL-2.0-only", ("GPL-2.0-only",)),
        ("MPL-2.0 AND MIT", ("MPL-2.0 AND MIT",)),
        ("GPL-2.0-or-later OR MIT", ("GPL-2.0-or-later OR MIT",)),
        ("MIT BSD GPL2+", ("MIT AND BSD AND GPL-2.0-or-later",)),
        ("GPL-2.0-or-later LGPL-2.1-or-later", ("GPL-2.0-or-later AND LGPL-2.1-or-later",)),
        ("ISC MIT ISC", ("ISC AND MIT",)),
        ("Apache 2.0", ("Apache-2.0",)),
        ("custom", ("custom",)),
        ("MIT AND custom", ("MIT AND custom",)),  # operators present: kept as declared
        ("", ()),
        ("   ", ()),
    ],
)
def test_licenses(declared: str, expected: tuple[str, ...]) -> None:
    assert apk_licenses(declared) == expected


def test_licenses_on_packages() -> None:
    packages = by_name(catalog(rec(db(CA_BUNDLE, MUSL_UTILS))))
    assert packages["ca-certificates-bundle"].licenses == ("MPL-2.0 AND MIT",)
    assert packages["musl-utils"].licenses == ("MIT AND BSD AND GPL-2.0-or-later",)


def test_layer_locations_and_introduced_layer() -> None:
    # layer 0: alpine base; 2: apk add openssl; 3: apk upgrade busybox; 4: apk del musl-utils,
    # re-added in 5.
    busybox_old = BUSYBOX.replace("V:1.36.1-r15", "V:1.36.1-r14")
    history: tuple[tuple[int, bytes | None], ...] = (
        (0, db(MUSL, busybox_old, MUSL_UTILS)),
        (2, db(MUSL, busybox_old, MUSL_UTILS, LIBCRYPTO3)),
        (3, db(MUSL, BUSYBOX, MUSL_UTILS, LIBCRYPTO3)),
        (4, db(MUSL, BUSYBOX, LIBCRYPTO3)),
    )
    result = catalog(rec(db(MUSL, BUSYBOX, LIBCRYPTO3, MUSL_UTILS), layer=5, history=history))
    packages = by_name(result)
    assert {name: p.introduced_layer for name, p in packages.items()} == {
        "musl": 0,
        "busybox": 0,
        "libcrypto3": 2,
        "musl-utils": 5,
    }
    assert {p.layer for p in result.packages} == {5}
    assert {p.locations for p in result.packages} == {(Location(DB, 5),)}


def test_other_arch_in_history_is_another_package() -> None:
    aarch64 = MUSL.replace("A:x86_64", "A:aarch64")
    result = catalog(rec(db(MUSL), layer=1, history=((0, db(aarch64)),)))
    assert result.packages[0].introduced_layer == 1


def test_unreadable_history_stops_the_walk_back() -> None:
    history: tuple[tuple[int, bytes | None], ...] = ((0, db(MUSL)), (1, None))
    result = catalog(rec(db(MUSL), layer=2, history=history))
    assert result.packages[0].introduced_layer == 2


def test_usr_lib_location_and_precedence() -> None:
    (pkg,) = catalog(rec(db(MUSL), path="usr/lib/apk/db/installed")).packages
    assert pkg.locations == (Location("usr/lib/apk/db/installed", 0),)
    result = catalog(
        rec(db(MUSL), path="usr/lib/apk/db/installed", layer=1),
        rec(db(MUSL), path=DB, layer=1),
    )
    assert [p.locations for p in result.packages] == [(Location(DB, 1),)]


def test_crlf_and_no_trailing_newline() -> None:
    data = db(MUSL, BUSYBOX).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    result = catalog(rec(data))
    packages = by_name(result)
    assert packages["busybox"].version == "1.36.1-r15"
    assert packages["musl"].metadata["url"] == "https://musl.libc.org/"
    assert "usr/share/udhcpc/default.script" in result.owned_files
    assert result.warnings == []


def test_duplicate_record_is_dropped_with_a_warning() -> None:
    result = catalog(rec(db(MUSL, BUSYBOX, MUSL), layer=3))
    assert sorted(p.name for p in result.packages) == ["busybox", "musl"]
    (warning,) = result.warnings
    assert (warning.kind, warning.path, warning.layer, warning.source) == (
        "malformed",
        DB,
        3,
        "apk",
    )
    assert "duplicate record for musl" in warning.message


def test_malformed_records_and_lines() -> None:
    data = db(
        "P:no-version\nA:x86_64\n",
        "V:1.0-r0\nA:x86_64\n",
        "P:bad name\nV:1\n",
        "this is not a field\nP:musl\nV:1.2.4-r4\nA:x86_64\n",
        BUSYBOX,
    )
    result = catalog(rec(data))
    assert sorted(p.name for p in result.packages) == ["busybox", "musl"]
    (warning,) = result.warnings
    assert warning.message.startswith("line 1: record without P (name) or V (version)")
    assert "(and 3 more)" in warning.message


def test_repeated_field_keeps_the_first_value() -> None:
    records, problems = parse_apk_installed("P:x\nV:1\nL:MIT\nL:GPL-2.0-only\nA:x86_64\n")
    assert [(r.name, r.license) for r in records] == [("x", "MIT")]
    assert problems == ["line 4: repeated field 'L'"]


def test_parse_reports_problems_in_order() -> None:
    records, problems = parse_apk_installed("P:x\nV:1\n\nP:x\nV:2\n\nnonsense\n")
    assert [(r.name, r.version) for r in records] == [("x", "1")]
    assert problems == ["line 4: duplicate record for x", "line 7: not an 'X:value' line"]


def test_non_utf8_is_replaced_with_a_warning() -> None:
    data = db(MUSL).replace("Teräs".encode(), b"Ter\xe4s")
    result = catalog(rec(data, layer=1))
    (pkg,) = result.packages
    assert pkg.metadata["maintainer"] == "Timo Ter\ufffds <timo.teras@iki.fi>"
    (warning,) = result.warnings
    assert (warning.kind, warning.layer) == ("encoding", 1)


def test_oversized_database_is_skipped_silently() -> None:
    result = catalog(rec(None))
    assert (result.packages, result.warnings) == ([], [])


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\x00\x01\x02\xff"])
def test_empty_or_binary_does_not_crash(data: bytes) -> None:
    assert catalog(rec(data)).packages == []


def test_large_database() -> None:
    records = [
        BUSYBOX.replace("P:busybox", f"P:pkg{i}").replace("F:bin", f"F:opt/pkg{i}")
        for i in range(5_000)
    ]
    data = db(*records)
    result = catalog(rec(data, layer=1, history=((0, data),)))
    assert len(result.packages) == 5_000
    assert {p.introduced_layer for p in result.packages} == {0}
    assert "opt/pkg4999/busybox" in result.owned_files


def test_output_is_deterministic() -> None:
    record = rec(db(MUSL, BUSYBOX, LIBCRYPTO3, CA_BUNDLE, MUSL_UTILS), layer=2)
    first, second = catalog(record), catalog(record)
    assert [p.to_dict() for p in first.packages] == [p.to_dict() for p in second.packages]
    assert [p.name for p in first.packages] == [
        "musl",
        "busybox",
        "libcrypto3",
        "ca-certificates-bundle",
        "musl-utils",
    ]
