"""Acceptance: skopeo, a real client, against the real server over HTTP."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from sealyard.db.models import Job
from sealyard.registry.app import Registry
from tests.conftest import need
from tests.fixtures.images import (
    docker_manifest_list,
    sample_multilayer_image,
    sample_multiplatform_index,
    to_docker_schema2,
    write_dir_layout,
    write_oci_layout,
)
from tests.fixtures.sealyard_server import SealyardServer

pytestmark = pytest.mark.integration


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = [need("skopeo"), "--insecure-policy", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stderr}")
    return result


def creds(flag: str, user: tuple[str, str] | None) -> list[str]:
    tls = f"--{flag}-tls-verify=false" if flag else "--tls-verify=false"
    if user is None:
        return [tls, f"--{flag}-no-creds" if flag else "--no-creds"]
    return [tls, f"--{flag}-creds" if flag else "--creds", f"{user[0]}:{user[1]}"]


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    return write_oci_layout(
        tmp_path / "layout",
        {"v1": sample_multilayer_image(), "multi": sample_multiplatform_index()},
    )


def test_push_and_pull_multilayer_image_with_credentials(
    server: SealyardServer,
    registry: Registry,
    project: str,
    layout: Path,
    tmp_path: Path,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    dev = make_user(project, "developer")
    image = sample_multilayer_image()
    ref = f"docker://{server.host}/{project}/app:v1"
    skopeo("copy", *creds("dest", dev), f"oci:{layout}:v1", ref)

    raw = skopeo("inspect", "--raw", *creds("", dev), ref).stdout.encode()
    assert hashlib.sha256(raw).hexdigest() == image.digest.split(":")[1]

    out = tmp_path / "pulled"
    skopeo("copy", *creds("src", dev), ref, f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == image.manifest
    for layer in image.layers:
        assert sha256_file(out / layer.digest.split(":")[1]) == layer.digest
    assert sha256_file(out / image.config_digest.split(":")[1]) == image.config_digest

    with registry.db.session() as s:
        job = s.scalars(
            select(Job).where(Job.kind == "image.pushed").order_by(Job.id.desc())
        ).first()
        payloads = [j.payload for j in s.scalars(select(Job).where(Job.kind == "image.pushed"))]
    assert job is not None
    assert {"repository": f"{project}/app", "digest": image.digest, "tag": "v1"}.items() <= next(
        p for p in payloads if p["digest"] == image.digest
    ).items()
    events = registry.audit.query(resource_prefix=f"{project}/app")
    actions = {(e["action"], e["actor"]) for e in events}
    assert ("push", dev[0]) in actions
    assert ("pull", dev[0]) in actions
    assert all(e["remote_addr"] == "127.0.0.1" for e in events)


def test_push_and_pull_multiplatform_index(
    server: SealyardServer,
    project: str,
    layout: Path,
    tmp_path: Path,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    dev = make_user(project, "developer")
    index = sample_multiplatform_index()
    ref = f"docker://{server.host}/{project}/multi:1.0"
    skopeo("copy", "--all", *creds("dest", dev), f"oci:{layout}:multi", ref)
    raw = skopeo("inspect", "--raw", *creds("", dev), ref).stdout.encode()
    assert raw == index.manifest
    out = tmp_path / "pulled"
    skopeo("copy", "--all", *creds("src", dev), ref, f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == index.manifest
    for image in index.images:
        child = out / f"{image.digest.split(':')[1]}.manifest.json"
        assert child.read_bytes() == image.manifest
    arm = skopeo(
        "inspect",
        "--raw",
        "--override-arch",
        "arm64",
        *creds("", dev),
        f"docker://{server.host}/{project}/multi@{index.images[1].digest}",
    ).stdout.encode()
    assert arm == index.images[1].manifest


def test_docker_media_types_round_trip(
    server: SealyardServer,
    project: str,
    tmp_path: Path,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    dev = make_user(project, "developer")
    listed = docker_manifest_list(
        [sample_multilayer_image(), sample_multilayer_image(architecture="arm64", variant="v8")]
    )
    src = write_dir_layout(tmp_path / "docker", listed)
    ref = f"docker://{server.host}/{project}/dockerish:latest"
    skopeo("copy", "--all", "--preserve-digests", *creds("dest", dev), f"dir:{src}", ref)
    raw = skopeo("inspect", "--raw", *creds("", dev), ref).stdout.encode()
    assert raw == listed.manifest
    assert (
        json.loads(raw)["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    )
    single = to_docker_schema2(sample_multilayer_image())
    src2 = write_dir_layout(tmp_path / "docker2", single)
    ref2 = f"docker://{server.host}/{project}/dockerish:single"
    skopeo("copy", "--preserve-digests", *creds("dest", dev), f"dir:{src2}", ref2)
    assert skopeo("inspect", "--raw", *creds("", dev), ref2).stdout.encode() == single.manifest


def test_list_tags_and_delete(
    server: SealyardServer,
    project: str,
    layout: Path,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    maintainer = make_user(project, "maintainer")
    base = f"docker://{server.host}/{project}/tags"
    for tag in ("a", "b", "c"):
        skopeo("copy", *creds("dest", maintainer), f"oci:{layout}:v1", f"{base}:{tag}")
    listed = json.loads(skopeo("list-tags", *creds("", maintainer), base).stdout)
    assert listed["Tags"] == ["a", "b", "c"]
    skopeo("delete", *creds("", maintainer), f"{base}:b")
    # Deleting by digest removes the manifest and so every tag pointing at it.
    gone = skopeo("inspect", "--raw", *creds("", maintainer), f"{base}:a", check=False)
    assert gone.returncode != 0
    assert "manifest unknown" in gone.stderr.lower()


def test_anonymous_refused_on_private_project(
    server: SealyardServer,
    project: str,
    layout: Path,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    dev = make_user(project, "developer")
    ref = f"docker://{server.host}/{project}/secret:1"
    skopeo("copy", *creds("dest", dev), f"oci:{layout}:v1", ref)
    result = skopeo("inspect", "--raw", *creds("", None), ref, check=False)
    assert result.returncode != 0
    assert "authentication required" in result.stderr or "unauthorized" in result.stderr.lower()
    outsider = make_user()
    result = skopeo("inspect", "--raw", *creds("", outsider), ref, check=False)
    assert result.returncode != 0
    assert "denied" in result.stderr.lower()


def test_anonymous_pull_allowed_on_public_project(
    server: SealyardServer,
    registry: Registry,
    project: str,
    layout: Path,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    dev = make_user(project, "developer")
    registry.accounts.set_project(project, public=True)
    ref = f"docker://{server.host}/{project}/open:1"
    skopeo("copy", *creds("dest", dev), f"oci:{layout}:v1", ref)
    raw = skopeo("inspect", "--raw", *creds("", None), ref).stdout.encode()
    assert raw == sample_multilayer_image().manifest
    push = skopeo("copy", *creds("dest", None), f"oci:{layout}:v1", f"{ref}-anon", check=False)
    assert push.returncode != 0


def test_guest_cannot_push(
    server: SealyardServer,
    project: str,
    layout: Path,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    guest = make_user(project, "guest")
    result = skopeo(
        "copy",
        *creds("dest", guest),
        f"oci:{layout}:v1",
        f"docker://{server.host}/{project}/guestpush:1",
        check=False,
    )
    assert result.returncode != 0
    assert "denied" in result.stderr.lower() or "unauthorized" in result.stderr.lower()


def test_robot_account_pushes_until_disabled(
    server: SealyardServer,
    registry: Registry,
    project: str,
    layout: Path,
) -> None:
    robot = registry.accounts.create_robot("ci", {project: ["pull", "push"]})
    assert robot.name == f"robot${project}+ci"
    ref = f"docker://{server.host}/{project}/fromci:1"
    skopeo("copy", *creds("dest", (robot.name, robot.secret)), f"oci:{layout}:v1", ref)
    registry.accounts.set_robot_disabled(robot.name, True)
    result = skopeo("inspect", "--raw", *creds("", (robot.name, robot.secret)), ref, check=False)
    assert result.returncode != 0
    wrong = skopeo("inspect", "--raw", *creds("", (robot.name, "not-the-secret")), ref, check=False)
    assert wrong.returncode != 0
