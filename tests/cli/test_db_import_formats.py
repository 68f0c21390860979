"""``sealyard db import --format``: recognising each advisory format, and forcing one."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sealyard.cli.db import detect_format
from sealyard.cli.main import cli

TRACKER = {
    "openssl": {
        "CVE-2024-0001": {
            "description": "overflow",
            "releases": {
                "bookworm": {"status": "resolved", "fixed_version": "3.0.13-1", "urgency": "low"},
                "bullseye": {"status": "open", "urgency": "low"},
            },
        }
    },
    "zlib": {"CVE-2024-0002": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}},
}

SECDB = {
    "distroversion": "v3.20",
    "reponame": "main",
    "archs": ["x86_64"],
    "packages": [
        {"pkg": {"name": "openssl", "secfixes": {"3.3.2-r0": ["CVE-2024-6119", "CVE-2024-5535"]}}}
    ],
}

OSV = {
    "id": "GHSA-aaaa-bbbb-cccc",
    "modified": "2024-01-01T00:00:00Z",
    "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"}}],
}

DSA_LIST = """\
[02 Apr 2023] DSA-5380-1 firefox-esr - security update
\t{CVE-2023-25751}
\t[bookworm] - firefox-esr 102.9.0esr-1
"""


def invoke(data: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["db", "import", *args, "--data", str(data)])


def rows(data: Path, *args: str) -> list[dict[str, Any]]:
    result = invoke(data, *args, "-o", "json")
    assert result.exit_code == 0, result.output
    out: list[dict[str, Any]] = json.loads(result.stdout)
    return out


@pytest.fixture
def snapshots(tmp_path: Path) -> dict[str, Path]:
    root = tmp_path / "snapshots"
    (root / "secdb" / "v3.20").mkdir(parents=True)
    (root / "secdb" / "v3.20" / "main.json").write_text(json.dumps(SECDB))
    community = {**SECDB, "reponame": "community"}
    (root / "secdb" / "v3.20" / "community.json").write_text(json.dumps(community))
    (root / "pypa").mkdir()
    (root / "pypa" / "GHSA-aaaa-bbbb-cccc.json").write_text(json.dumps(OSV))
    (root / "checkout" / "data" / "DSA").mkdir(parents=True)
    (root / "checkout" / "data" / "DSA" / "list").write_text(DSA_LIST)
    (root / "tracker.json").write_text(json.dumps(TRACKER, indent=2))
    with zipfile.ZipFile(root / "all.zip", "w") as zf:
        zf.writestr("GHSA-aaaa-bbbb-cccc.json", json.dumps(OSV))
    return {
        "tracker": root / "tracker.json",
        "secdb_dir": root / "secdb",
        "secdb_file": root / "secdb" / "v3.20" / "main.json",
        "osv_dir": root / "pypa",
        "osv_zip": root / "all.zip",
        "checkout": root / "checkout",
        "list": root / "checkout" / "data" / "DSA" / "list",
    }


def test_auto_recognises_every_format(tmp_path: Path, snapshots: dict[str, Path]) -> None:
    data = tmp_path / "data"
    found = rows(
        data,
        str(snapshots["tracker"]),
        str(snapshots["secdb_dir"]),
        str(snapshots["osv_dir"]),
        str(snapshots["checkout"]),
    )
    assert [(r["source"], r["format"], r["added"], r["invalid"]) for r in found] == [
        ("debian-tracker", "debian-tracker", 2, 0),
        ("alpine-secdb", "alpine-secdb", 4, 0),  # two CVEs in each of two files
        ("pypa", "osv", 1, 0),
        ("debian", "debian-list", 1, 0),
    ]
    status = json.loads(
        CliRunner().invoke(cli, ["db", "status", "-o", "json", "--data", str(data)]).stdout
    )
    assert {s["name"]: s["records"] for s in status} == {
        "alpine-secdb": 4,
        "debian": 1,
        "debian-tracker": 2,
        "pypa": 1,
    }


def test_detect_format_by_layout_and_first_bytes(
    tmp_path: Path, snapshots: dict[str, Path]
) -> None:
    expected = {
        "tracker": "debian-tracker",
        "secdb_dir": "alpine-secdb",
        "secdb_file": "alpine-secdb",
        "osv_dir": "osv",
        "osv_zip": "osv",
        "checkout": "debian-list",
        "list": "debian-list",
    }
    assert {k: detect_format(p) for k, p in snapshots.items()} == expected
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    assert detect_format(empty) == "osv"
    (tmp_path / "nothing").mkdir()
    assert detect_format(tmp_path / "nothing") == "osv"


def test_a_forced_format_is_used_as_is(tmp_path: Path, snapshots: dict[str, Path]) -> None:
    data = tmp_path / "data"
    tracker = str(snapshots["tracker"])
    as_osv = rows(data, "--format", "osv", tracker)
    assert (as_osv[0]["format"], as_osv[0]["source"], as_osv[0]["added"]) == ("osv", "tracker", 0)
    assert as_osv[0]["invalid"] == 1
    result = invoke(data, "--format", "alpine-secdb", tracker)
    assert result.exit_code == 0, result.output
    assert "not an Alpine secdb document" in result.stderr
    named = rows(data, "--format", "debian-tracker", "--source-name", "dst", tracker)
    assert (named[0]["source"], named[0]["added"]) == ("dst", 2)


def test_reimport_reports_nothing_added(tmp_path: Path, snapshots: dict[str, Path]) -> None:
    data = tmp_path / "data"
    paths = (str(snapshots["tracker"]), str(snapshots["secdb_file"]))
    first = rows(data, *paths)
    assert [r["added"] for r in first] == [2, 2]
    again = rows(data, *paths)
    assert [(r["added"], r["updated"], r["unchanged"]) for r in again] == [(0, 0, 2), (0, 0, 2)]


def test_problems_are_shown_and_bad_choices_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    broken = tmp_path / "tracker.json"
    broken.write_text('{"openssl": {"CVE-2024-0001": {"releases": {"bookworm": ')
    result = invoke(data, "--format", "debian-tracker", str(broken))
    assert result.exit_code == 0, result.output
    assert "debian-tracker: skipped tracker.json: not valid tracker JSON" in result.stderr
    refused = invoke(data, "--format", "yaml", str(broken))
    assert refused.exit_code != 0
    assert "Invalid value for '--format'" in refused.output


def test_help_lists_the_formats() -> None:
    out = CliRunner().invoke(cli, ["db", "import", "--help"]).output
    for fmt in ("auto", "osv", "debian-tracker", "alpine-secdb", "debian-list"):
        assert fmt in out
