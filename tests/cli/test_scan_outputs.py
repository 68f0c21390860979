"""``sealyard scan`` end to end: output formats, VEX, the allowlist and --fail-on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from sealyard.cli.main import cli, main
from sealyard.errors import UntrustedDataError
from tests.fixtures.images import FileEntry, build_image, build_layer, write_oci_layout

SITE = "usr/local/lib/python3.11/site-packages"
CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _dist(name: str, version: str) -> FileEntry:
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    return FileEntry(f"{SITE}/{name}-{version}.dist-info/METADATA", meta.encode())


def _advisory(ident: str, package: str, fixed: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "modified": "2024-01-01T00:00:00Z",
        "summary": f"{package} advisory",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
        **extra,
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A data directory with two advisories and an image with both packages vulnerable."""
    root = tmp_path_factory.mktemp("scan-outputs")
    advisories = root / "osv"
    advisories.mkdir()
    records = [
        _advisory(
            "GHSA-aaaa-bbbb-cccc",
            "requests",
            "2.32.0",
            aliases=["CVE-2099-0001"],
            severity=[{"type": "CVSS_V3", "score": CRITICAL}],
            references=[{"type": "ADVISORY", "url": "https://example.com/adv/requests"}],
            database_specific={"cwe_ids": ["CWE-444"]},
        ),
        _advisory(
            "GHSA-dddd-eeee-ffff",
            "urllib3",
            "1.26.18",
            database_specific={"severity": "MODERATE"},
        ),
    ]
    for record in records:
        (advisories / f"{record['id']}.json").write_text(json.dumps(record))
    data = root / "data"
    imported = CliRunner().invoke(cli, ["db", "import", "--data", str(data), str(advisories)])
    assert imported.exit_code == 0, imported.output
    layer = build_layer(
        [
            FileEntry("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
            _dist("requests", "2.31.0"),
            _dist("urllib3", "1.26.0"),
        ]
    )
    layout = write_oci_layout(root / "img", {"latest": build_image([layer])})
    return data, f"oci:{layout}:latest"


def scan(setup: tuple[Path, str], *args: str) -> Result:
    data, image = setup
    return CliRunner().invoke(cli, ["scan", "--data", str(data), image, *args])


def scan_json(setup: tuple[Path, str], *args: str) -> tuple[int, dict[str, Any]]:
    result = scan(setup, "-o", "json", *args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def write(path: Path, doc: Any) -> Path:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def openvex(vuln: str, product: dict[str, Any], status: str, **extra: Any) -> dict[str, Any]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/app",
        "author": "Example Security",
        "timestamp": "2024-06-01T00:00:00Z",
        "version": 1,
        "statements": [
            {"vulnerability": {"name": vuln}, "products": [product], "status": status, **extra}
        ],
    }


def test_fail_on_thresholds_count_active_findings(setup: tuple[Path, str]) -> None:
    code, doc = scan_json(setup)
    assert code == 0
    ratings = {f["package"]["name"]: f["rating"] for f in doc["findings"]}
    assert ratings == {"requests": "CRITICAL", "urllib3": "MEDIUM"}
    assert doc["suppressed"] == []
    assert scan(setup, "--fail-on", "CRITICAL").exit_code == 1
    assert scan(setup, "--fail-on", "medium").exit_code == 1
    assert scan(setup, "--fail-on-findings").exit_code == 1
    assert scan(setup, "--fail-on", "UNKNOWN").exit_code == 1


def test_vex_suppresses_visibly_and_thresholds_follow(
    setup: tuple[Path, str], tmp_path: Path
) -> None:
    _, plain = scan_json(setup)
    digest = plain["manifestDigest"]
    vex = write(
        tmp_path / "vex.json",
        openvex(
            "CVE-2099-0001",  # the advisory's alias
            {"@id": f"pkg:oci/app@{digest}", "subcomponents": [{"@id": "pkg:pypi/requests"}]},
            "not_affected",
            justification="vulnerable_code_not_in_execute_path",
        ),
    )
    code, doc = scan_json(setup, "--vex", str(vex), "--fail-on", "HIGH")
    assert code == 0  # the CRITICAL finding is suppressed; MEDIUM is below HIGH
    assert [f["package"]["name"] for f in doc["findings"]] == ["urllib3"]
    [suppressed] = doc["suppressed"]
    assert suppressed["package"]["name"] == "requests"
    assert suppressed["suppression"]["source"] == "https://example.com/vex/app"
    assert suppressed["suppression"]["justification"] == "vulnerable_code_not_in_execute_path"
    assert scan(setup, "--vex", str(vex), "--fail-on", "MEDIUM").exit_code == 1
    table = scan(setup, "--vex", str(vex))
    assert "Suppressed (1):" in table.stdout
    assert "1 active and 1 suppressed findings" in table.stderr


def test_allowlist_with_expired_entry_warns(setup: tuple[Path, str], tmp_path: Path) -> None:
    allow = write(
        tmp_path / "allow.yaml",
        "entries:\n"
        "  - id: GHSA-dddd-eeee-ffff\n"
        "    expires: 2999-01-01\n"
        "    reason: urllib3 only talks to localhost here\n"
        "    packages: [pkg:pypi/urllib3]\n"
        "  - id: CVE-2099-0001\n"
        "    expires: 2020-01-01\n"
        "    reason: lapsed\n",
    )
    result = scan(setup, "-o", "json", "--allowlist", str(allow), "--fail-on-findings")
    assert result.exit_code == 1  # requests is still active: its entry expired
    doc = json.loads(result.stdout)
    assert [f["package"]["name"] for f in doc["findings"]] == ["requests"]
    assert [f["suppression"]["by"] for f in doc["suppressed"]] == ["allowlist"]
    [warning] = doc["warnings"]
    assert warning["kind"] == "allowlist-expired"
    assert "would have suppressed 1 finding(s)" in warning["message"]
    assert "warning: allowlist entry CVE-2099-0001" in result.stderr


def test_sarif_to_a_file(setup: tuple[Path, str], tmp_path: Path) -> None:
    out = tmp_path / "scan.sarif"
    result = scan(setup, "-o", "sarif", "--output-file", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    doc = json.loads(out.read_text())
    assert doc["version"] == "2.1.0"
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["CVE-2099-0001"]["helpUri"] == "https://example.com/adv/requests"
    results = {r["ruleId"]: r for r in doc["runs"][0]["results"]}
    uri = results["CVE-2099-0001"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == f"{SITE}/requests-2.31.0.dist-info/METADATA"
    assert results["CVE-2099-0001"]["level"] == "error"


def test_cyclonedx_output_is_valid_and_links_components(
    setup: tuple[Path, str], tmp_path: Path
) -> None:
    vex = write(
        tmp_path / "vex.cdx.json",
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "vulnerabilities": [
                {
                    "id": "GHSA-dddd-eeee-ffff",
                    "analysis": {"state": "false_positive", "detail": "not the vendored copy"},
                    "affects": [{"ref": "pkg:pypi/urllib3@1.26.0"}],
                }
            ],
        },
    )
    result = scan(setup, "-o", "cyclonedx-json", "--vex", str(vex), "--deterministic")
    assert result.exit_code == 0, result.output
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(result.stdout) is None
    doc = json.loads(result.stdout)
    names = {c["bom-ref"]: c["name"] for c in doc["components"]}
    vulns = {v["id"]: v for v in doc["vulnerabilities"]}
    assert names[vulns["CVE-2099-0001"]["affects"][0]["ref"]] == "requests"
    assert vulns["CVE-2099-0001"]["cwes"] == [444]
    assert vulns["CVE-2099-0001"]["recommendation"] == "upgrade requests to 2.32.0"
    assert vulns["GHSA-dddd-eeee-ffff"]["analysis"]["state"] == "false_positive"
    again = json.loads(scan(setup, "-o", "cyclonedx-json", "--deterministic").stdout)
    assert again["serialNumber"] == doc["serialNumber"]  # derived from the image digest


def test_bad_vex_and_allowlist_files_are_clear_errors(
    setup: tuple[Path, str], tmp_path: Path
) -> None:
    bad_vex = write(tmp_path / "bad.json", openvex("CVE-1", {"@id": "pkg:pypi/x"}, "not_affected"))
    result = scan(setup, "--vex", str(bad_vex))
    assert result.exit_code == 1
    assert isinstance(result.exception, UntrustedDataError)
    assert "not_affected needs a justification" in str(result.exception)
    bad_allow = write(tmp_path / "allow.yaml", "entries:\n  - id: CVE-2099-0001\n    reason: x\n")
    result = scan(setup, "--allowlist", str(bad_allow))
    assert isinstance(result.exception, UntrustedDataError)
    assert "entries[0].expires is required" in str(result.exception)
    assert "Usage" in scan(setup, "--fail-on", "SEVERE").output


def test_main_prints_the_error_without_a_traceback(
    setup: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, image = setup
    with pytest.raises(SystemExit) as exit_info:
        main(["scan", "--data", str(data), image, "--vex", str(tmp_path / "missing.json")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read VEX file")
    assert "Traceback" not in err
