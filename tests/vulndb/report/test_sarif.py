"""SARIF 2.1.0 output, checked structurally.

No package installed here ships the OASIS SARIF schema, so the test carries its own
structural schema for the objects Sealyard writes: the properties SARIF 2.1.0 requires
(``version``, ``runs``, ``tool.driver.name``, ``result.message``, ``rule.id``,
``suppression.kind``, ``invocation.executionSuccessful``), its enums (``level``, ``kind``,
suppression ``kind``/``status``) and, as in the official schema, no properties beyond the
ones each object defines.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]

from sealyard.sbom.model import Location
from sealyard.vulndb.report import render
from sealyard.vulndb.report.sarif import SARIF_SCHEMA
from tests.sbom.formats import MAVEN, OPENSSL
from tests.vulndb.report import finding, sample_report


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": {"properties": {"type": "object"}, **properties},
    }


_STR: dict[str, Any] = {"type": "string"}
_MESSAGE = {**_obj([], text=_STR, id=_STR), "anyOf": [{"required": ["text"]}, {"required": ["id"]}]}
_MULTIFORMAT = _obj(["text"], text=_STR, markdown=_STR)
_LOCATION = {
    **_obj(
        [],
        physicalLocation={
            **_obj(
                [], artifactLocation=_obj([], uri={"type": "string", "format": "uri-reference"})
            ),
            "anyOf": [{"required": ["artifactLocation"]}],
        },
        logicalLocations={
            "type": "array",
            "items": _obj([], fullyQualifiedName=_STR, name=_STR, kind=_STR),
        },
    ),
    "anyOf": [{"required": ["physicalLocation"]}, {"required": ["logicalLocations"]}],
}
SARIF_STRUCTURE: dict[str, Any] = {
    **_obj(
        ["version", "runs"],
        **{
            "$schema": {"type": "string", "format": "uri"},
            "version": {"enum": ["2.1.0"]},
            "runs": {
                "type": "array",
                "items": _obj(
                    ["tool"],
                    tool=_obj(
                        ["driver"],
                        driver=_obj(
                            ["name"],
                            name=_STR,
                            version=_STR,
                            rules={
                                "type": "array",
                                "uniqueItems": True,
                                "items": _obj(
                                    ["id"],
                                    id=_STR,
                                    shortDescription=_MULTIFORMAT,
                                    fullDescription=_MULTIFORMAT,
                                    help=_MULTIFORMAT,
                                    helpUri={"type": "string", "format": "uri"},
                                    defaultConfiguration=_obj(
                                        [], level={"enum": ["none", "note", "warning", "error"]}
                                    ),
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
                                "items": _obj(
                                    ["message"],
                                    message=_MESSAGE,
                                    level={"enum": ["none", "note", "warning", "error"]},
                                    descriptor={**_obj([], id=_STR), "required": ["id"]},
                                ),
                            },
                        ),
                    },
                    results={
                        "type": "array",
                        "items": _obj(
                            ["message", "ruleId"],
                            ruleId=_STR,
                            ruleIndex={"type": "integer", "minimum": -1},
                            kind={
                                "enum": [
                                    "notApplicable",
                                    "pass",
                                    "fail",
                                    "review",
                                    "open",
                                    "informational",
                                ]
                            },
                            level={"enum": ["none", "note", "warning", "error"]},
                            message=_MESSAGE,
                            locations={"type": "array", "items": _LOCATION},
                            partialFingerprints={
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            suppressions={
                                "type": "array",
                                "uniqueItems": True,
                                "items": _obj(
                                    ["kind"],
                                    kind={"enum": ["inSource", "external"]},
                                    status={"enum": ["accepted", "underReview", "rejected"]},
                                    justification=_STR,
                                ),
                            },
                        ),
                    },
                ),
            },
        },
    )
}


def _validate(doc: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(SARIF_STRUCTURE, format_checker=Draft7Validator.FORMAT_CHECKER)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for i, result in enumerate(run["results"]):
        if rules[result["ruleIndex"]]["id"] != result["ruleId"]:
            errors.append(f"results[{i}]: ruleIndex does not point at ruleId")
    return errors


def _doc(**kw: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(render(sample_report(**kw), "sarif"))
    return result


def test_structure_is_sarif_2_1_0() -> None:
    doc = _doc()
    assert _validate(doc) == []
    assert doc["$schema"] == SARIF_SCHEMA
    assert doc["version"] == "2.1.0"


def test_the_structural_check_can_fail() -> None:
    doc = _doc()
    doc["runs"][0]["results"][0]["level"] = "critical"
    del doc["runs"][0]["results"][1]["message"]
    doc["runs"][0]["results"][2]["suppressions"][0]["kind"] = "vex"
    doc["runs"][0]["results"][3]["ruleIndex"] = 0
    doc["runs"][0]["tool"]["driver"]["rules"][0]["severity"] = "high"  # not a SARIF property
    assert len(_validate(doc)) == 5


def test_results_rules_levels_and_locations() -> None:
    doc = _doc()
    run = doc["runs"][0]
    results = {r["ruleId"]: r for r in run["results"]}
    # active first, then suppressed
    assert [r["ruleId"] for r in run["results"]] == [
        "CVE-2024-0001",
        "GHSA-9999-8888-7777",
        "CVE-2024-0002",
        "CVE-2024-0003",
    ]
    assert {k: r["level"] for k, r in results.items()} == {
        "CVE-2024-0001": "error",
        "GHSA-9999-8888-7777": "note",
        "CVE-2024-0002": "error",
        "CVE-2024-0003": "warning",
    }
    critical = results["CVE-2024-0001"]
    assert critical["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {
                    "uri": "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"
                }
            }
        }
    ]
    assert (
        "requests 2.31.0 is affected by CVE-2024-0001 (CRITICAL); fixed in 2.32.0."
        in (critical["message"]["text"])
    )
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["CVE-2024-0001"]["properties"]["security-severity"] == "9.8"
    assert rules["CVE-2024-0001"]["helpUri"] == "https://example.com/advisories/1"
    assert rules["CVE-2024-0001"]["fullDescription"]["text"].startswith("A long description")
    assert rules["GHSA-9999-8888-7777"]["properties"]["security-severity"] == "0.1"
    assert rules["GHSA-9999-8888-7777"]["helpUri"] == (
        "https://github.com/advisories/GHSA-9999-8888-7777"
    )
    assert results["GHSA-9999-8888-7777"]["properties"]["vex"]["status"] == "affected"


def test_suppressed_results_carry_external_accepted_suppressions() -> None:
    results = {r["ruleId"]: r for r in _doc()["runs"][0]["results"]}
    assert "suppressions" not in results["CVE-2024-0001"]
    [vex] = results["CVE-2024-0002"]["suppressions"]
    assert (vex["kind"], vex["status"]) == ("external", "accepted")
    assert "VEX not_affected" in vex["justification"]
    assert "the TLS server is never started" in vex["justification"]
    assert vex["properties"]["source"] == "https://example.com/vex/app-1"
    [allow] = results["CVE-2024-0003"]["suppressions"]
    assert allow["justification"].startswith("allowlisted through 2025-06-30: libc fix pending")
    assert allow["properties"]["expires"] == "2025-07-01T00:00:00Z"
    assert allow["properties"]["ref"] == "entries[0]"


def test_warnings_and_skipped_packages_are_notifications() -> None:
    [invocation] = _doc()["runs"][0]["invocations"]
    ids = [n["descriptor"]["id"] for n in invocation["toolExecutionNotifications"]]
    assert ids == ["vex-affected", "allowlist-expired", "package-skipped"]


def test_fingerprints_are_stable_and_distinguish_findings() -> None:
    first, second = _doc(), _doc()
    prints = [r["partialFingerprints"]["sealyard/v1"] for r in first["runs"][0]["results"]]
    assert prints == [r["partialFingerprints"]["sealyard/v1"] for r in second["runs"][0]["results"]]
    assert len(set(prints)) == len(prints)


@pytest.mark.parametrize("path", ["opt/app dir/lib#1.jar", "/usr/lib/ü.so"])
def test_paths_become_uri_references(path: str) -> None:
    pkg = replace(MAVEN, locations=(Location(path, 0),))
    doc = _doc(findings=(finding("CVE-2024-0001", pkg),))
    assert _validate(doc) == []
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert " " not in uri["uri"]
    assert "#" not in uri["uri"]
    assert not uri["uri"].startswith("/")


def test_a_package_without_a_path_gets_a_logical_location() -> None:
    pkg = replace(OPENSSL, locations=())
    doc = _doc(findings=(finding("CVE-2024-0001", pkg),))
    assert _validate(doc) == []
    [location] = doc["runs"][0]["results"][0]["locations"]
    assert location == {
        "logicalLocations": [{"fullyQualifiedName": OPENSSL.purl, "kind": "module"}]
    }
