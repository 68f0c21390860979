"""Acceptance: push a vulnerable image to a running Sealyard, see its findings; import a new
advisory hitting another of its packages; a signed alert reaches a webhook receiver within
seconds, and nothing is rescanned."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from sealyard.config import load_settings
from sealyard.db.models import ImageScan, Job
from sealyard.monitor.inventory import Inventory
from sealyard.monitor.webhooks import WebhookService, verify_signature
from sealyard.registry.app import Registry, open_registry
from tests.conftest import need
from tests.fixtures.images import FileEntry, build_image, build_layer, write_oci_layout
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer, start_sealyard
from tests.fixtures.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

SITE = "usr/local/lib/python3.11/site-packages"
SBOM_TYPE = "application/vnd.cyclonedx+json"


def osv(ident: str, package: str, fixed: str, cve: str) -> dict[str, Any]:
    return {
        "id": ident,
        "modified": "2026-11-01T00:00:00Z",
        "aliases": [cve],
        "summary": f"{package} advisory",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
    }


def sealyard_cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "sealyard", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_until(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def monitored(tmp_path: Path) -> Iterator[tuple[SealyardServer, Registry]]:
    server = start_sealyard(tmp_path / "data", workers=1)
    registry = open_registry(load_settings(server.config, data_dir=server.data_dir), migrate=False)
    try:
        yield server, registry
    finally:
        registry.close()
        server.stop()


def test_push_scan_then_new_advisory_alerts_webhook_without_rescanning(
    monitored: tuple[SealyardServer, Registry], tmp_path: Path
) -> None:
    server, registry = monitored
    data = str(server.data_dir)
    advisories = tmp_path / "advisories"
    advisories.mkdir()
    (advisories / "GHSA-req.json").write_text(
        json.dumps(osv("GHSA-req", "requests", "2.32.0", "CVE-2099-0001"))
    )
    sealyard_cli("db", "import", "--data", data, str(advisories / "GHSA-req.json"))

    layer = build_layer(
        [
            FileEntry("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
            FileEntry(
                f"{SITE}/requests-2.31.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n",
            ),
            FileEntry(
                f"{SITE}/urllib3-1.26.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: urllib3\nVersion: 1.26.0\n",
            ),
        ]
    )
    image = build_image([layer])
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    registry.accounts.create_project("shop")
    subprocess.run(
        [
            need("skopeo"),
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"admin:{ADMIN_PASSWORD}",
            f"oci:{layout}:v1",
            f"docker://{server.host}/shop/app:1",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )

    # 1. The pushed image is scanned in the background: findings and an SBOM referrer.
    inventory = Inventory(registry.db)
    findings = wait_until(
        lambda: inventory.findings("shop/app", image.digest), 60, "the scan-on-push findings"
    )
    assert [(f["vulnerability"], f["package"]["name"], f["fixedVersions"]) for f in findings] == [
        ("CVE-2099-0001", "requests", ["2.32.0"])
    ]
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as http:
        referrers = http.get(f"/v2/shop/app/referrers/{image.digest}").json()["manifests"]
        assert [r["artifactType"] for r in referrers] == [SBOM_TYPE]
        sbom_manifest = http.get(
            f"/v2/shop/app/manifests/{referrers[0]['digest']}",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        ).json()
        sbom = http.get(f"/v2/shop/app/blobs/{sbom_manifest['layers'][0]['digest']}").json()
    assert {c["name"] for c in sbom["components"] if c.get("type") == "library"} >= {
        "requests",
        "urllib3",
    }
    with registry.db.session() as s:
        scanned_at = s.scalars(select(ImageScan.scanned_at)).one()

    # 2. A webhook is configured; a new advisory for urllib3 is imported.
    with WebhookReceiver() as receiver:
        _, secret = WebhookService(registry.db).add("security-team", receiver.url)
        (advisories / "GHSA-url.json").write_text(
            json.dumps(osv("GHSA-url", "urllib3", "1.26.18", "CVE-2099-0002"))
        )
        started = time.monotonic()
        sealyard_cli("db", "import", "--data", data, str(advisories / "GHSA-url.json"))
        receiver.wait_for(1, timeout=20)
        elapsed = time.monotonic() - started
        request = receiver.requests[0]

    # 3. The alert arrived within seconds, signed, naming the image and the package.
    assert elapsed < 15, f"alert took {elapsed:.1f} s"
    verify_signature(secret, request.headers["x-sealyard-signature"], request.body)
    alerts = request.json()["alerts"]
    assert [
        (a["kind"], a["repository"], a["digest"], a["vulnerability"], a["package"]["name"])
        for a in alerts
    ] == [("new", "shop/app", image.digest, "CVE-2099-0002", "urllib3")]
    assert alerts[0]["fixed"] == ["1.26.18"]
    assert alerts[0]["rating"] == "HIGH"

    # 4. Nothing was rescanned: one scan, same time, one SBOM, no new push jobs.
    with registry.db.session() as s:
        assert s.scalars(select(ImageScan.scanned_at)).one() == scanned_at
        pushed = s.scalar(select(func.count()).select_from(Job).where(Job.kind == "image.pushed"))
    assert pushed == 2  # the image and the scanner's SBOM referrer
    assert {f["vulnerability"] for f in inventory.findings("shop/app", image.digest)} == {
        "CVE-2099-0001",
        "CVE-2099-0002",
    }
    # … as the API and the CLI show them.
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as http:
        answer = http.get(
            "/api/v1/projects/shop/findings", params={"repository": "shop/app", "reference": "1"}
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["digest"] == image.digest
    assert answer.json()["scan"]["status"] == "ok"
    assert sorted(f["vulnerability"] for f in answer.json()["findings"]) == [
        "CVE-2099-0001",
        "CVE-2099-0002",
    ]
    listed = json.loads(sealyard_cli("findings", "--data", data, "shop/app:1", "-o", "json"))
    assert len(listed["findings"]) == 2
