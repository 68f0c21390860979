"""CycloneDX 1.6 with vulnerabilities, validated against the official schema that
cyclonedx-python-lib ships, and read back by that library."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from jsonschema import Draft7Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT7

from sealyard.sbom.formats import render as render_sbom
from sealyard.vulndb.report import render
from sealyard.vulndb.suppress import BomRefs
from tests.sbom.formats import LIBC, MAVEN, OPENSSL, REQUESTS_A, empty_sbom, sample_sbom
from tests.vulndb.report import finding, sample_report

SCHEMA_BASE = "http://cyclonedx.org/schema/"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    directory = Path(str(resources.files("cyclonedx.schema") / "_res"))
    registry: Registry[Any] = Registry()
    for path in sorted(directory.glob("*.schema.json")):
        if not path.name.startswith("bom-"):
            contents = json.loads(path.read_text(encoding="utf-8"))
            registry = registry.with_resource(
                SCHEMA_BASE + path.name, DRAFT7.create_resource(contents)
            )
    [bom] = [p for p in directory.glob("bom-1.6*.schema.json") if "strict" not in p.name]
    schema = json.loads(bom.read_text(encoding="utf-8"))
    assert schema["$id"] == "http://cyclonedx.org/schema/bom-1.6.schema.json"
    return Draft7Validator(schema, registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER)


def _text(**kw: Any) -> str:
    return render(sample_report(**kw), "cyclonedx-json", deterministic=True)


def _assert_valid(validator: Draft7Validator, text: str) -> None:
    errors = sorted(validator.iter_errors(json.loads(text)), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def _vulns(text: str) -> dict[tuple[str, str], dict[str, Any]]:
    doc = json.loads(text)
    names = {c["bom-ref"]: c["name"] for c in doc["components"]}
    return {(v["id"], names[v["affects"][0]["ref"]]): v for v in doc["vulnerabilities"]}


def test_schema_valid_and_the_validator_can_fail(validator: Draft7Validator) -> None:
    text = _text()
    _assert_valid(validator, text)
    doc = json.loads(text)
    doc["vulnerabilities"][0]["analysis"] = {"state": "suppressed"}
    doc["vulnerabilities"][1]["ratings"][0]["method"] = "CVSSv3.1"
    assert len(list(validator.iter_errors(doc))) == 2


def test_the_sbom_part_is_the_sbom_format_unchanged() -> None:
    doc = json.loads(_text())
    sbom = json.loads(render_sbom(sample_sbom(), "cyclonedx-json", deterministic=True))
    assert doc.pop("vulnerabilities")
    assert doc == sbom


def test_affects_point_at_the_package_components() -> None:
    doc = json.loads(_text())
    refs = BomRefs(sample_sbom())
    components = {c["bom-ref"] for c in doc["components"]}
    expected = {refs.ref(p) for p in (REQUESTS_A, OPENSSL, LIBC, MAVEN)}
    got = {a["ref"] for v in doc["vulnerabilities"] for a in v["affects"]}
    assert got == expected
    assert got <= components
    assert len({v["bom-ref"] for v in doc["vulnerabilities"]}) == len(doc["vulnerabilities"])


def test_vulnerability_details_ratings_and_recommendation() -> None:
    v = _vulns(_text())[("CVE-2024-0001", "requests")]
    assert v["source"] == {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-0001"}
    assert v["references"] == [
        {
            "id": "GHSA-jfh8-c2jp-5v3q",
            "source": {
                "name": "GitHub Advisory Database",
                "url": "https://github.com/advisories/GHSA-jfh8-c2jp-5v3q",
            },
        }
    ]
    assert v["ratings"] == [
        {
            "method": "CVSSv31",
            "score": 9.8,
            "severity": "critical",
            "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        }
    ]
    assert v["cwes"] == [20, 444]
    assert v["description"] == "CVE-2024-0001 in requests"
    assert v["detail"] == "A long description of the request smuggling bug."
    assert v["recommendation"] == "upgrade requests to 2.32.0"
    assert v["advisories"] == [
        {"url": "https://example.com/advisories/1"},
        {"url": "https://nvd.nist.gov/vuln/detail/CVE-2024-0001"},
    ]
    assert (v["published"], v["updated"]) == ("2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z")
    assert "analysis" not in v
    assert v["affects"][0]["versions"] == [{"version": "2.31.0", "status": "affected"}]
    # A CVSS 3.0 vector is CVSSv3; a label-only rating is method "other".
    libc = _vulns(_text())[("CVE-2024-0003", "libc6")]
    assert [(r["method"], r.get("severity")) for r in libc["ratings"]] == [("CVSSv3", "medium")]
    maven = _vulns(_text())[("GHSA-9999-8888-7777", "jackson-databind")]
    assert maven["ratings"] == [
        {
            "severity": "low",
            "method": "other",
            "justification": "the advisory database's own rating (no CVSS score)",
        }
    ]
    assert maven["recommendation"] == "no fix: the distribution will not fix it"


def test_verdicts_become_analysis() -> None:
    vulns = _vulns(_text())
    vex = vulns[("CVE-2024-0002", "openssl")]
    assert vex["analysis"]["state"] == "not_affected"
    assert vex["analysis"]["justification"] == "code_not_reachable"
    assert "the TLS server is never started" in vex["analysis"]["detail"]
    assert vex["analysis"]["lastUpdated"] == "2024-12-01T00:00:00Z"
    assert vex["affects"][0]["versions"][0]["status"] == "unaffected"
    props = {p["name"]: p["value"] for p in vex["properties"]}
    assert props["sealyard:suppressed"] == "true"
    assert props["sealyard:suppressed-by"] == "vex"
    allow = vulns[("CVE-2024-0003", "libc6")]
    assert allow["analysis"]["state"] == "exploitable"
    assert allow["analysis"]["response"] == ["will_not_fix"]
    assert allow["analysis"]["detail"].startswith("allowlisted through 2025-06-30")
    props = {p["name"]: p["value"] for p in allow["properties"]}
    assert props["sealyard:suppressed-by"] == "allowlist"
    assert props["sealyard:suppression-expires"] == "2025-07-01T00:00:00Z"
    affected = vulns[("GHSA-9999-8888-7777", "jackson-databind")]
    assert affected["analysis"]["state"] == "exploitable"
    assert "justification" not in affected["analysis"]
    assert {p["name"]: p["value"] for p in affected["properties"]}["sealyard:suppressed"] == (
        "false"
    )


def test_cyclonedx_python_lib_reads_the_vulnerabilities_back() -> None:
    bom = Bom.from_json(json.loads(_text()))  # type: ignore[attr-defined]
    ids = sorted(str(v.id) for v in bom.vulnerabilities)
    assert ids == ["CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003", "GHSA-9999-8888-7777"]


def test_edge_cases_stay_valid(validator: Draft7Validator) -> None:
    v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    odd = (
        finding("CVE-2024-0005", OPENSSL, vectors=(v4,), rating="HIGH"),
        finding("OSV-2024-1", REQUESTS_A, aliases=("PYSEC-2024-1",)),
    )
    text = _text(findings=odd, advisories={})
    _assert_valid(validator, text)
    vulns = _vulns(text)
    assert vulns[("CVE-2024-0005", "openssl")]["ratings"][0]["method"] == "CVSSv4"
    assert vulns[("OSV-2024-1", "requests")]["source"]["name"] == "OSV"
    empty = render(sample_report(findings=(), sbom=empty_sbom()), "cyclonedx-json")
    _assert_valid(validator, empty)
    assert json.loads(empty)["vulnerabilities"] == []
