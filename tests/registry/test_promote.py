"""Robot accounts with ``promote``: CI stages that attach evidence and move tags, but cannot
push new image content — checked over real HTTP (token auth), with skopeo and with attach."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sealyard.client.registry import RegistryClient
from sealyard.errors import UsageError
from sealyard.registry.app import Registry
from sealyard.registry.rbac import Principal, actions_for, promote_only
from sealyard.trust.attach import attach
from sealyard.trust.bundle import BUNDLE_MEDIA_TYPE
from tests.conftest import need
from tests.fixtures.images import (
    build_image,
    random_layer,
    write_oci_layout,
)
from tests.fixtures.push import (
    OCI_MANIFEST,
    artifact_manifest,
    assert_oci_error,
    expect,
    push_blob,
    push_image,
    push_manifest,
    registry_client,
    sha256,
)
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer
from tests.registry.test_pull_gate import bundle, gate_image, publish_trust

SBOM_TYPE = "application/vnd.cyclonedx+json"

# ------------------------------------------------------------------------------ the model


def _robot(**grants: set[str]) -> Principal:
    perms = {("*" if k == "everywhere" else k): frozenset(v) for k, v in grants.items()}
    return Principal(kind="robot", name="robot$r", robot_permissions=perms)


def test_promote_travels_as_push_but_is_marked_limited() -> None:
    promoter = _robot(team={"pull", "promote"})
    assert actions_for(promoter, "team", public=False) == {"pull", "push"}
    assert promote_only(promoter, "team")
    assert not promote_only(promoter, "other")
    assert actions_for(promoter, "other", public=False) == frozenset()

    full = _robot(team={"pull", "push", "promote"})
    assert not promote_only(full, "team")
    via_wildcard = _robot(team={"promote"}, everywhere={"push"})
    assert not promote_only(via_wildcard, "team")
    assert promote_only(_robot(everywhere={"promote"}), "any")
    # Users never are: their push comes from a role.
    dev = Principal(kind="user", name="u", roles={"team": "developer"})
    assert not promote_only(dev, "team")
    forged = Principal(kind="user", name="u", robot_permissions={"team": frozenset({"promote"})})
    assert actions_for(forged, "team", public=False) == frozenset()


def test_robots_may_be_granted_promote_but_nothing_unknown(
    registry: Registry, project: str
) -> None:
    made = registry.accounts.create_robot("stage", {project: ["pull", "promote"]})
    listed = {r["name"]: r for r in registry.accounts.list_robots()}
    assert listed[made.name]["permissions"] == {project: ["promote", "pull"]}
    for actions in (["admin"], ["promote", "admin"], ["promotion"]):
        with pytest.raises(UsageError, match=r"pull, push or delete \(or promote\)"):
            registry.accounts.create_robot("bad", {project: actions})


def test_management_api_creates_promote_robots(
    server: SealyardServer, registry: Registry, project: str
) -> None:
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as admin:
        r = admin.post(
            f"/api/v1/projects/{project}/robots",
            json={"name": "scanstage", "actions": ["pull", "promote"]},
        )
        assert r.status_code == 201, r.text
        assert r.json()["actions"] == ["promote", "pull"]
        me = httpx.get(
            f"{server.url}/api/v1/me", auth=(r.json()["name"], r.json()["secret"]), timeout=30
        ).json()
        assert me["permissions"] == {project: ["promote", "pull"]}
        bad = admin.post(
            f"/api/v1/projects/{project}/robots", json={"name": "x", "actions": ["admin"]}
        )
        assert bad.status_code == 400
        assert "promote" in bad.json()["error"]["message"]


# ------------------------------------------------------------------------------ over HTTP


@pytest.fixture
def promoter(registry: Registry, project: str) -> tuple[str, str]:
    robot = registry.accounts.create_robot("promote", {project: ["pull", "promote"]})
    return robot.name, robot.secret


@pytest.fixture
def robot_http(server: SealyardServer, promoter: tuple[str, str]) -> Iterator[httpx.Client]:
    """The robot speaking token auth, as docker and containerd do: it asks for pull,push."""
    with registry_client(server.url, *promoter) as client:
        yield client


@pytest.fixture
def admin_http(server: SealyardServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as c:
        yield c


def test_promote_robot_cannot_push_new_images(
    registry: Registry, project: str, robot_http: httpx.Client, promoter: tuple[str, str]
) -> None:
    repo = f"{project}/app"
    image = build_image([random_layer(2048, seed=7)])
    for layer in image.layers:
        push_blob(robot_http, repo, layer.data)  # blob uploads are allowed
    push_blob(robot_http, repo, image.config)
    err = assert_oci_error(
        push_manifest(robot_http, repo, "v1", image.manifest, image.media_type),
        403,
        "DENIED",
        "may only promote",
        "new image content",
    )
    assert image.digest in err["message"]
    events = registry.audit.query(action="push", resource_prefix=f"{repo}@{image.digest}")
    assert [(e["actor"], e["outcome"]) for e in events] == [(promoter[0], "denied")]
    # Nothing was stored or tagged.
    assert registry.store.resolve(repo, image.digest) is None
    assert registry.store.list_tags(repo, None, None) == []


def test_promote_robot_tags_stored_manifests_and_attaches_evidence(
    registry: Registry,
    project: str,
    robot_http: httpx.Client,
    admin_http: httpx.Client,
) -> None:
    repo = f"{project}/app"
    image = gate_image()
    push_image(admin_http, repo, "candidate", image)

    moved = push_manifest(robot_http, repo, "production", image.manifest, image.media_type)
    expect(moved, 201)
    assert registry.store.list_tags(repo, None, None) == ["candidate", "production"]

    subject = {"mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest)}
    sbom = b'{"bomFormat":"CycloneDX"}'
    push_blob(robot_http, repo, sbom)
    push_blob(robot_http, repo, b"{}")
    referrer = artifact_manifest(SBOM_TYPE, subject=subject, layers=[(SBOM_TYPE, sbom)])
    r = expect(push_manifest(robot_http, repo, sha256(referrer), referrer, OCI_MANIFEST), 201)
    assert r.headers["oci-subject"] == image.digest

    # A subject does not make an image evidence: a runnable image naming a subject is refused.
    other = build_image([random_layer(1024, seed=11)])
    for layer in other.layers:
        push_blob(robot_http, repo, layer.data)
    push_blob(robot_http, repo, other.config)
    doc = json.loads(other.manifest)
    doc["subject"] = subject
    disguised = json.dumps(doc).encode()
    assert_oci_error(
        push_manifest(robot_http, repo, sha256(disguised), disguised, OCI_MANIFEST),
        403,
        "DENIED",
        "may only promote",
    )
    # Promoting is not deleting.
    gone = robot_http.delete(f"/v2/{repo}/manifests/candidate")
    assert gone.status_code in (401, 403), gone.text
    assert registry.store.list_tags(repo, None, None) == ["candidate", "production"]


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [need("skopeo"), "--insecure-policy", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return result


@pytest.mark.integration
def test_promote_with_skopeo_and_attach_in_an_enforcing_project(
    server: SealyardServer,
    registry: Registry,
    project: str,
    promoter: tuple[str, str],
    admin_http: httpx.Client,
    tmp_path: Path,
) -> None:
    """A CI stage with promote: it can read the unsigned image the gate refuses to others,
    attach its attestation, and move the release tag — and it cannot smuggle in an image."""
    repo = f"{project}/app"
    image = gate_image()
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    robot_creds = f"{promoter[0]}:{promoter[1]}"
    tls = ("--src-tls-verify=false", "--dest-tls-verify=false")

    pushed = skopeo(
        "copy", *tls, "--dest-creds", robot_creds, f"oci:{layout}:v1",
        f"docker://{server.host}/{repo}:v1", check=False,
    )  # fmt: skip
    assert pushed.returncode != 0
    assert "may only promote" in pushed.stderr, pushed.stderr

    push_image(admin_http, repo, "rc1", image)
    trust = publish_trust(server.data_dir, project)
    registry.accounts.set_project(project, policy="production")

    client = RegistryClient(server.host, credentials=promoter)
    try:
        result = attach(
            client, repo, image.digest, bundle("ci", repo, image.digest, trust.keys["ci1"])
        )
    finally:
        client.close()
    assert not result.used_tag_fallback
    referrers = registry.store.referrers(repo, image.digest, BUNDLE_MEDIA_TYPE)
    assert [r["digest"] for r in referrers] == [result.descriptor.digest]

    skopeo(
        "copy", *tls, "--src-creds", robot_creds, "--dest-creds", robot_creds,
        f"docker://{server.host}/{repo}:rc1", f"docker://{server.host}/{repo}:release",
    )  # fmt: skip
    assert registry.store.list_tags(repo, None, None) == ["rc1", "release"]
    assert registry.store.resolve(repo, "release") == registry.store.resolve(repo, "rc1")
