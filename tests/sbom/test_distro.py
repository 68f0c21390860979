"""os-release parsing and distro detection with its fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealyard.sbom.distro import (
    ALL_DISTRO_PATHS,
    DISTRO_PATHS,
    FALLBACK_DISTRO_PATHS,
    detect_distro,
    parse_alpine_release,
    parse_debian_version,
    parse_os_release,
)
from sealyard.sbom.model import Distro

# /etc/os-release of Debian 12 as shipped (usr/lib/os-release, unquoted and quoted values).
DEBIAN_12 = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

# Alpine 3.19's /etc/os-release: unquoted ID and VERSION_ID.
ALPINE_3_19 = b"""NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
HOME_URL="https://alpinelinux.org/"
BUG_REPORT_URL="https://gitlab.alpinelinux.org/alpine/aports/-/issues"
"""

# Ubuntu's: ID_LIKE lists the parent distro.
UBUNTU_22_04 = b"""PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
"""


def test_debian_os_release() -> None:
    assert parse_os_release(DEBIAN_12) == Distro(
        id="debian",
        version_id="12",
        version_codename="bookworm",
        name="Debian GNU/Linux",
        pretty_name="Debian GNU/Linux 12 (bookworm)",
        id_like=(),
    )


def test_alpine_unquoted_values() -> None:
    distro = parse_os_release(ALPINE_3_19)
    assert distro is not None
    assert (distro.id, distro.version_id, distro.pretty_name) == (
        "alpine",
        "3.19.1",
        "Alpine Linux v3.19",
    )


def test_id_like_is_split() -> None:
    distro = parse_os_release(b'ID=rocky\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n')
    assert distro is not None
    assert distro.id_like == ("rhel", "centos", "fedora")
    ubuntu = parse_os_release(UBUNTU_22_04)
    assert ubuntu is not None
    assert (ubuntu.id, ubuntu.id_like, ubuntu.version_codename) == (
        "ubuntu",
        ("debian",),
        "jammy",
    )


def test_quoting_escapes_and_comments() -> None:
    data = (
        b"# comment line\n"
        b"   # indented comment\n"
        b"\n"
        b'NAME="Say \\"hi\\" for \\$5 and \\\\ back\\slash"\n'
        b"PRETTY_NAME='single $quoted \\n literal'\n"
        b"VERSION_ID=1.2\"3\"'4'\n"
        b"ID=Mixed # trailing comment\n"
        b"VERSION_CODENAME=a\\ b\n"
        b"not a line\n"
        b"=nokey\n"
        b"BAD KEY=x\n"
    )
    distro = parse_os_release(data)
    assert distro is not None
    # Inside double quotes only \" \\ \$ \` are escapes; other backslashes stay.
    assert distro.name == 'Say "hi" for $5 and \\ back\\slash'
    assert distro.pretty_name == "single $quoted \\n literal"
    assert distro.version_id == "1.234"
    assert distro.id == "mixed"  # lower-cased, comment dropped
    assert distro.version_codename == "a b"


def test_unterminated_quote_drops_only_that_line() -> None:
    distro = parse_os_release(b'ID=debian\nPRETTY_NAME="Debian GNU/Linux\nVERSION_ID=12\n')
    assert distro is not None
    assert (distro.id, distro.version_id, distro.pretty_name) == ("debian", "12", "")


def test_crlf_bom_and_no_trailing_newline() -> None:
    data = b'\xef\xbb\xbfID=alpine\r\nVERSION_ID="3.20.0"\r\nNAME="Alpine Linux"'
    assert parse_os_release(data) == Distro(id="alpine", version_id="3.20.0", name="Alpine Linux")


def test_non_utf8_is_replaced_not_fatal() -> None:
    distro = parse_os_release(b'ID=debian\nNAME="Deb\xe9an"\n')
    assert distro is not None
    assert distro.name == "Deb\ufffdan"


def test_missing_id_defaults_to_linux() -> None:
    assert parse_os_release(b'NAME="Custom"\n') == Distro(id="linux", name="Custom")


@pytest.mark.parametrize("data", [b"", b"\n\n", b"# only a comment\n", b"\x00\x01\x02garbage"])
def test_no_assignments_gives_none(data: bytes) -> None:
    assert parse_os_release(data) is None


def test_etc_wins_over_usr_lib() -> None:
    files = {"etc/os-release": ALPINE_3_19, "usr/lib/os-release": DEBIAN_12}
    distro = detect_distro(files.get)
    assert distro is not None
    assert distro.id == "alpine"
    assert DISTRO_PATHS == ("etc/os-release", "usr/lib/os-release")


def test_usr_lib_is_used_when_etc_is_absent_or_empty() -> None:
    assert (detect_distro({"usr/lib/os-release": DEBIAN_12}.get) or Distro("x")).id == "debian"
    files = {"etc/os-release": b"# emptied\n", "usr/lib/os-release": DEBIAN_12}
    assert (detect_distro(files.get) or Distro("x")).id == "debian"


def test_os_release_beats_fallback_files() -> None:
    files = {"usr/lib/os-release": UBUNTU_22_04, "etc/debian_version": b"bookworm/sid\n"}
    assert (detect_distro(files.get) or Distro("x")).id == "ubuntu"


def test_alpine_release_fallback() -> None:
    distro = detect_distro({"etc/alpine-release": b"3.19.1\n"}.get)
    assert distro == Distro(
        id="alpine", version_id="3.19.1", name="Alpine Linux", pretty_name="Alpine Linux v3.19.1"
    )


def test_debian_version_fallback_point_release() -> None:
    distro = detect_distro({"etc/debian_version": b"12.11\n"}.get)
    assert distro is not None
    assert (distro.id, distro.version_id, distro.pretty_name) == (
        "debian",
        "12",
        "Debian GNU/Linux 12.11",
    )


def test_debian_version_fallback_testing() -> None:
    distro = parse_debian_version(b"trixie/sid\n")
    assert distro is not None
    assert (distro.id, distro.version_id, distro.version_codename) == ("debian", "", "trixie")


def test_alpine_release_is_preferred_to_debian_version() -> None:
    files = {"etc/debian_version": b"12.5\n", "etc/alpine-release": b"3.18.4\n"}
    assert (detect_distro(files.get) or Distro("x")).id == "alpine"


@pytest.mark.parametrize("data", [b"", b"\n  \n"])
def test_empty_release_files_give_none(data: bytes) -> None:
    assert parse_alpine_release(data) is None
    assert parse_debian_version(data) is None


def test_nothing_found() -> None:
    assert detect_distro(lambda _path: None) is None


def test_reads_only_the_documented_paths() -> None:
    asked: list[str] = []

    def read(path: str) -> bytes | None:
        asked.append(path)
        return None

    detect_distro(read)
    assert asked == list(ALL_DISTRO_PATHS)
    assert ALL_DISTRO_PATHS == DISTRO_PATHS + FALLBACK_DISTRO_PATHS


@pytest.mark.skipif(not Path("/etc/os-release").exists(), reason="host has no os-release")
def test_parses_this_hosts_os_release() -> None:
    distro = parse_os_release(Path("/etc/os-release").read_bytes())
    assert distro is not None
    assert distro.id
    assert distro.id == distro.id.lower()
