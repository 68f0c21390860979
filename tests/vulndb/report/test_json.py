"""Sealyard's JSON report: active and suppressed findings apart, verdicts spelled out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sealyard.errors import UsageError
from sealyard.vulndb.report import FORMATS, get_format, render
from tests.vulndb.report import sample_report


def _doc() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(render(sample_report(), "json"))
    return result


def test_top_level_layout() -> None:
    doc = _doc()
    assert list(doc) == [
        "schema",
        "tool",
        "image",
        "manifestDigest",
        "packages",
        "findings",
        "suppressed",
        "warnings",
        "skipped",
    ]
    assert doc["schema"] == "sealyard-scan/1"
    assert doc["packages"] == 9
    assert doc["skipped"] == [
        {"purl": "pkg:generic/thing@1", "reason": "no advisory mapping for this package type"}
    ]


def test_findings_and_suppressed_are_separate_and_explained() -> None:
    doc = _doc()
    assert [f["vulnerability"] for f in doc["findings"]] == [
        "CVE-2024-0001",
        "GHSA-9999-8888-7777",
    ]
    assert all(f["suppression"] is None for f in doc["findings"])
    assert doc["findings"][1]["vex"]["action"] == "upgrade jackson-databind to 2.17"
    by_id = {f["vulnerability"]: f for f in doc["suppressed"]}
    assert by_id["CVE-2024-0002"]["suppression"]["by"] == "vex"
    assert by_id["CVE-2024-0002"]["suppression"]["justification"] == (
        "vulnerable_code_not_in_execute_path"
    )
    allow = by_id["CVE-2024-0003"]["suppression"]
    assert (allow["by"], allow["reason"], allow["expires"], allow["expiresAsWritten"]) == (
        "allowlist",
        "libc fix pending upstream; not reachable from the app",
        "2025-07-01T00:00:00Z",
        "2025-06-30",
    )
    assert [w["kind"] for w in doc["warnings"]] == ["vex-affected", "allowlist-expired"]


def test_rendering_is_deterministic() -> None:
    report = sample_report()
    for name in FORMATS:
        assert render(report, name, deterministic=True) == render(report, name, deterministic=True)


def test_unknown_format_is_a_usage_error() -> None:
    assert get_format("sarif").media_type == "application/sarif+json"
    with pytest.raises(UsageError, match="choose one of: cyclonedx-json, json, sarif, table"):
        get_format("html")
