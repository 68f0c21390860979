"""``sealyard scan`` end to end on a data directory: import advisories, scan an image."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sealyard.cli.main import cli
from tests.fixtures.images import FileEntry, build_image, build_layer, write_oci_layout

META = "Metadata-Version: 2.1\nName: requests\nVersion: {v}\n"


def _layout(tmp_path: Path, version: str) -> Path:
    site = "usr/local/lib/python3.11/site-packages"
    layer = build_layer(
        [
            FileEntry("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
            FileEntry(
                f"{site}/requests-{version}.dist-info/METADATA", META.format(v=version).encode()
            ),
        ]
    )
    return write_oci_layout(tmp_path / f"img-{version}", {"latest": build_image([layer])})


def test_scan_reports_a_finding_from_imported_advisories(tmp_path: Path) -> None:
    data = tmp_path / "data"
    advisories = tmp_path / "osv"
    advisories.mkdir()
    (advisories / "GHSA-test.json").write_text(
        json.dumps(
            {
                "id": "GHSA-test-0001",
                "modified": "2024-01-01T00:00:00Z",
                "aliases": ["CVE-2099-1"],
                "summary": "test advisory",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "requests"},
                        "ranges": [
                            {
                                "type": "ECOSYSTEM",
                                "events": [{"introduced": "0"}, {"fixed": "2.32.0"}],
                            }
                        ],
                    }
                ],
            }
        )
    )
    runner = CliRunner()
    imported = runner.invoke(cli, ["db", "import", "--data", str(data), str(advisories)])
    assert imported.exit_code == 0, imported.output

    vulnerable = _layout(tmp_path, "2.31.0")
    result = runner.invoke(
        cli,
        [
            "scan",
            "--data",
            str(data),
            f"oci:{vulnerable}:latest",
            "-o",
            "json",
            "--fail-on-findings",
        ],
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert [
        (f["records"], f["package"]["version"], f["fixedVersions"]) for f in doc["findings"]
    ] == [(["GHSA-test-0001"], "2.31.0", ["2.32.0"])]

    patched = _layout(tmp_path, "2.32.0")
    clean = runner.invoke(
        cli, ["scan", "--data", str(data), f"oci:{patched}:latest", "--fail-on-findings"]
    )
    assert clean.exit_code == 0, clean.output
