"""The dpkg cataloger, on status files, info lists and copyright files shaped like Debian's."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from sealyard.sbom.catalogers.dpkg import (
    DpkgCataloger,
    copyright_licenses,
    parse_deb822,
    parse_dpkg_status,
    parse_list_file,
    split_version,
)
from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.model import Distro, Location, Package

DEBIAN_12 = Distro(id="debian", version_id="12", version_codename="bookworm")

# Stanzas from a Debian 12 /var/lib/dpkg/status, trimmed (Breaks/Suggests lists shortened).
BASH = """\
Package: bash
Essential: yes
Status: install ok installed
Priority: required
Section: shells
Installed-Size: 7164
Maintainer: Matthias Klose <doko@debian.org>
Architecture: amd64
Multi-Arch: foreign
Source: bash (5.2.15-2)
Version: 5.2.15-2+b8
Replaces: bash-completion (<< 20060301-0), bash-doc (<= 2.05-1)
Depends: base-files (>= 2.1.12), debianutils (>= 5.6-0.1)
Pre-Depends: libc6 (>= 2.36), libtinfo6 (>= 6)
Conffiles:
 /etc/bash.bashrc 89269e1298235f1b12b4c16e4065ad0d
 /etc/skel/.bash_logout 22bfb8c1dd94b5f3813a2b25da67463f
Description: GNU Bourne Again SHell
 Bash is an sh-compatible command language interpreter that executes
 commands read from the standard input or from a file.
 .
 The Programmable Completion Code, by Ian Macdonald, is now found in
 the bash-completion package.
Homepage: http://tiswww.case.edu/php/chet/bash/bashtop.html
"""

LIBC6 = """\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 13001
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u14
Replaces: libc6-amd64
Depends: libgcc-s1
Breaks: aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6),
 chrony (<< 4.2-3~)
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
Homepage: https://www.gnu.org/software/libc/libc.html
"""

ZLIB1G = """\
Package: zlib1g
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 168
Maintainer: Mark Brown <broonie@debian.org>
Architecture: amd64
Multi-Arch: same
Source: zlib
Version: 1:1.2.13.dfsg-1
Provides: libz1
Depends: libc6 (>= 2.14)
Description: compression library - runtime
 zlib is a library implementing the deflate compression method found
 in gzip and PKZIP.
Homepage: http://zlib.net/
"""

TZDATA = """\
Package: tzdata
Status: install ok installed
Priority: required
Section: localization
Installed-Size: 2565
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: all
Multi-Arch: foreign
Version: 2025b-0+deb12u2
Provides: tzdata-bookworm
Depends: debconf (>= 0.5) | debconf-2.0
Description: time zone and daylight-saving time data
Homepage: https://www.iana.org/time-zones
"""

# Removed but not purged ("rc" in dpkg -l), and an interrupted install.
REMOVED = """\
Package: vim-tiny
Status: deinstall ok config-files
Priority: important
Section: editors
Installed-Size: 1733
Maintainer: Debian Vim Maintainers <team+vim@tracker.debian.org>
Architecture: amd64
Source: vim
Version: 2:9.0.1378-2
Conffiles:
 /etc/vim/vimrc.tiny 4b3aa8e9f4ad8d7a3dd6cdad62ce1a3d
Description: Vi IMproved - enhanced vi editor - compact version
"""

HALF_INSTALLED = """\
Package: curl
Status: install reinstreq half-installed
Priority: optional
Section: web
Architecture: amd64
Version: 7.88.1-10+deb12u5
Description: command line tool for transferring data with URL syntax
"""

HELD = """\
Package: openssl
Status: hold ok installed
Priority: optional
Section: utils
Installed-Size: 2276
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Version: 3.0.15-1~deb12u1
Description: Secure Sockets Layer toolkit - cryptographic utility
"""


def status(*stanzas: str) -> bytes:
    return "\n".join(stanzas).encode()


# /var/lib/dpkg/info/bash.list and zlib1g:amd64.list, trimmed.
BASH_LIST = b"""/.
/bin
/bin/bash
/etc
/etc/bash.bashrc
/etc/skel
/etc/skel/.bash_logout
/usr
/usr/share
/usr/share/doc
/usr/share/doc/bash
/usr/share/doc/bash/copyright
/bin/rbash
"""
ZLIB_LIST = b"""/.
/lib
/lib/x86_64-linux-gnu
/lib/x86_64-linux-gnu/libz.so.1.2.13
/usr
/usr/share
/usr/share/doc
/usr/share/doc/zlib1g
/usr/share/doc/zlib1g/copyright
/lib/x86_64-linux-gnu/libz.so.1
"""

# usr/share/doc/bash/copyright (DEP-5), trimmed: stanza shapes and License fields as shipped.
BASH_COPYRIGHT = b"""\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: bash
Upstream-Contact: Chet Ramey <chet.ramey@case.edu>
Source: https://ftp.gnu.org/gnu/bash/

Files: *
Copyright: (C) 1987-2022 Free Software Foundation, Inc.
License: GPL-3+

Files: y.tab.*
Copyright: (C) 1984, 1989-1990, 2000-2015, 2018-2021 Free Software Foundation, Inc.
License: GPL-3+ with Bison exception

Files:
 doc/bashref.texi
 doc/bashref.info
Copyright: (C) 1988-2022 Free Software Foundation, Inc.
License: GFDL-NIV-1.3

Files: lib/sh/inet_aton.c
Copyright: (C) 1983, 1990, 1993 The Regents of the University of California.
License: BSD-4-clause-UC and MIT-like

Files: support/man2html.c
Copyright: (C) 1995 Richard Verhoeven
License: permissive
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files.

Files: examples/loadables/*
Copyright: 1996-2022 Chet Ramey
License:
 Permission to use, copy, modify, and distribute this software and its
 documentation for any purpose is hereby granted.

Files: support/weird.c
Copyright: 2001 Somebody
License: Permission to use, copy, modify, and distribute this software and its

License: GPL-3+
 This program is free software; you can redistribute it and/or modify
 it under the terms of the GNU General Public License as published by
 the Free Software Foundation; either version 3 of the License, or
 (at your option) any later version.
 .
 On Debian systems, the complete text of the GNU General Public License
 version 3 can be found in `/usr/share/common-licenses/GPL-3'.

License: BSD-4-clause-UC
 Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the following conditions
 are met:
"""

# usr/share/doc/zlib1g/copyright (DEP-5): a header with Files-Excluded, one Files stanza.
ZLIB_COPYRIGHT = b"""\
Format: http://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: zlib
Upstream-Contact: zlib@gzip.org
Source: http://zlib.net/
Files-Excluded:
 contrib/ada
 win32

Files: *
Copyright: 1995-2013 Jean-loup Gailly and Mark Adler
License: Zlib
 This software is provided 'as-is', without any express or implied
 warranty.
"""

# usr/share/doc/cpp/copyright (not machine-readable), trimmed.
CPP_COPYRIGHT = b"""\
This is the Debian GNU/Linux prepackaged version of the GNU compiler
preprocessor.

gcc-defaults is Copyright (C) 2000-2020 Debian.

These scripts are free software; you can redistribute it and/or modify it
under the terms of the GNU General Public License as published by the
Free Software Foundation; either version 2, or (at your option) any
later version.

On Debian GNU/Linux systems, the complete text of the GNU General
Public License can be found in `/usr/share/common-licenses/GPL-2'.

The c89 and c99 man pages are taken from netbsd:
Copyright (c) 1999 The NetBSD Foundation, Inc.
Redistribution and use in source and binary forms ... the full text is in
/usr/share/common-licenses/BSD.
"""

# usr/share/doc/libc6/copyright, head: the "later version" is a full notice away.
LIBC6_COPYRIGHT = b"""\
This is the Debian prepackaged version of the GNU C Library version 2.23.

It was put together by the GNU Libc Maintainers <debian-glibc@lists.debian.org>
from <https://sourceware.org/git/glibc.git>

* Most of the GNU C library is under the following copyright:

    Copyright (C) 1991-2015 Free Software Foundation, Inc.

    The GNU C Library is free software; you can redistribute it and/or
    modify it under the terms of the GNU Lesser General Public
    License as published by the Free Software Foundation; either
    version 2.1 of the License, or (at your option) any later version.

    The GNU C Library is distributed in the hope that it will be useful,
    but WITHOUT ANY WARRANTY; without even the implied warranty of
    MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
    Lesser General Public License for more details.

    You should have received a copy of the GNU Lesser General Public
    License along with the GNU C Library; if not, write to the Free
    Software Foundation, Inc., 51 Franklin St, Fifth Floor, Boston, MA
    02110-1301 USA

  On Debian systems, the complete text of the GNU Library
  General Public License can be found in `/usr/share/common-licenses/LGPL-2.1'.

* The utf8 locale charmap was generated from the Unicode data files; the
  terms are in `/usr/share/common-licenses/GPL-2'.
"""

# Free-form, "version 2 only" wording, and an unversioned reference.
ONLY_COPYRIGHT = b"""\
This package is distributed under the terms of the GNU General Public License,
version 2, as published by the Free Software Foundation.

On Debian systems the complete text of the license is in
/usr/share/common-licenses/GPL-2.

The library is under the LGPL, see /usr/share/common-licenses/LGPL.
"""


def rec(
    path: str,
    data: bytes | None,
    layer: int = 0,
    history: tuple[tuple[int, bytes | None], ...] = (),
) -> FileRecord:
    return FileRecord(path=path, layer=layer, data=data, size=len(data or b""), history=history)


def catalog(
    *records: FileRecord,
    distro: Distro | None = DEBIAN_12,
    links: Mapping[str, FileRecord] | None = None,
) -> CatalogResult:
    cataloger = DpkgCataloger()
    for record in records:
        assert cataloger.wants(record.path), record.path
    lookup = (links or {}).get
    return cataloger.catalog(ImageFiles(files=records, distro=distro, lookup=lookup))


def by_name(result: CatalogResult) -> dict[str, Package]:
    packages = {p.name: p for p in result.packages}
    assert len(packages) == len(result.packages)
    return packages


# --- path filter -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/libssl3",
        "var/lib/dpkg/status.d/libssl3.md5sums",
        "var/lib/dpkg/status.d/base",
        "var/lib/dpkg/info/bash.list",
        "var/lib/dpkg/info/libc6:amd64.list",
        "usr/share/doc/bash/copyright",
    ],
)
def test_wants_dpkg_files(path: str) -> None:
    assert DpkgCataloger().wants(path)


@pytest.mark.parametrize(
    "path",
    [
        "var/lib/dpkg/status-old",
        "var/lib/dpkg/available",
        "var/lib/dpkg/status.d/",
        "var/lib/dpkg/status.d/sub/dir",
        "var/lib/dpkg/info/bash.md5sums",
        "var/lib/dpkg/info/bash.postinst",
        "var/lib/dpkg/info/sub/bash.list",
        "usr/share/doc/bash/copyright.gz",
        "usr/share/doc/bash/examples/copyright",
        "usr/share/doc/copyright",
        "opt/var/lib/dpkg/status",
        "lib/apk/db/installed",
    ],
)
def test_ignores_other_paths(path: str) -> None:
    assert not DpkgCataloger().wants(path)


def test_name_and_history_flag() -> None:
    assert DpkgCataloger.name == "dpkg"
    assert DpkgCataloger.track_history is True


# --- status file -------------------------------------------------------------------------


def test_installed_packages_only() -> None:
    result = catalog(rec("var/lib/dpkg/status", status(BASH, REMOVED, HALF_INSTALLED, HELD)))
    assert sorted(p.name for p in result.packages) == ["bash", "openssl"]
    assert result.warnings == []  # skipped states are normal, not bad input


def test_purls_follow_syft() -> None:
    result = catalog(rec("var/lib/dpkg/status", status(BASH, LIBC6, ZLIB1G, TZDATA)))
    purls = {p.name: p.purl for p in result.packages}
    assert purls == {
        # Source with its own version: upstream=name@version
        "bash": "pkg:deb/debian/bash@5.2.15-2%2Bb8"
        "?arch=amd64&distro=debian-12&upstream=bash%405.2.15-2",
        # Source without version: upstream=name
        "libc6": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14"
        "?arch=amd64&distro=debian-12&upstream=glibc",
        # epoch kept in the version, as dpkg shows it
        "zlib1g": "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib",
        # no Source field: no upstream
        "tzdata": "pkg:deb/debian/tzdata@2025b-0%2Bdeb12u2?arch=all&distro=debian-12",
    }


def test_purl_namespace_is_the_distro_id() -> None:
    ubuntu = Distro(id="ubuntu", version_id="22.04", id_like=("debian",))
    result = catalog(rec("var/lib/dpkg/status", status(TZDATA)), distro=ubuntu)
    assert result.packages[0].purl == (
        "pkg:deb/ubuntu/tzdata@2025b-0%2Bdeb12u2?arch=all&distro=ubuntu-22.04"
    )


def test_purl_without_distro_or_version_id() -> None:
    result = catalog(rec("var/lib/dpkg/status", status(TZDATA)), distro=None)
    assert result.packages[0].purl == "pkg:deb/debian/tzdata@2025b-0%2Bdeb12u2?arch=all"
    sid = Distro(id="debian", version_codename="trixie")
    result = catalog(rec("var/lib/dpkg/status", status(TZDATA)), distro=sid)
    assert result.packages[0].purl.endswith("?arch=all&distro=debian")


def test_source_equal_to_package_adds_no_upstream() -> None:
    stanza = TZDATA.replace("Version:", "Source: tzdata\nVersion:")
    result = catalog(rec("var/lib/dpkg/status", status(stanza)))
    assert "upstream" not in result.packages[0].purl
    stanza = TZDATA.replace("Version:", "Source: tzdata (2025b-0+deb12u2)\nVersion:")
    assert "upstream" not in catalog(rec("var/lib/dpkg/status", status(stanza))).packages[0].purl


def test_binnmu_of_a_same_named_source_has_a_versioned_upstream() -> None:
    # bash 5.2.15-2+b8 is a binary rebuild of source bash 5.2.15-2
    (bash,) = catalog(rec("var/lib/dpkg/status", status(BASH))).packages
    assert bash.purl.endswith("&upstream=bash%405.2.15-2")


def test_metadata() -> None:
    result = catalog(rec("var/lib/dpkg/status", status(BASH, ZLIB1G, TZDATA)))
    packages = by_name(result)
    bash = packages["bash"]
    assert bash.type == "deb"
    assert bash.found_by == "dpkg"
    assert bash.version == "5.2.15-2+b8"
    meta = dict(bash.metadata)
    assert meta["source"] == "bash"
    assert meta["source_version"] == "5.2.15-2"
    assert meta["arch"] == "amd64"
    assert meta["epoch"] is None
    assert meta["upstream_version"] == "5.2.15"
    assert meta["debian_revision"] == "2+b8"
    assert meta["installed_size"] == 7164
    assert meta["description"] == "GNU Bourne Again SHell"
    assert meta["pre_depends"] == ["libc6 (>= 2.36)", "libtinfo6 (>= 6)"]
    assert meta["maintainer"] == "Matthias Klose <doko@debian.org>"
    zlib = dict(packages["zlib1g"].metadata)
    assert (zlib["source"], zlib["source_version"]) == ("zlib", "1:1.2.13.dfsg-1")
    assert (zlib["epoch"], zlib["upstream_version"]) == (1, "1.2.13.dfsg")
    tz = dict(packages["tzdata"].metadata)
    # No Source field: the package is its own source
    assert (tz["source"], tz["source_version"]) == ("tzdata", "2025b-0+deb12u2")
    assert tz["depends"] == ["debconf (>= 0.5) | debconf-2.0"]


def test_multiline_fields_are_kept_whole() -> None:
    paragraphs, problems = parse_deb822(LIBC6)
    assert problems == []
    assert paragraphs[0].fields["breaks"] == (
        "aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6),\nchrony (<< 4.2-3~)"
    )
    assert paragraphs[0].fields["description"].split("\n")[1].startswith("Contains the")


@pytest.mark.parametrize(
    ("version", "parts"),
    [
        ("5.2.15-2+b8", (None, "5.2.15", "2+b8")),
        ("1:1.2.13.dfsg-1", (1, "1.2.13.dfsg", "1")),
        ("2:9.0.1378-2", (2, "9.0.1378", "2")),
        ("3.134", (None, "3.134", "")),
        ("1:2.38.1-5+deb12u3", (1, "2.38.1", "5+deb12u3")),
        ("1.2-3-4", (None, "1.2-3", "4")),
    ],
)
def test_split_version(version: str, parts: tuple[int | None, str, str]) -> None:
    assert split_version(version) == parts


def test_layer_and_location_of_status() -> None:
    result = catalog(rec("var/lib/dpkg/status", status(TZDATA), layer=4))
    (tz,) = result.packages
    assert tz.layer == 4
    assert tz.introduced_layer == 4
    assert tz.locations == (Location("var/lib/dpkg/status", 4),)


# --- info lists: owned files -----------------------------------------------------------


def test_owned_files_from_list_files() -> None:
    result = catalog(
        rec("var/lib/dpkg/status", status(BASH, ZLIB1G), layer=2),
        rec("var/lib/dpkg/info/bash.list", BASH_LIST, layer=1),
        rec("var/lib/dpkg/info/zlib1g:amd64.list", ZLIB_LIST, layer=2),
    )
    assert result.owned_files == {
        "bin/bash",
        "bin/rbash",
        "etc/bash.bashrc",
        "etc/skel/.bash_logout",
        "usr/share/doc/bash/copyright",
        "lib/x86_64-linux-gnu/libz.so.1.2.13",
        "lib/x86_64-linux-gnu/libz.so.1",
        "usr/share/doc/zlib1g/copyright",
    }
    packages = by_name(result)
    assert packages["bash"].locations == (
        Location("var/lib/dpkg/status", 2),
        Location("var/lib/dpkg/info/bash.list", 1),
    )
    assert packages["zlib1g"].locations == (
        Location("var/lib/dpkg/status", 2),
        Location("var/lib/dpkg/info/zlib1g:amd64.list", 2),
    )


def test_plain_list_name_is_used_when_no_arch_qualified_one_exists() -> None:
    result = catalog(
        rec("var/lib/dpkg/status", status(ZLIB1G)),
        rec("var/lib/dpkg/info/zlib1g.list", ZLIB_LIST),
    )
    assert result.packages[0].locations[-1].path == "var/lib/dpkg/info/zlib1g.list"
    assert "lib/x86_64-linux-gnu/libz.so.1" in result.owned_files


def test_lists_of_packages_not_installed_are_ignored() -> None:
    result = catalog(
        rec("var/lib/dpkg/status", status(TZDATA, REMOVED)),
        rec("var/lib/dpkg/info/vim-tiny.list", b"/.\n/etc\n/etc/vim\n/etc/vim/vimrc.tiny\n"),
    )
    assert [p.name for p in result.packages] == ["tzdata"]
    assert result.owned_files == set()


def test_conffiles_count_as_owned_without_a_list() -> None:
    result = catalog(rec("var/lib/dpkg/status", status(BASH)))
    assert result.owned_files == {"etc/bash.bashrc", "etc/skel/.bash_logout"}


def test_list_parsing_normalises_and_drops_directories() -> None:
    text = "/.\n/usr\n/usr/lib\n/usr/lib/./x.so\n//usr/bin/y\n/usr/share/empty-dir\n\n/usr/lib/a/\n"
    assert parse_list_file(text) == {
        "usr/lib/x.so",
        "usr/bin/y",
        "usr/share/empty-dir",  # a leaf: nothing tells it is a directory
        "usr/lib/a",
    }


# --- copyright files ---------------------------------------------------------------------


def test_dep5_licenses() -> None:
    assert copyright_licenses(BASH_COPYRIGHT.decode()) == [
        "GPL-3.0-or-later",
        "GPL-3.0-or-later WITH Bison-exception-2.2",
        "GFDL-1.3-no-invariants-only",
        "BSD-4-clause-UC and MIT-like",  # unknown names are kept as declared
        "permissive",
        # the empty short name and the pasted license text are dropped; standalone License
        # stanzas (GPL-3+, BSD-4-clause-UC texts) add nothing
    ]
    assert copyright_licenses(ZLIB_COPYRIGHT.decode()) == ["Zlib"]


def test_dep5_header_license_counts() -> None:
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: x\nLicense: MIT\n\nFiles: *\nCopyright: 2020 X\nLicense: Expat\n"
    )
    assert copyright_licenses(text) == ["MIT"]


def test_free_form_copyright_uses_common_license_references() -> None:
    # "either version 2, or (at your option) any later version" precedes the GPL-2 reference
    assert copyright_licenses(CPP_COPYRIGHT.decode()) == ["GPL-2.0-or-later", "BSD-3-Clause"]
    assert copyright_licenses(ONLY_COPYRIGHT.decode()) == ["GPL-2.0-only", "LGPL"]
    # the window looking back stops at the previous reference
    assert copyright_licenses(LIBC6_COPYRIGHT.decode()) == ["LGPL-2.1-or-later", "GPL-2.0-only"]


def test_free_form_copyright_without_references_gives_nothing() -> None:
    text = "This package was debianized by Someone.\n\nIt is in the public domain.\n"
    assert copyright_licenses(text) == []


def test_licenses_attached_to_packages() -> None:
    result = catalog(
        rec("var/lib/dpkg/status", status(BASH, ZLIB1G, TZDATA)),
        rec("usr/share/doc/bash/copyright", BASH_COPYRIGHT),
        rec("usr/share/doc/zlib1g/copyright", ZLIB_COPYRIGHT),
    )
    packages = by_name(result)
    assert packages["bash"].licenses[:2] == (
        "GPL-3.0-or-later",
        "GPL-3.0-or-later WITH Bison-exception-2.2",
    )
    assert packages["zlib1g"].licenses == ("Zlib",)
    assert packages["tzdata"].licenses == ()
    assert result.warnings == []


def test_copyright_reached_through_a_symlinked_doc_directory() -> None:
    # usr/share/doc/libgcc-s1 -> gcc-12-base: the walker resolves it through lookup()
    target = rec("usr/share/doc/gcc-12-base/copyright", CPP_COPYRIGHT)
    stanza = LIBC6.replace("Package: libc6", "Package: libgcc-s1")
    result = catalog(
        rec("var/lib/dpkg/status", status(stanza)),
        target,
        links={"usr/share/doc/libgcc-s1/copyright": target},
    )
    assert result.packages[0].licenses == ("GPL-2.0-or-later", "BSD-3-Clause")


def test_non_utf8_copyright_is_read_without_warning() -> None:
    latin1 = ZLIB_COPYRIGHT.replace(b"Jean-loup", b"J\xe9an-loup")
    result = catalog(
        rec("var/lib/dpkg/status", status(ZLIB1G)),
        rec("usr/share/doc/zlib1g/copyright", latin1),
    )
    assert result.packages[0].licenses == ("Zlib",)
    assert result.warnings == []


# --- history: introduced_layer -----------------------------------------------------------


def test_introduced_layer_is_the_start_of_the_uninterrupted_run() -> None:
    # layer 0: base image (tzdata); 1: apt install bash 5.2.15-2; 3: upgrade bash (+b8);
    # layer 2 rewrote the status without libc6, which came back in layer 3.
    bash_old = BASH.replace("Version: 5.2.15-2+b8", "Version: 5.2.15-2")
    history: tuple[tuple[int, bytes | None], ...] = (
        (0, status(TZDATA, LIBC6)),
        (1, status(TZDATA, LIBC6, bash_old)),
        (2, status(TZDATA, bash_old)),
    )
    result = catalog(
        rec("var/lib/dpkg/status", status(TZDATA, LIBC6, BASH), layer=3, history=history)
    )
    packages = by_name(result)
    assert packages["tzdata"].introduced_layer == 0
    assert packages["bash"].introduced_layer == 1  # an upgrade keeps the introduction
    assert packages["libc6"].introduced_layer == 3  # removed in 2, back in 3
    assert {p.layer for p in result.packages} == {3}


def test_history_counts_installed_state_and_arch() -> None:
    i386 = LIBC6.replace("Architecture: amd64", "Architecture: i386")
    history: tuple[tuple[int, bytes | None], ...] = (
        (0, status(TZDATA, i386)),  # another arch is another package
        (1, status(TZDATA, HALF_INSTALLED.replace("Package: curl", "Package: libc6"))),
    )
    stanza = HALF_INSTALLED.replace("install reinstreq half-installed", "install ok installed")
    result = catalog(
        rec("var/lib/dpkg/status", status(TZDATA, LIBC6, stanza), layer=2, history=history)
    )
    packages = by_name(result)
    assert packages["libc6"].introduced_layer == 2
    assert packages["curl"].introduced_layer == 2
    assert packages["tzdata"].introduced_layer == 0


def test_unreadable_history_stops_the_walk_back() -> None:
    history: tuple[tuple[int, bytes | None], ...] = (
        (0, status(TZDATA)),
        (1, None),  # too large to keep
        (2, status(TZDATA)),
    )
    result = catalog(rec("var/lib/dpkg/status", status(TZDATA), layer=3, history=history))
    assert result.packages[0].introduced_layer == 2


# --- distroless status.d ---------------------------------------------------------------

# gcr.io/distroless: one file per package, no Status field, md5sums beside it.
DISTROLESS_LIBSSL = b"""\
Package: libssl3
Source: openssl
Version: 3.0.15-1~deb12u1
Architecture: amd64
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Installed-Size: 6336
Depends: libc6 (>= 2.34)
Section: libs
Priority: optional
Multi-Arch: same
Homepage: https://www.openssl.org/
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols for secure communication over the
 Internet.
"""
DISTROLESS_LIBSSL_MD5 = b"""\
2fe2a4e5d1e2bd1d2a8c4e1f6bf1a2c3  usr/lib/x86_64-linux-gnu/libcrypto.so.3
9d1a8e2c0b3f4a5e6d7c8b9a0f1e2d3c  usr/lib/x86_64-linux-gnu/libssl.so.3
0a1b2c3d4e5f60718293a4b5c6d7e8f9  usr/share/doc/libssl3/changelog.Debian.gz
"""


def test_distroless_status_d() -> None:
    base = status(TZDATA.replace("Status: install ok installed\n", ""), LIBC6)
    result = catalog(
        rec("var/lib/dpkg/status.d/base", base, layer=0),
        rec("var/lib/dpkg/status.d/libssl3", DISTROLESS_LIBSSL, layer=1),
        rec("var/lib/dpkg/status.d/libssl3.md5sums", DISTROLESS_LIBSSL_MD5, layer=1),
    )
    packages = by_name(result)
    assert sorted(packages) == ["libc6", "libssl3", "tzdata"]
    ssl = packages["libssl3"]
    assert ssl.purl == (
        "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl"
    )
    assert (ssl.layer, ssl.introduced_layer) == (1, 1)
    assert ssl.locations == (
        Location("var/lib/dpkg/status.d/libssl3", 1),
        Location("var/lib/dpkg/status.d/libssl3.md5sums", 1),
    )
    assert packages["tzdata"].locations == (Location("var/lib/dpkg/status.d/base", 0),)
    assert (packages["tzdata"].layer, packages["libc6"].layer) == (0, 0)
    assert result.owned_files == {
        "usr/lib/x86_64-linux-gnu/libcrypto.so.3",
        "usr/lib/x86_64-linux-gnu/libssl.so.3",
        "usr/share/doc/libssl3/changelog.Debian.gz",
    }
    assert result.warnings == []


def test_distroless_file_history() -> None:
    old = DISTROLESS_LIBSSL.replace(b"3.0.15-1~deb12u1", b"3.0.11-1~deb12u2")
    result = catalog(
        rec("var/lib/dpkg/status.d/libssl3", DISTROLESS_LIBSSL, layer=5, history=((2, old),))
    )
    assert (result.packages[0].layer, result.packages[0].introduced_layer) == (5, 2)


def test_status_and_status_d_together() -> None:
    result = catalog(
        rec("var/lib/dpkg/status", status(TZDATA)),
        rec("var/lib/dpkg/status.d/libssl3", DISTROLESS_LIBSSL),
    )
    assert sorted(p.name for p in result.packages) == ["libssl3", "tzdata"]


# --- bad and odd input -------------------------------------------------------------------


def test_crlf_and_missing_trailing_newline() -> None:
    data = status(BASH, TZDATA).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    result = catalog(rec("var/lib/dpkg/status", data))
    packages = by_name(result)
    assert packages["tzdata"].metadata["homepage"] == "https://www.iana.org/time-zones"
    assert packages["bash"].version == "5.2.15-2+b8"
    assert result.warnings == []


def test_blank_lines_with_spaces_and_extra_separators() -> None:
    data = ("\n\n" + BASH + "   \n\n\t\n" + TZDATA + "\n\n\n").encode()
    assert sorted(p.name for p in catalog(rec("var/lib/dpkg/status", data)).packages) == [
        "bash",
        "tzdata",
    ]


def test_duplicate_stanza_is_reported_once_and_dropped() -> None:
    result = catalog(rec("var/lib/dpkg/status", status(TZDATA, BASH, TZDATA), layer=1))
    assert sorted(p.name for p in result.packages) == ["bash", "tzdata"]
    (warning,) = result.warnings
    assert warning.kind == "malformed"
    assert "duplicate stanza for tzdata" in warning.message
    assert (warning.path, warning.layer, warning.source) == ("var/lib/dpkg/status", 1, "dpkg")


def test_same_name_other_arch_is_not_a_duplicate() -> None:
    i386 = LIBC6.replace("Architecture: amd64", "Architecture: i386")
    result = catalog(rec("var/lib/dpkg/status", status(LIBC6, i386)))
    assert sorted(p.purl.split("arch=")[1][:5] for p in result.packages) == ["amd64", "i386&"]
    assert result.warnings == []


def test_malformed_stanzas_are_warned_about_and_skipped() -> None:
    data = (
        b" continuation before any field\n"
        b"Package:\n\n"
        b"Package: no-version\nStatus: install ok installed\n\n"
        b"Package: bad name\nVersion: 1\n\n"
        b"this line has no colon\n" + TZDATA.encode()
    )
    result = catalog(rec("var/lib/dpkg/status", data))
    assert [p.name for p in result.packages] == ["tzdata"]
    (warning,) = result.warnings
    assert warning.kind == "malformed"
    assert warning.message.startswith("line 1: continuation line outside a field")
    assert "(and 4 more)" in warning.message


def test_parse_status_reports_problems() -> None:
    entries, problems = parse_dpkg_status("Package: x\nVersion: 1\nVersion: 2\n")
    assert [(e.name, e.version) for e in entries] == [("x", "1")]
    assert problems == ["line 3: repeated field 'version'"]


def test_non_utf8_status_is_decoded_with_replacement_and_a_warning() -> None:
    data = status(TZDATA).replace(b"GNU Libc Maintainers", b"GNU Libc Ma\xefntainers")
    result = catalog(rec("var/lib/dpkg/status", data, layer=2))
    (tz,) = result.packages
    assert tz.metadata["maintainer"].startswith("GNU Libc Ma\ufffdntainers")
    (warning,) = result.warnings
    assert (warning.kind, warning.path, warning.layer) == ("encoding", "var/lib/dpkg/status", 2)


def test_oversized_status_is_skipped_silently() -> None:
    # data=None: the walker refused it (max_file_size) and recorded the warning itself
    result = catalog(rec("var/lib/dpkg/status", None))
    assert result.packages == []
    assert result.warnings == []


@pytest.mark.parametrize("data", [b"", b"\n\n\n", b"\x00\xff\xfe binary junk \x00"])
def test_empty_or_binary_status_does_not_crash(data: bytes) -> None:
    result = catalog(rec("var/lib/dpkg/status", data))
    assert result.packages == []


def test_large_status_file() -> None:
    stanzas = [
        TZDATA.replace("Package: tzdata", f"Package: pkg{i}").replace(
            "Version: 2025b-0+deb12u2", f"Version: 1.{i}-1"
        )
        for i in range(5_000)
    ]
    data = status(*stanzas)
    assert len(data) > 1_900_000  # a big real status file
    started = time.monotonic()
    result = catalog(rec("var/lib/dpkg/status", data, layer=1, history=((0, data),)))
    assert len(result.packages) == 5_000
    assert {p.introduced_layer for p in result.packages} == {0}
    assert time.monotonic() - started < 20


def test_output_is_deterministic() -> None:
    records = (
        rec("var/lib/dpkg/status", status(BASH, LIBC6, ZLIB1G, TZDATA), layer=1),
        rec("var/lib/dpkg/info/bash.list", BASH_LIST),
        rec("usr/share/doc/bash/copyright", BASH_COPYRIGHT),
    )
    first, second = catalog(*records), catalog(*records)
    assert [p.to_dict() for p in first.packages] == [p.to_dict() for p in second.packages]
    assert first.owned_files == second.owned_files


# --- against this machine's real dpkg database ------------------------------------------


@pytest.mark.skipif(
    shutil.which("dpkg-query") is None or not Path("/var/lib/dpkg/status").exists(),
    reason="not a Debian-family host",
)
def test_agrees_with_dpkg_query_on_this_host() -> None:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Status} ${Package} ${Version} ${Architecture}\n"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    expected = {
        tuple(line.split()[1:])
        for line in out.splitlines()
        if line.split()[0] in ("installed", "triggers-awaiting", "triggers-pending")
    }
    result = catalog(rec("var/lib/dpkg/status", Path("/var/lib/dpkg/status").read_bytes()))
    found = {(p.name, p.version, p.metadata["arch"]) for p in result.packages}
    assert found == expected
    assert result.warnings == []
