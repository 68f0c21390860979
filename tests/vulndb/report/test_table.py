"""The human table: active findings, a separate suppressed section, warnings; escaped text."""

from __future__ import annotations

from dataclasses import replace

from sealyard.vulndb.report import render
from tests.sbom.formats import OPENSSL
from tests.vulndb.report import finding, sample_report


def test_sections_for_active_suppressed_and_warnings() -> None:
    text = render(sample_report(), "table")
    active, suppressed, warnings = text.split("\n\n")
    assert active.splitlines()[0].split() == [
        "PACKAGE",
        "VERSION",
        "VULNERABILITY",
        "SEVERITY",
        "FIXED",
        "IN",
        "VEX",
    ]
    assert "CVE-2024-0001" in active
    assert "CRITICAL 9.8" in active
    assert "VEX affected: action: upgrade jackson-databind to 2.17" in active
    assert "CVE-2024-0002" not in active
    assert suppressed.splitlines()[0] == "Suppressed (2):"
    assert "VEX not_affected: vulnerable_code_not_in_execute_path: the TLS server" in suppressed
    assert "allowlisted through 2025-06-30: libc fix pending upstream" in suppressed
    assert "(allow.yaml entries[0])" in suppressed
    assert warnings.splitlines()[0] == "2 warning(s):"
    assert "[allowlist-expired] allowlist entry CVE-2020-0001 (entries[1]) expired" in warnings


def test_columns_line_up_and_empty_columns_are_left_out() -> None:
    text = render(sample_report(findings=(finding("CVE-2024-0009", OPENSSL),)), "table")
    header, row = text.splitlines()[:2]
    assert "VEX" not in header  # no finding has a VEX statement
    assert row.index("CVE-2024-0009") == header.index("VULNERABILITY")
    assert row.index("UNKNOWN") == header.index("SEVERITY")


def test_untrusted_text_is_escaped() -> None:
    evil = replace(OPENSSL, name="openssl\x1b[2J", version="1\n2")
    text = render(sample_report(findings=(finding("CVE-2024-0009", evil),)), "table")
    assert "\x1b" not in text
    assert "openssl\\x1b[2J" in text
    assert "1\\x0a2" in text


def test_nothing_found() -> None:
    text = render(sample_report(findings=()), "table")
    assert text.startswith("No active findings.\n")
    assert "Suppressed" not in text
