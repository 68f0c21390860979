"""The human table: sorted, aligned, de-duplicated, and safe to print on a terminal."""

from __future__ import annotations

import re
import unicodedata

from sealyard.sbom.formats import FORMATS, Table, render
from sealyard.sbom.formats.table import printable
from sealyard.sbom.model import Location, Package
from tests.sbom.formats import LIBC, PACKAGES, empty_sbom, sample_sbom


def _rows(text: str) -> list[list[str]]:
    lines = text.split("\n\n")[0].splitlines()
    return [line.split() for line in lines]


def test_header_and_sorted_rows() -> None:
    rows = _rows(render(sample_sbom(), "table"))
    assert rows[0] == ["NAME", "VERSION", "TYPE"]
    assert rows[1:] == [
        ["@babel/core", "7.24.0", "npm"],
        ["github.com/spf13/cobra", "v1.8.0", "golang"],
        ["jackson-databind", "2.16.1", "maven"],
        ["libc6", "2.36-9+deb12u4", "deb"],
        ["naïve-日本語", "1.0.0+local.1", "pypi"],
        ["openssl", "1:3.0.11-1~deb12u2", "deb"],
        ["requests", "2.31.0", "pypi"],  # two locations, one row
        ["tzdata", "2024a-0+deb12u1", "deb"],
    ]


def _cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in {"W", "F"} else 1 for ch in text)


def test_columns_are_aligned_counting_wide_characters() -> None:
    lines = render(sample_sbom(), "table").splitlines()
    version_col = lines[0].index("VERSION")
    type_col = lines[0].index("TYPE")
    for line in lines[1:9]:
        name_and_pad = re.match(r"\S+ +", line)
        assert name_and_pad is not None
        assert _cells(name_and_pad.group()) == version_col, line
        before_type = re.match(r"\S+ +\S+ +", line)
        assert before_type is not None
        assert _cells(before_type.group()) == type_col, line


def test_deterministic_and_order_independent() -> None:
    assert render(sample_sbom(), "table") == render(sample_sbom(packages=PACKAGES), "table")


def test_empty() -> None:
    assert render(empty_sbom(), "table") == "No packages found.\n"


def test_warnings_are_listed_after_the_table() -> None:
    text = render(sample_sbom(), "table")
    assert text.endswith(
        "2 warning(s):\n"
        "  [path-escape] (layer 0): member escapes the root: ../../etc/passwd\n"
        "  [unreadable] var/lib/rpm/rpmdb.sqlite (layer 1): rpmdb is not a sqlite database\n"
    )


def test_terminal_escapes_from_the_image_are_neutralised() -> None:
    evil = Package(
        name="evil\x1b[2J\x1b]0;owned\x07",
        version="1.0\r\n\u202e",
        type="npm",
        purl="pkg:npm/evil@1.0",
        found_by="npm-package-cataloger",
        locations=(Location("app/package.json", 0),),
    )
    text = render(sample_sbom(packages=(evil, LIBC), warnings=()), "table")
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\u202e" not in text
    assert "evil\\x1b[2J\\x1b]0;owned\\x07" in text
    assert "1.0\\x0d\\x0a\\u202e" in text
    assert len(text.splitlines()) == 3


def test_printable_keeps_ordinary_unicode() -> None:
    assert printable("naïve-日本語 ok") == "naïve-日本語 ok"
    assert printable("tab\there") == "tab\\x09here"


def test_registered() -> None:
    assert isinstance(FORMATS["table"], Table)
    assert FORMATS["table"].media_type.startswith("text/plain")
