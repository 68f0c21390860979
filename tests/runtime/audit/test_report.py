"""Audit reports as a table, JSON and SARIF 2.1.0.

SARIF is checked against a structural schema written here for the objects the audit emits:
the properties SARIF 2.1.0 requires, its enums (``level``, ``kind``), ``ruleIndex`` pointing
at the matching rule, and no properties beyond the ones each object defines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]

from sealyard.errors import UsageError
from sealyard.runtime.audit import AuditReport, Severity, audit_workloads
from sealyard.runtime.audit.host import audit_host
from sealyard.runtime.audit.loaders import load_bytes
from sealyard.runtime.audit.report import SARIF_SCHEMA, render, render_host
from tests.runtime.audit.documents import base, encode
from tests.runtime.audit.mutations import SC, H, audit, both, put


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": {"properties": {"type": "object"}, **properties},
    }


_STR: dict[str, Any] = {"type": "string"}
_TEXT = _obj(["text"], text=_STR, markdown=_STR)
_LEVEL = {"enum": ["none", "note", "warning", "error"]}
SARIF = _obj(
    ["version", "runs"],
    **{
        "$schema": {"const": SARIF_SCHEMA},
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": _obj(
                ["tool", "results"],
                tool=_obj(
                    ["driver"],
                    driver=_obj(
                        ["name"],
                        name=_STR,
                        version=_STR,
                        rules={
                            "type": "array",
                            "items": _obj(
                                ["id"],
                                id=_STR,
                                name=_STR,
                                shortDescription=_TEXT,
                                fullDescription=_TEXT,
                                help=_TEXT,
                                helpUri={"type": "string", "format": "uri"},
                                defaultConfiguration=_obj([], level=_LEVEL),
                            ),
                        },
                    ),
                ),
                invocations={
                    "type": "array",
                    "items": _obj(
                        ["executionSuccessful"],
                        executionSuccessful={"type": "boolean"},
                        toolExecutionNotifications={
                            "type": "array",
                            "items": _obj(["message"], level=_LEVEL, message=_TEXT),
                        },
                    ),
                },
                results={
                    "type": "array",
                    "items": _obj(
                        ["message", "ruleId"],
                        ruleId=_STR,
                        ruleIndex={"type": "integer", "minimum": 0},
                        kind={
                            "enum": [
                                "pass",
                                "open",
                                "informational",
                                "notApplicable",
                                "review",
                                "fail",
                            ]
                        },
                        level=_LEVEL,
                        message=_TEXT,
                        locations={
                            "type": "array",
                            "items": _obj(
                                [],
                                physicalLocation=_obj(
                                    ["artifactLocation"],
                                    artifactLocation=_obj(
                                        ["uri"], uri={"type": "string", "format": "uri-reference"}
                                    ),
                                    region=_obj(
                                        ["startLine"], startLine={"type": "integer", "minimum": 1}
                                    ),
                                ),
                                logicalLocations={
                                    "type": "array",
                                    "items": _obj([], fullyQualifiedName=_STR, kind=_STR),
                                },
                            ),
                        },
                        partialFingerprints={
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                    ),
                },
            ),
        },
    },
)


@pytest.fixture(scope="module")
def report() -> AuditReport:
    """Findings from a YAML manifest (with lines) and a docker inspect JSON (without)."""
    k8s = base("kubernetes")
    k8s["spec"]["template"]["spec"]["hostNetwork"] = True
    k8s["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    docker = base("docker-inspect")
    docker["HostConfig"]["CapAdd"] = ["SYS_ADMIN"]
    del docker["Config"]["Healthcheck"]
    workloads = [
        *load_bytes(encode("kubernetes", k8s), "deploy/web app.yaml").workloads,
        *load_bytes(encode("docker-inspect", docker), "/var/tmp/inspect.json").workloads,
    ]
    return audit_workloads(workloads, notes=["something was not checked"])


def test_sarif_is_structurally_valid(report: AuditReport) -> None:
    document = json.loads(render(report, "sarif"))
    errors = sorted(Draft7Validator(SARIF).iter_errors(document), key=str)
    assert errors == []
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(rules) == len(report.rules)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_levels_locations_and_fingerprints(report: AuditReport) -> None:
    run = json.loads(render(report, "sarif"))["runs"][0]
    results = run["results"]
    by_rule = {r["ruleId"]: r for r in results}
    privileged = by_rule["CIS-5.5"]
    assert privileged["level"] == "error"
    physical = privileged["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "deploy/web%20app.yaml"
    assert physical["region"]["startLine"] > 1
    logical = privileged["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
    assert logical == (
        "Deployment/shop/web/web/spec.template.spec.containers[0].securityContext.privileged"
    )
    caps = by_rule["CIS-5.4"]
    assert caps["level"] == "error"  # SYS_ADMIN: high
    assert caps["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "file:///var/tmp/inspect.json"
    )
    assert "region" not in caps["locations"][0]["physicalLocation"]
    assert by_rule["CIS-5.27"]["level"] == "note"
    fingerprints = [r["partialFingerprints"]["sealyard/v1"] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)
    again = json.loads(render(report, "sarif"))["runs"][0]["results"]
    assert [r["partialFingerprints"] for r in again] == [r["partialFingerprints"] for r in results]
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "CIS-5.5")
    assert rule["properties"]["security-severity"] == "9.5"
    assert "privileged" in rule["help"]["text"]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes == [{"level": "note", "message": {"text": "something was not checked"}}]


def test_json_carries_why_fix_and_location(report: AuditReport) -> None:
    document = json.loads(render(report, "json"))
    assert document["summary"]["findings"] == len(report.findings)
    assert document["summary"]["bySeverity"]["critical"] >= 1
    privileged = next(f for f in document["findings"] if f["id"] == "CIS-5.5")
    assert privileged["severity"] == "critical"
    assert privileged["why"].startswith("A privileged container")
    assert "--privileged" in privileged["fix"]
    assert privileged["resource"] == {
        "source": "deploy/web app.yaml",
        "format": "kubernetes",
        "kind": "Deployment",
        "name": "web",
        "namespace": "shop",
        "document": None,
    }
    assert privileged["container"] == "web"
    assert privileged["field"].endswith("securityContext.privileged")
    assert isinstance(privileged["line"], int)
    assert document["notes"] == ["something was not checked"]
    assert render(report, "json") == render(report, "json")


def test_table_has_findings_fixes_notes_and_summary(report: AuditReport) -> None:
    text = render(report, "table", width=200)
    assert "CIS-5.5" in text
    assert "runs privileged" in text
    assert "How to fix:" in text
    assert "why: A privileged container" in text
    assert "deploy/web app.yaml:" in text
    assert "note: something was not checked" in text
    assert f"{len(report.findings)} finding(s)" in text


def test_a_clean_report_says_so() -> None:
    text = render(audit("oci"), "table")
    assert "0 finding(s) in 1 resource(s)" in text
    assert "How to fix" not in text
    document = json.loads(render(audit("oci"), "sarif"))
    assert document["runs"][0]["results"] == []
    assert document["runs"][0]["tool"]["driver"]["rules"]


def test_severity_threshold() -> None:
    report = audit("kubernetes", both(put(f"{SC}.privileged", True), put(f"{SC}.runAsUser", 0)))
    ids = {f.rule.id for f in report.at_or_above(Severity.CRITICAL)}
    assert ids == {"CIS-5.5", "PSS-BASELINE-PRIVILEGED"}


def test_unknown_formats_are_usage_errors(report: AuditReport) -> None:
    with pytest.raises(UsageError, match="unknown report format"):
        render(report, "xml")
    with pytest.raises(UsageError, match="table or json"):
        render_host(audit_host(Path("/nonexistent")), "sarif")


def test_host_report_renders(tmp_path: Path) -> None:
    host = audit_host(tmp_path)
    document = json.loads(render_host(host, "json"))
    assert {f["name"] for f in document["features"]} >= {"user namespaces", "seccomp"}
    assert "user namespaces" in document["missingForSealyard"]
    text = render_host(host, "table")
    assert "used by `sealyard run` defaults" in text
    assert "need what this host lacks" in text


def test_docker_inspect_without_lines_names_the_document() -> None:
    report = audit("docker-inspect", put(f"{H}.Privileged", True))
    text = render(report, "table", width=200)
    assert "inspect.json (document 1)" in text
