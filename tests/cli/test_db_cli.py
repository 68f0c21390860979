"""``sealyard db import`` and ``sealyard db status`` on a data directory."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from sealyard.cli.main import cli


def run(data: Path, *args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, [*args, "--data", str(data)])
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
        return result.output
    return result.stdout  # problems go to stderr


def osv(ident: str, modified: str = "2024-01-01T00:00:00Z") -> dict[str, Any]:
    return {
        "id": ident,
        "modified": modified,
        "affected": [{"package": {"ecosystem": "PyPI", "name": "demo"}}],
    }


def test_import_directory_and_zip_then_status(tmp_path: Path) -> None:
    data = tmp_path / "data"
    snapshot = tmp_path / "pypa"
    snapshot.mkdir()
    (snapshot / "A-1.json").write_text(json.dumps(osv("A-1")))
    (snapshot / "A-2.json").write_text(json.dumps(osv("A-2")))
    (snapshot / "broken.json").write_text("{")
    archive = tmp_path / "extra.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("B-1.json", json.dumps(osv("B-1", "2024-05-01T00:00:00Z")))

    result = CliRunner().invoke(
        cli, ["db", "import", str(snapshot), str(archive), "-o", "json", "--data", str(data)]
    )
    assert result.exit_code == 0, result.output
    assert "skipped broken.json: not valid JSON" in result.stderr
    rows = json.loads(result.stdout)
    assert [(r["source"], r["added"], r["invalid"]) for r in rows] == [
        ("pypa", 2, 1),
        ("extra", 1, 0),
    ]

    again = json.loads(run(data, "db", "import", str(snapshot), "-o", "json"))
    assert (again[0]["added"], again[0]["unchanged"]) == (0, 2)

    status = {s["name"]: s for s in json.loads(run(data, "db", "status", "-o", "json"))}
    assert status["pypa"]["records"] == 2
    assert status["extra"]["records"] == 1
    assert status["extra"]["newest_modified"] == 1714521600.0
    table = run(data, "db", "status")
    assert "2024-05-01T00:00:00Z" in table


def test_source_name_option_and_missing_source(tmp_path: Path) -> None:
    data = tmp_path / "data"
    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    (snapshot / "C-1.json").write_text(json.dumps(osv("C-1")))
    rows = json.loads(
        run(data, "db", "import", str(snapshot), "--source-name", "mine", "-o", "json")
    )
    assert rows[0]["source"] == "mine"
    assert [s["name"] for s in json.loads(run(data, "db", "status", "-o", "json"))] == ["mine"]
    out = run(data, "db", "import", str(tmp_path / "absent"), ok=False)
    assert "does not exist" in out


def test_help_lists_db_commands() -> None:
    out = CliRunner().invoke(cli, ["db", "--help"]).output
    assert "import" in out
    assert "status" in out
