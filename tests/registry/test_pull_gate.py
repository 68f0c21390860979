"""Acceptance: the registry pull gate, with skopeo as the client against the real server.

Everything is real: the project's TUF trust root is built with real keys and published into
the server's data directory, attestations are real DSSE bundles attached as OCI referrers by
``sealyard.trust.attach``, scans are stored through the inventory with a real advisory row.
The in-process ``registry`` fixture shares the server's data directory and database.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from securesystemslib.signer import CryptoSigner, Signer
from sqlalchemy import select

from sealyard.client.registry import RegistryClient
from sealyard.db.models import Project
from sealyard.monitor.inventory import Inventory
from sealyard.registry.app import Registry
from sealyard.sbom.model import ImageInfo, Package, Sbom
from sealyard.trust.attach import attach
from sealyard.trust.bundle import sign_statement
from sealyard.trust.predicates import (
    APPROVAL_V1,
    SCAN_V1,
    SLSA_PROVENANCE_V1,
    STAGE_PARAMETER,
    Approval,
    DatabaseSource,
    Provenance,
    ScanResult,
)
from sealyard.trust.root import TrustRepository
from sealyard.trust.statement import image_statement
from sealyard.vulndb.index import AdvisoryIndex
from sealyard.vulndb.osv import OsvRecord
from sealyard.vulndb.sources import SourceRecord
from sealyard.vulndb.store import AdvisoryStore
from tests.conftest import need
from tests.fixtures.images import (
    Image,
    Index,
    build_image,
    build_index,
    random_layer,
    write_oci_layout,
)
from tests.fixtures.push import assert_oci_error, push_image
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer

pytestmark = pytest.mark.integration

POLICY = b"""\
apiVersion: sealyard.dev/v1
kind: Policy
name: production
maxAge: 7d
stages:
  ci: {}
  scan: {failOn: CRITICAL}
  staging: {}
"""
KEY_NAMES = (
    "root",
    "targets",
    "snapshot",
    "timestamp",
    "ci1",
    "ci2",
    "scan1",
    "staging1",
    "staging2",
    "staging3",
)


# ----------------------------------------------------------------------------- helpers


def gate_image(architecture: str = "amd64", variant: str | None = None) -> Image:
    """An image no other test module pushes (some look up push jobs by digest alone)."""
    seed = 4100 + len(architecture) + len(variant or "")
    return build_image(
        [random_layer(3000, seed=seed), random_layer(2000, seed=seed + 1)],
        architecture=architecture,
        variant=variant,
    )


def gate_index() -> Index:
    """linux/amd64 (the platform skopeo picks here) and linux/arm64/v8."""
    return build_index([gate_image(), gate_image("arm64", "v8")])


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [need("skopeo"), "--insecure-policy", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return result


def creds(flag: str, user: tuple[str, str]) -> list[str]:
    prefix = f"--{flag}-" if flag else "--"
    return [f"{prefix}tls-verify=false", f"{prefix}creds", f"{user[0]}:{user[1]}"]


@dataclass
class Trust:
    """A project's trust repository inside the server's data directory, and its keys."""

    repo: TrustRepository
    keys: dict[str, CryptoSigner]

    def publish(self) -> None:
        self.repo.publish([self.keys["snapshot"], self.keys["timestamp"]])


def publish_trust(data_dir: Path, project: str, policy: bytes = POLICY) -> Trust:
    """Stages ci 1-of-2, scan 1-of-1, staging 2-of-3 and ``policy``, published where the
    server serves (and the gate reads) them: ``<data>/trust/<project>/published``."""
    keys = {name: CryptoSigner.generate_ed25519() for name in KEY_NAMES}
    k = {name: signer.public_key for name, signer in keys.items()}
    repo = TrustRepository.create(
        data_dir / "trust" / project,
        project,
        root_keys=[k["root"]],
        targets_keys=[k["targets"]],
        snapshot_keys=[k["snapshot"]],
        timestamp_keys=[k["timestamp"]],
        signers=[keys["root"], keys["targets"]],
    )
    repo.add_stage("ci", [k["ci1"], k["ci2"]], 1, [keys["targets"], keys["ci1"]])
    repo.add_stage("scan", [k["scan1"]], 1, [keys["targets"], keys["scan1"]])
    repo.add_stage(
        "staging",
        [k["staging1"], k["staging2"], k["staging3"]],
        2,
        [keys["targets"], keys["staging1"], keys["staging2"]],
    )
    name = str(yaml.safe_load(policy)["name"])
    repo.set_policy(name, policy, [keys["targets"]])
    trust = Trust(repo, keys)
    trust.publish()
    return trust


def bundle(stage: str, repository: str, digest: str, signer: Signer) -> bytes:
    """A signed attestation of ``stage`` for ``repository@digest``."""
    at = datetime.now(UTC) - timedelta(minutes=5)
    if stage == "ci":
        predicate_type, predicate = (
            SLSA_PROVENANCE_V1,
            Provenance(
                build_type="https://sealyard.dev/build/test/v1",
                external_parameters={"repository": "https://git.example/app"},
                builder_id="https://ci.example/runner/1",
                finished_on=at,
                internal_parameters={STAGE_PARAMETER: "ci"},
            ).to_dict(),
        )
    elif stage == "scan":
        predicate_type, predicate = (
            SCAN_V1,
            ScanResult.build(
                scanner_name="sealyard",
                scanner_version="0.1.0",
                sources=[DatabaseSource("osv", at - timedelta(hours=1))],
                sbom_digest="sha256:" + "ef" * 32,
                sbom_media_type="application/vnd.cyclonedx+json",
                summary={},
                findings=[],
                scanned_at=at,
            ).to_dict(),
        )
    else:
        predicate_type = APPROVAL_V1
        predicate = Approval(stage=stage, approver="qa@example", approved_at=at).to_dict()
    statement = image_statement(repository, digest, predicate_type, predicate)
    return sign_statement(statement, [signer]).to_json()


@pytest.fixture
def admin_client(server: SealyardServer) -> Iterator[RegistryClient]:
    client = RegistryClient(server.host, credentials=("admin", ADMIN_PASSWORD))
    yield client
    client.close()


def sign(client: RegistryClient, trust: Trust, repository: str, digest: str, *signers: str) -> None:
    """Attach one attestation per named key (``ci1`` attests ci, ``staging2`` staging …)."""
    for name in signers:
        stage = name.rstrip("0123456789")
        attach(client, repository, digest, bundle(stage, repository, digest, trust.keys[name]))


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    return write_oci_layout(
        tmp_path / "layout",
        {"v1": gate_image(), "multi": gate_index()},
    )


@dataclass
class Setup:
    project: str
    repository: str
    developer: tuple[str, str]
    deployer: tuple[str, str]

    def ref(self, server: SealyardServer, reference: str) -> str:
        sep = "@" if ":" in reference else ":"
        return f"docker://{server.host}/{self.repository}{sep}{reference}"


@pytest.fixture
def gated(registry: Registry, project: str, make_user: Callable[..., tuple[str, str]]) -> Setup:
    """A project whose pulls must satisfy policy ``production``; a developer who pushes and
    a pull-only deployer (the account production nodes use)."""
    registry.accounts.set_project(project, policy="production")
    return Setup(
        project, f"{project}/app", make_user(project, "developer"), make_user(project, "guest")
    )


def pull_events(registry: Registry, repository: str, digest: str) -> list[dict[str, Any]]:
    return registry.audit.query(action="pull.policy", resource_prefix=f"{repository}@{digest}")


# ----------------------------------------------------------------------------- signatures


def test_unsigned_image_is_refused_until_the_required_stages_sign(
    server: SealyardServer,
    registry: Registry,
    gated: Setup,
    layout: Path,
    tmp_path: Path,
    admin_client: RegistryClient,
) -> None:
    image = gate_image()
    trust = publish_trust(server.data_dir, gated.project)
    skopeo("copy", *creds("dest", gated.developer), f"oci:{layout}:v1", gated.ref(server, "v1"))

    def pull(name: str) -> subprocess.CompletedProcess[str]:
        dest = f"oci:{tmp_path / name}:v1"
        return skopeo(
            "copy", *creds("src", gated.deployer), gated.ref(server, "v1"), dest, check=False
        )

    refused = pull("unsigned")
    assert refused.returncode != 0
    message = refused.stderr
    # skopeo shows the OCI error code and the registry's message, e.g. "… reading manifest v1
    # in HOST/p/app: denied: p/app@sha256:… does not meet the pull requirements of project
    # 'p': policy 'production' not satisfied: stage ci: no valid attestation …"
    assert "denied: " in message, message
    assert "does not meet the pull requirements of project" in message, message
    assert "policy 'production' not satisfied" in message, message
    for stage in ("ci", "scan", "staging"):
        assert f"stage {stage}: no valid attestation" in message, message

    sign(admin_client, trust, gated.repository, image.digest, "ci2", "scan1", "staging3")
    partly = pull("partly")
    assert partly.returncode != 0
    assert "stage staging: threshold not met: 1 of 2" in partly.stderr, partly.stderr
    assert "stage ci" not in partly.stderr
    assert "stage scan" not in partly.stderr

    # The evidence stays readable for the deployer: the referrers API and each attestation.
    listed = httpx.get(
        f"{server.url}/v2/{gated.repository}/referrers/{image.digest}",
        auth=gated.deployer,
        timeout=30,
    )
    referrers = listed.json()["manifests"]
    assert len(referrers) == 3
    for entry in referrers:
        raw = skopeo(
            "inspect", "--raw", *creds("", gated.deployer), gated.ref(server, entry["digest"])
        ).stdout
        assert json.loads(raw)["subject"]["digest"] == image.digest

    sign(admin_client, trust, gated.repository, image.digest, "staging1")
    allowed = pull("signed")
    assert allowed.returncode == 0, allowed.stderr
    pulled = json.loads((tmp_path / "signed" / "index.json").read_text())
    assert pulled["manifests"][0]["digest"] == image.digest

    events = pull_events(registry, gated.repository, image.digest)
    signer_reads = [e for e in events if e["actor"] == "admin"]  # attach reads the subject
    assert {e["detail"]["exempt"] for e in signer_reads} == {
        f"admin may push to {gated.repository}"
    }
    events = [e for e in events if e["actor"] == gated.deployer[0]]
    outcomes = [e["outcome"] for e in reversed(events)]
    assert (outcomes[0], outcomes[-1]) == ("denied", "success"), outcomes
    last, first = events[0], events[-1]
    assert last["detail"]["policy"] == "production"
    assert "satisfied" in last["detail"]["summary"]
    assert [(s["stage"], s["met"], len(s["signers"])) for s in last["detail"]["stages"]] == [
        ("ci", True, 1),
        ("scan", True, 1),
        ("staging", True, 2),
    ]
    assert "not satisfied" in first["detail"]["summary"]
    assert first["detail"]["reference"] == "v1"


def test_multiplatform_image_signed_on_its_index(
    server: SealyardServer,
    registry: Registry,
    gated: Setup,
    layout: Path,
    tmp_path: Path,
    admin_client: RegistryClient,
) -> None:
    index = gate_index()
    arm = index.images[1]
    trust = publish_trust(server.data_dir, gated.project)
    skopeo(
        "copy", "--all", *creds("dest", gated.developer), f"oci:{layout}:multi",
        gated.ref(server, "multi"),
    )  # fmt: skip
    by_digest = gated.ref(server, arm.digest)
    child = skopeo("inspect", "--raw", *creds("", gated.deployer), by_digest, check=False)
    assert child.returncode != 0
    assert "not satisfied" in child.stderr, child.stderr

    # Signing a child image does not sign the index (nor its other child).
    sign(admin_client, trust, gated.repository, arm.digest, "ci1", "scan1", "staging1", "staging2")
    assert skopeo("inspect", "--raw", *creds("", gated.deployer), by_digest).stdout.encode() == (
        arm.manifest
    )
    top = skopeo(
        "inspect", "--raw", *creds("", gated.deployer), gated.ref(server, "multi"), check=False
    )
    assert top.returncode != 0, top.stdout

    sign(
        admin_client, trust, gated.repository, index.digest, "ci1", "scan1", "staging1", "staging2"
    )
    out = tmp_path / "pulled"
    skopeo("copy", *creds("src", gated.deployer), gated.ref(server, "multi"), f"oci:{out}:m")
    amd = index.images[0]
    assert (out / "blobs" / "sha256" / amd.digest.split(":")[1]).read_bytes() == amd.manifest
    via = pull_events(registry, gated.repository, amd.digest)[0]
    assert (via["outcome"], via["detail"]["via"]) == ("success", index.digest)
    assert "on index" in via["detail"]["summary"]


def test_refusals_explain_missing_trust_and_unknown_policy(
    server: SealyardServer, registry: Registry, gated: Setup
) -> None:
    image = gate_image()
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
        push_image(admin, gated.repository, "v1", image)
    url = f"/v2/{gated.repository}/manifests/v1"
    accept = {"Accept": image.media_type}
    with httpx.Client(base_url=server.url, auth=gated.deployer, timeout=30) as deployer:
        assert_oci_error(
            deployer.get(url, headers=accept), 403, "DENIED", "no published trust root"
        )
        head = deployer.head(url, headers=accept)
        assert head.status_code == 403
        publish_trust(server.data_dir, gated.project, POLICY.replace(b"production", b"other"))
        assert_oci_error(
            deployer.get(url, headers=accept),
            403,
            "DENIED",
            "has no policy 'production'",
            "published policies: other",
        )
    # The blobs are not gated: clients that already know a digest may fetch it.
    with httpx.Client(base_url=server.url, auth=gated.deployer, timeout=30) as deployer:
        blob = deployer.get(f"/v2/{gated.repository}/blobs/{image.config_digest}")
        assert blob.content == image.config


def test_a_trust_publish_takes_effect_at_the_next_pull(
    server: SealyardServer, registry: Registry, gated: Setup, admin_client: RegistryClient
) -> None:
    image = gate_image()
    trust = publish_trust(server.data_dir, gated.project)
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
        push_image(admin, gated.repository, "v1", image)
    sign(
        admin_client, trust, gated.repository, image.digest, "ci1", "scan1", "staging1", "staging2"
    )
    url = f"/v2/{gated.repository}/manifests/v1"
    with httpx.Client(base_url=server.url, auth=gated.deployer, timeout=30) as deployer:
        assert deployer.get(url, headers={"Accept": image.media_type}).status_code == 200
        keys = trust.keys
        trust.repo.update_stage(
            "staging",
            [keys["targets"], keys["staging1"], keys["staging3"]],
            revoke_keyids=[keys["staging2"].public_key.keyid],
        )
        trust.publish()
        assert_oci_error(
            deployer.get(url, headers={"Accept": image.media_type}),
            403,
            "DENIED",
            "stage staging: threshold not met: 1 of 2",
        )


def test_tampered_attestations_and_disguised_images_do_not_pass(
    server: SealyardServer,
    registry: Registry,
    gated: Setup,
    admin_client: RegistryClient,
) -> None:
    image = gate_image()
    trust = publish_trust(server.data_dir, gated.project)
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
        push_image(admin, gated.repository, "v1", image)
        sign(admin_client, trust, gated.repository, image.digest, "ci1", "scan1", "staging1")
        staging2 = bundle("staging", gated.repository, image.digest, trust.keys["staging2"])
        attached = attach(admin_client, gated.repository, image.digest, staging2)
        # An image that names a subject is still an image: judged, not waved through.
        disguised = json.loads(image.manifest)
        disguised["subject"] = {
            "mediaType": image.media_type,
            "digest": image.digest,
            "size": len(image.manifest),
        }
        raw = json.dumps(disguised).encode()
        r = admin.put(
            f"/v2/{gated.repository}/manifests/disguised",
            content=raw,
            headers={"Content-Type": image.media_type},
        )
        assert r.status_code == 201, r.text
    # Bytes in storage that do not match their digest are not evidence.
    layer = json.loads(attached.manifest)["layers"][0]["digest"]
    path = registry.store.blobs.local_path(layer)
    assert path is not None
    path.chmod(0o644)
    tampered = bytearray(staging2)
    at = staging2.index(b'"sig":"') + len(b'"sig":"')
    tampered[at] = ord("B") if tampered[at] == ord("A") else ord("A")  # same size, new bytes
    path.write_bytes(bytes(tampered))
    url = f"/v2/{gated.repository}/manifests"
    accept = {"Accept": image.media_type}
    with httpx.Client(base_url=server.url, auth=gated.deployer, timeout=30) as deployer:
        err = assert_oci_error(
            deployer.get(f"{url}/v1", headers=accept),
            403,
            "DENIED",
            "stage staging: threshold not met: 1 of 2",
        )
        assert f"attestation {attached.descriptor.digest} was not used" in err["message"]
        assert "does not match its digest" in err["message"]
        sign(admin_client, trust, gated.repository, image.digest, "staging3")
        assert deployer.get(f"{url}/v1", headers=accept).status_code == 200
        assert_oci_error(
            deployer.get(f"{url}/disguised", headers=accept), 403, "DENIED", "stage ci"
        )


def test_invalid_stored_settings_fail_closed(
    server: SealyardServer, registry: Registry, project: str, make_user: Callable[..., Any]
) -> None:
    image = gate_image()
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
        push_image(admin, f"{project}/app", "v1", image)
    with registry.db.session() as s:  # as only a direct database edit could leave them
        s.scalars(select(Project).where(Project.name == project)).one().settings = {
            "prevent_vulnerable": "SEVERE"
        }
    with httpx.Client(base_url=server.url, auth=make_user(project, "guest"), timeout=30) as c:
        assert_oci_error(
            c.get(f"/v2/{project}/app/manifests/v1", headers={"Accept": image.media_type}),
            403,
            "DENIED",
            "the project's settings are invalid",
            "SEVERE",
        )


def test_accounts_that_may_push_are_not_judged(
    server: SealyardServer, registry: Registry, gated: Setup, layout: Path
) -> None:
    image = gate_image()
    publish_trust(server.data_dir, gated.project)
    ref = gated.ref(server, "v1")
    skopeo("copy", *creds("dest", gated.developer), f"oci:{layout}:v1", ref)
    raw = skopeo("inspect", "--raw", *creds("", gated.developer), ref).stdout.encode()
    assert raw == image.manifest
    event = pull_events(registry, gated.repository, image.digest)[0]
    assert (event["actor"], event["outcome"]) == (gated.developer[0], "success")
    assert event["detail"]["exempt"] == f"{gated.developer[0]} may push to {gated.repository}"


def test_projects_without_settings_are_not_judged(
    server: SealyardServer,
    registry: Registry,
    project: str,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    image = gate_image()
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
        push_image(admin, f"{project}/app", "v1", image)
    registry.accounts.set_project(project, scan_on_push=False)  # not an enforcing setting
    guest = make_user(project, "guest")
    with httpx.Client(base_url=server.url, auth=guest, timeout=30) as client:
        r = client.get(f"/v2/{project}/app/manifests/v1", headers={"Accept": image.media_type})
    assert r.status_code == 200
    assert r.content == image.manifest
    assert pull_events(registry, f"{project}/app", image.digest) == []


# ----------------------------------------------------------------------------- vulnerabilities


def _advisory(ident: str, cve: str, package: str) -> SourceRecord:
    raw: dict[str, Any] = {
        "id": ident,
        "modified": "2024-05-01T00:00:00Z",
        "aliases": [cve],
        "summary": f"{ident} summary",
        "database_specific": {"severity": "HIGH"},
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9"}]}],
            }
        ],
    }
    return SourceRecord(OsvRecord.from_dict(raw), raw, f"{ident}.json")


def record_scan(registry: Registry, repository: str, digest: str, package: str) -> None:
    """Store a scan of ``repository@digest`` holding ``package`` 1.0 (as the scanner would)."""
    index = AdvisoryIndex(AdvisoryStore(registry.db))
    index.refresh()
    sbom = Sbom(
        image=ImageInfo(f"{repository}@{digest}"),
        packages=(
            Package(
                name=package,
                version="1.0",
                type="pypi",
                purl=f"pkg:pypi/{package}@1.0",
                found_by="test",
            ),
        ),
    )
    Inventory(registry.db).record_scan(repository=repository, digest=digest, sbom=sbom, index=index)


def test_prevent_vulnerable_with_allowlist(
    server: SealyardServer,
    registry: Registry,
    project: str,
    layout: Path,
    unique: Callable[[str], str],
    make_user: Callable[..., tuple[str, str]],
) -> None:
    image = gate_image()
    repository = f"{project}/app"
    ref = f"docker://{server.host}/{repository}:v1"
    registry.accounts.set_project(project, prevent_vulnerable="HIGH")
    developer, deployer = make_user(project, "developer"), make_user(project, "guest")
    skopeo("copy", *creds("dest", developer), f"oci:{layout}:v1", ref)

    def inspect() -> subprocess.CompletedProcess[str]:
        return skopeo("inspect", "--raw", *creds("", deployer), ref, check=False)

    unscanned = inspect()
    assert unscanned.returncode != 0
    assert "not scanned yet (scan on push is on)" in unscanned.stderr, unscanned.stderr

    package = unique("gatepkg")
    ident, cve = f"GHSA-{unique('g')}", f"CVE-2099-{secrets.randbelow(10**6) + 10**6}"
    AdvisoryStore(registry.db).import_records(unique("src"), [_advisory(ident, cve, package)])
    record_scan(registry, repository, image.digest, package)
    vulnerable = inspect()
    assert vulnerable.returncode != 0
    assert "denied" in vulnerable.stderr.lower()
    assert f"1 finding(s) at or above HIGH not allowlisted: {cve} (HIGH, {package} 1.0)" in (
        vulnerable.stderr
    ), vulnerable.stderr

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    registry.accounts.set_project(
        project, allowlist=[{"id": ident, "expires": tomorrow, "reason": "not reachable"}]
    )
    assert inspect().stdout.encode() == image.manifest

    today = datetime.now(UTC).date().isoformat()  # entries apply until, not including, expiry
    registry.accounts.set_project(
        project, allowlist=[{"id": cve, "expires": today, "reason": "was not reachable"}]
    )
    expired = inspect()
    assert expired.returncode != 0
    assert cve in expired.stderr, expired.stderr

    registry.accounts.set_project(project, prevent_vulnerable="CRITICAL")
    assert inspect().returncode == 0
    events = pull_events(registry, repository, image.digest)
    assert [e["outcome"] for e in reversed(events)] == [
        "denied",
        "denied",
        "success",
        "denied",
        "success",
    ]
    assert events[3]["detail"]["vulnerabilities"] == [cve]
    assert events[0]["detail"]["prevent_vulnerable"] == "CRITICAL"


def test_prevent_vulnerable_on_an_index_checks_every_image(
    server: SealyardServer,
    registry: Registry,
    project: str,
    unique: Callable[[str], str],
    make_user: Callable[..., tuple[str, str]],
) -> None:
    index: Index = gate_index()
    amd, arm = index.images
    repository = f"{project}/multi"
    registry.accounts.set_project(project, prevent_vulnerable="LOW", scan_on_push=False)
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
        push_image(admin, repository, "1", index)
    clean = unique("cleanpkg")
    record_scan(registry, repository, amd.digest, clean)
    url = f"/v2/{repository}/manifests/1"
    with httpx.Client(base_url=server.url, auth=make_user(project, "guest"), timeout=30) as c:
        err = assert_oci_error(
            c.get(url, headers={"Accept": index.media_type}), 403, "DENIED", arm.digest
        )
        assert "not scanned yet (scan on push is off)" in err["message"]
        assert amd.digest not in err["message"]
        record_scan(registry, repository, arm.digest, clean)
        assert c.get(url, headers={"Accept": index.media_type}).content == index.manifest
