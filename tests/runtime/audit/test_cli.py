"""``sealyard audit`` end to end through click: formats, --standard, --fail-on, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sealyard.cli.audit import audit
from tests.runtime.audit.documents import base, encode


def invoke(*args: str) -> Result:
    return CliRunner().invoke(audit, list(args))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for fmt, name in (
        ("docker-inspect", "inspect.json"),
        ("compose", "compose.yaml"),
        ("kubernetes", "deploy.yaml"),
    ):
        path = tmp_path / name
        path.write_bytes(encode(fmt, base(fmt)))
        out[fmt] = path
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_bytes(encode("oci", base("oci")))
    out["oci"] = bundle / "config.json"
    privileged = base("kubernetes")
    privileged["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    out["privileged"] = tmp_path / "privileged.yaml"
    out["privileged"].write_bytes(encode("kubernetes", privileged))
    return out


def test_bare_files_mean_the_config_subcommand(files: dict[str, Path]) -> None:
    result = invoke(*(str(files[f]) for f in ("docker-inspect", "compose", "kubernetes", "oci")))
    assert result.exit_code == 0, result.output
    assert "0 finding(s) in 4 resource(s)" in result.output
    explicit = invoke("config", str(files["oci"]))
    assert explicit.exit_code == 0
    assert "0 finding(s) in 1 resource(s)" in explicit.output


def test_json_output_and_standard(files: dict[str, Path]) -> None:
    result = invoke(str(files["privileged"]), "-o", "json", "--standard", "pss-baseline")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["standards"] == ["pss-baseline"]
    assert [f["id"] for f in document["findings"]] == ["PSS-BASELINE-PRIVILEGED"]


def test_sarif_to_a_file(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "audit.sarif"
    result = invoke("-o", "sarif", str(files["privileged"]), "--output-file", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    document = json.loads(out.read_text())
    assert document["version"] == "2.1.0"
    assert {r["ruleId"] for r in document["runs"][0]["results"]} >= {"CIS-5.5"}


def test_fail_on(files: dict[str, Path]) -> None:
    failing = invoke(str(files["privileged"]), "--fail-on", "HIGH")
    assert failing.exit_code == 1
    assert "rated high or higher" in failing.stderr
    assert invoke(str(files["kubernetes"]), "--fail-on", "info").exit_code == 0


def test_bad_input_exits_2_with_the_reason(tmp_path: Path, files: dict[str, Path]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  web:\n    privileged: [1]\n")
    result = invoke(str(files["kubernetes"]), str(bad))
    assert result.exit_code == 2
    assert "services.web.privileged: expected a boolean" in result.stderr
    missing = invoke(str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2
    assert "cannot read" in missing.stderr
    unknown = invoke(str(files["kubernetes"]), "--standard", "nist")
    assert unknown.exit_code == 2


def test_dockerfile_subcommand(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM ubuntu:22.04\nRUN curl -s https://x.example/i.sh | bash\n")
    result = invoke("dockerfile", str(dockerfile), "-o", "json", "--fail-on", "high")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert {f["id"] for f in document["findings"]} == {"DF-1", "DF-5", "DF-7"}
    assert any("signatures were not checked" in n for n in document["notes"])
    broken = tmp_path / "Broken"
    broken.write_text("RUN echo\n")
    assert invoke("dockerfile", str(broken)).exit_code == 2


def test_host_subcommand(tmp_path: Path) -> None:
    fake = invoke("host", "--root", str(tmp_path), "-o", "json")
    assert fake.exit_code == 0
    assert json.loads(fake.stdout)["root"] == str(tmp_path)
    real = invoke("host")
    assert real.exit_code == 0
    assert "used by `sealyard run` defaults" in real.output


def test_help_lists_the_subcommands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("config", "dockerfile", "host"):
        assert name in result.output
