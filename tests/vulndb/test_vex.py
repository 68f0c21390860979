"""VEX documents: OpenVEX and CycloneDX VEX parsing, purl matching, who decides a finding."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sealyard.errors import SizeLimitError, UsageError
from sealyard.vulndb.vex import (
    Target,
    VexError,
    VexSet,
    load_vex,
    parse_vex,
    purl_matches,
)

DIGEST = "sha256:" + "ab" * 32
IMAGE_PURL = (
    f"pkg:oci/app@{DIGEST.replace(':', '%3A')}?repository_url=registry.example.com/team/app"
)
OPENSSL = "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"
REQUESTS = "pkg:pypi/requests@2.31.0"


def openvex(*statements: dict[str, Any], **doc: Any) -> dict[str, Any]:
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/doc-1",
        "author": "Example Security <security@example.com>",
        "timestamp": "2024-03-01T10:00:00Z",
        "version": 1,
        "statements": list(statements),
        **doc,
    }


def stmt(
    vuln: str = "CVE-2024-0001",
    products: list[Any] | None = None,
    status: str = "not_affected",
    **extra: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "vulnerability": {"name": vuln},
        "products": products if products is not None else [{"@id": "pkg:pypi/requests"}],
        "status": status,
    }
    if status == "not_affected" and "justification" not in extra:
        out["justification"] = "vulnerable_code_not_in_execute_path"
    out.update(extra)
    return out


def cdx(*vulns: dict[str, Any], **doc: Any) -> dict[str, Any]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        "version": 2,
        "vulnerabilities": list(vulns),
        **doc,
    }


def decide(doc: dict[str, Any], ids: tuple[str, ...], target: Target) -> str | None:
    match = VexSet((parse_vex(doc),)).decide(ids, target)
    return None if match is None else match.statement.status


# --- purl matching -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("general", "specific", "expected"),
    [
        ("pkg:pypi/requests@2.31.0", "pkg:pypi/requests@2.31.0", True),
        ("pkg:pypi/requests", "pkg:pypi/requests@2.31.0", True),  # versionless: any version
        ("pkg:pypi/requests@2.31.0", "pkg:pypi/requests@2.32.0", False),
        ("pkg:pypi/requests@2.31.0", "pkg:pypi/requests", False),
        ("pkg:pypi/Requests", "pkg:pypi/requests@1", True),  # pypi names are normalised
        ("pkg:pypi/requests", "pkg:pypi/requests-oauthlib@1", False),
        ("pkg:npm/requests", "pkg:pypi/requests@1", False),
        ("pkg:deb/debian/openssl", OPENSSL, True),  # package may carry more qualifiers
        ("pkg:deb/ubuntu/openssl", OPENSSL, False),
        ("pkg:deb/debian/openssl?arch=amd64", OPENSSL, True),
        ("pkg:deb/debian/openssl?arch=arm64", OPENSSL, False),  # a stated qualifier must hold
        ("pkg:deb/debian/openssl@3.0.11-1~deb12u2?epoch=1", OPENSSL, False),
        ("pkg:golang/example.com/mod#sub", "pkg:golang/example.com/mod@v1#sub", True),
        ("pkg:golang/example.com/mod#sub", "pkg:golang/example.com/mod@v1#other", False),
        ("pkg:golang/example.com/mod", "pkg:golang/example.com/mod@v1#sub", True),
        ("not a purl", "pkg:pypi/requests@1", False),
        ("pkg:pypi/requests", "garbage", False),
    ],
)
def test_purl_matching_follows_the_openvex_reference(
    general: str, specific: str, expected: bool
) -> None:
    assert purl_matches(general, specific) is expected


# --- OpenVEX -------------------------------------------------------------------------------


def test_openvex_document_parses_into_the_model() -> None:
    doc = parse_vex(
        openvex(
            stmt(
                products=[
                    {
                        "@id": "pkg:oci/app",
                        "identifiers": {"purl": "pkg:oci/app@" + DIGEST},
                        "hashes": {"SHA-256": "ab" * 32},
                        "subcomponents": [{"@id": "pkg:pypi/requests@2.31.0"}],
                    }
                ],
                impact_statement="only the CLI uses it",
                **{"@id": "https://example.com/vex/doc-1#s1"},
            ),
            stmt("CVE-2024-0002", status="affected", action_statement="upgrade to 2.32"),
        ),
        source="vex.json",
    )
    assert doc.format == "openvex"
    assert doc.id == "https://example.com/vex/doc-1"
    assert doc.name == doc.id
    assert doc.timestamp == datetime(2024, 3, 1, 10, tzinfo=UTC)
    first, second = doc.statements
    assert first.ref == "https://example.com/vex/doc-1#s1"
    assert first.justification == "vulnerable_code_not_in_execute_path"
    assert first.impact_statement == "only the CLI uses it"
    [product] = first.products
    assert product.identifiers == ("pkg:oci/app", "pkg:oci/app@" + DIGEST)
    assert product.hashes == ("sha-256:" + "ab" * 32,)
    assert product.subcomponents[0].identifiers == ("pkg:pypi/requests@2.31.0",)
    assert (second.status, second.action_statement, second.ref) == (
        "affected",
        "upgrade to 2.32",
        "statements[1]",
    )
    assert second.timestamp is None  # inherited from the document when matching


def test_openvex_v001_shapes_are_understood() -> None:
    doc = parse_vex(
        {
            "@context": "https://openvex.dev/ns",
            "@id": "https://openvex.dev/docs/public/vex-1",
            "author": "a",
            "timestamp": "2023-01-16T19:07:16.853479631-06:00",
            "statements": [
                {
                    "vulnerability": "CVE-2021-44228",
                    "products": ["pkg:oci/app@" + DIGEST],
                    "subcomponents": ["pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"],
                    "status": "fixed",
                }
            ],
        }
    )
    [statement] = doc.statements
    assert statement.vulnerability == "CVE-2021-44228"
    [product] = statement.products
    assert product.subcomponents[0].identifiers == (
        "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    )


def test_vulnerability_matches_by_name_alias_or_finding_alias() -> None:
    doc = openvex(
        {
            "vulnerability": {
                "@id": "https://nvd.nist.gov/vuln/detail/CVE-2024-0001",
                "name": "CVE-2024-0001",
                "aliases": ["GHSA-jfh8-c2jp-5v3q"],
            },
            "products": [{"@id": "pkg:pypi/requests"}],
            "status": "fixed",
        }
    )
    target = Target(REQUESTS)
    assert decide(doc, ("CVE-2024-0001",), target) == "fixed"
    assert decide(doc, ("PYSEC-1", "ghsa-jfh8-c2jp-5v3q"), target) == "fixed"  # any id, any case
    assert decide(doc, ("CVE-2024-9999",), target) is None
    assert decide(doc, ("CVE-2024-0001",), Target("pkg:pypi/urllib3@2.0.0")) is None


def test_the_latest_statement_wins_and_statement_time_overrides_document_time() -> None:
    target = Target(REQUESTS)
    later_in_file = openvex(stmt(status="under_investigation"), stmt(status="fixed"))
    assert decide(later_in_file, ("CVE-2024-0001",), target) == "fixed"
    # The first statement is dated after the document: it wins despite its position.
    dated = openvex(
        stmt(status="fixed", timestamp="2024-05-01T00:00:00Z"),
        stmt(status="affected", action_statement="upgrade"),
    )
    assert decide(dated, ("CVE-2024-0001",), target) == "fixed"
    backdated = openvex(
        stmt(status="affected", action_statement="upgrade"),
        stmt(status="fixed", timestamp="2024-01-01T00:00:00+01:00"),
    )
    assert decide(backdated, ("CVE-2024-0001",), target) == "affected"


def test_across_documents_time_then_command_line_order_decides() -> None:
    old = parse_vex(openvex(stmt(status="fixed"), timestamp="2024-01-01T00:00:00Z"))
    new = parse_vex(
        openvex(stmt(status="affected", action_statement="x"), timestamp="2024-06-01T00:00:00Z")
    )
    target = Target(REQUESTS)
    for docs in ((old, new), (new, old)):
        match = VexSet(docs).decide(("CVE-2024-0001",), target)
        assert match is not None
        assert match.statement.status == "affected"
    same_a = parse_vex(openvex(stmt(status="fixed")))
    same_b = parse_vex(openvex(stmt(status="under_investigation")))
    match = VexSet((same_a, same_b)).decide(("CVE-2024-0001",), target)
    assert match is not None
    assert match.statement.status == "under_investigation"


def test_an_image_product_covers_its_subcomponents_only() -> None:
    doc = openvex(
        stmt(
            products=[
                {"@id": "pkg:oci/app@" + DIGEST, "subcomponents": [{"@id": "pkg:pypi/requests"}]}
            ]
        )
    )
    in_image = Target(REQUESTS, image_purl=IMAGE_PURL, image_digests=(DIGEST,))
    assert decide(doc, ("CVE-2024-0001",), in_image) == "not_affected"
    other_package = Target(OPENSSL, image_purl=IMAGE_PURL, image_digests=(DIGEST,))
    assert decide(doc, ("CVE-2024-0001",), other_package) is None
    other_image = Target(REQUESTS, image_digests=("sha256:" + "cd" * 32,))
    assert decide(doc, ("CVE-2024-0001",), other_image) is None


def test_an_image_product_without_subcomponents_covers_every_package() -> None:
    by_digest = openvex(stmt(products=[{"@id": "pkg:oci/whatever@" + DIGEST}]))
    # A local layout has no image purl; the manifest digest (also in a repo digest) decides.
    local = Target(OPENSSL, image_digests=("registry.example.com/team/app@" + DIGEST,))
    assert decide(by_digest, ("CVE-2024-0001",), local) == "not_affected"
    by_hash = openvex(stmt(products=[{"hashes": {"sha-256": "AB" * 32}}]))
    assert decide(by_hash, ("CVE-2024-0001",), Target(OPENSSL, image_digests=(DIGEST,))) == (
        "not_affected"
    )
    by_name = openvex(
        stmt(products=[{"@id": "pkg:oci/app?repository_url=registry.example.com/team/app"}])
    )
    assert decide(by_name, ("CVE-2024-0001",), Target(OPENSSL, image_purl=IMAGE_PURL)) == (
        "not_affected"
    )
    wrong_repo = openvex(stmt(products=[{"@id": "pkg:oci/app?repository_url=evil.example/app"}]))
    assert decide(wrong_repo, ("CVE-2024-0001",), Target(OPENSSL, image_purl=IMAGE_PURL)) is None


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a JSON object"),
        ({"hello": 1}, "not an OpenVEX document (@context) nor a CycloneDX BOM"),
        (openvex(stmt(status="maybe")), "statements[0].status: 'maybe' is not one of"),
        (openvex(stmt(justification="")), "not_affected needs a justification"),
        (openvex(stmt(justification="because")), "is not an OpenVEX label"),
        (openvex(stmt(products=[])), "statements[0]: names no product"),
        (openvex(stmt(products=[{"subcomponents": []}])), "needs an @id, identifiers or hashes"),
        (
            openvex({"products": [{"@id": "x"}], "status": "fixed"}),
            "vulnerability must be an object",
        ),
        (openvex(stmt(vulnerability={"aliases": []})), "vulnerability.name is required"),
        (openvex(stmt(), timestamp=None), "no timestamp, and the document has none"),
        (openvex(stmt(), timestamp="yesterday"), "is not an RFC 3339 time"),
        (openvex(stmt(timestamp="2024-01-01T00:00:00")), "has no time zone"),
        (openvex(statements="all"), "statements must be a list"),
    ],
)
def test_bad_openvex_is_refused_with_the_place_named(doc: Any, message: str) -> None:
    with pytest.raises(VexError) as info:
        parse_vex(doc, source="f.json")
    assert message in str(info.value)
    assert str(info.value).startswith("f.json: ")


# --- CycloneDX VEX -------------------------------------------------------------------------


def test_cyclonedx_states_map_onto_openvex_statuses() -> None:
    doc = parse_vex(
        cdx(
            *(
                {
                    "id": f"CVE-2024-000{i}",
                    "analysis": {"state": state, "detail": f"detail {i}"},
                    "affects": [{"ref": REQUESTS}],
                }
                for i, state in enumerate(
                    [
                        "not_affected",
                        "false_positive",
                        "resolved",
                        "resolved_with_pedigree",
                        "exploitable",
                        "in_triage",
                    ]
                )
            ),
            {"id": "CVE-2024-0009", "affects": [{"ref": REQUESTS}]},  # no analysis: no statement
        )
    )
    assert doc.id == "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79/2"
    assert [(s.label, s.status) for s in doc.statements] == [
        ("not_affected", "not_affected"),
        ("false_positive", "not_affected"),
        ("resolved", "fixed"),
        ("resolved_with_pedigree", "fixed"),
        ("exploitable", "affected"),
        ("in_triage", "under_investigation"),
    ]
    assert doc.statements[0].impact_statement == "detail 0"
    assert doc.statements[4].action_statement == "detail 4"


def test_cyclonedx_affects_resolve_through_bom_refs_purls_and_bom_links() -> None:
    doc = cdx(
        {
            "id": "CVE-2024-0001",
            "references": [{"id": "GHSA-jfh8-c2jp-5v3q", "source": {"name": "GitHub"}}],
            "analysis": {
                "state": "not_affected",
                "justification": "code_not_reachable",
                "response": ["will_not_fix"],
                "lastUpdated": "2024-04-01T00:00:00Z",
            },
            "affects": [{"ref": "comp-requests"}],
        },
        {
            "id": "CVE-2024-0002",
            "analysis": {"state": "resolved"},
            "affects": [
                {"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#sealyard:package:abc"}
            ],
        },
        {
            "id": "CVE-2024-0003",
            "analysis": {"state": "false_positive"},
            "affects": [{"ref": "image"}],
        },
        metadata={
            "timestamp": "2024-02-01T00:00:00Z",
            "component": {
                "type": "container",
                "name": "app",
                "bom-ref": "image",
                "purl": "pkg:oci/app@" + DIGEST,
            },
        },
        components=[
            {
                "type": "library",
                "name": "requests",
                "bom-ref": "comp-requests",
                "purl": "pkg:pypi/requests@2.31.0",
            }
        ],
    )
    parsed = parse_vex(doc)
    assert parsed.statements[0].aliases == ("GHSA-jfh8-c2jp-5v3q",)
    assert parsed.statements[0].timestamp == datetime(2024, 4, 1, tzinfo=UTC)
    assert parsed.timestamp == datetime(2024, 2, 1, tzinfo=UTC)
    assert decide(doc, ("GHSA-jfh8-c2jp-5v3q",), Target(REQUESTS)) == "not_affected"
    assert decide(doc, ("CVE-2024-0001",), Target("pkg:pypi/requests@2.32.0")) is None
    assert (
        decide(doc, ("CVE-2024-0002",), Target(REQUESTS, bom_ref="sealyard:package:abc")) == "fixed"
    )
    assert decide(doc, ("CVE-2024-0002",), Target(REQUESTS, bom_ref="sealyard:package:def")) is None
    assert (
        decide(doc, ("CVE-2024-0003",), Target(OPENSSL, image_digests=(DIGEST,))) == "not_affected"
    )


@pytest.mark.parametrize(
    ("vuln", "message"),
    [
        ({"analysis": {"state": "not_affected"}, "affects": [{"ref": "x"}]}, "id is required"),
        (
            {"id": "CVE-1", "analysis": {"state": "fine"}, "affects": [{"ref": "x"}]},
            "not a CycloneDX state",
        ),
        (
            {
                "id": "CVE-1",
                "analysis": {"state": "not_affected", "justification": "trust me"},
                "affects": [{"ref": "x"}],
            },
            "not a CycloneDX label",
        ),
        (
            {
                "id": "CVE-1",
                "analysis": {"state": "exploitable", "response": ["panic"]},
                "affects": [{"ref": "x"}],
            },
            "not a CycloneDX response",
        ),
        ({"id": "CVE-1", "analysis": {"state": "not_affected"}}, "affects names no component"),
        (
            {"id": "CVE-1", "analysis": {"state": "not_affected"}, "affects": [{}]},
            "ref is required",
        ),
        (
            {
                "id": "CVE-1",
                "analysis": {"state": "resolved", "lastUpdated": "soon"},
                "affects": [{"ref": "x"}],
            },
            "not an RFC 3339 time",
        ),
    ],
)
def test_bad_cyclonedx_vex_is_refused(vuln: dict[str, Any], message: str) -> None:
    with pytest.raises(VexError, match="vulnerabilities\\[0\\]") as info:
        parse_vex(cdx(vuln))
    assert message in str(info.value)


# --- files ---------------------------------------------------------------------------------


def test_load_vex_reads_json_with_a_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "vex.json"
    path.write_text(json.dumps(openvex(stmt())))
    assert load_vex(path).source == str(path)
    with pytest.raises(SizeLimitError, match="larger than 10 bytes"):
        load_vex(path, max_bytes=10)
    path.write_text("{not json")
    with pytest.raises(VexError, match="not valid JSON"):
        load_vex(path)
    path.write_text("[" * 100_000)
    with pytest.raises(VexError, match="not valid JSON"):
        load_vex(path)
    with pytest.raises(UsageError, match="cannot read VEX file"):
        load_vex(tmp_path / "missing.json")
