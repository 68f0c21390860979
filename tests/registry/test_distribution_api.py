"""Every endpoint of the OCI Distribution Spec v1.1 (end-1 … end-14) against the real server.

Each test uses its own repositories in a fresh private project, through the admin client
unless it says otherwise; ``tests/fixtures/push.py`` speaks the raw protocol.

The ``admin`` fixture is overridden here: it authenticates with bearer tokens (as docker
does) instead of Basic credentials, because the server verifies a Basic password with Argon2
on every request (``auth_cache_seconds = 0`` in tests), about 0.25 s each; the tokens are
issued with the server's key in-process (``token_issuer``). ``test_base_endpoint`` goes
through ``/token`` and Basic for real.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sealyard.registry.app import Registry
from tests.fixtures.images import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    FileEntry,
    Image,
    Index,
    build_image,
    build_index,
    build_layer,
    docker_manifest_list,
    to_docker_schema2,
)
from tests.fixtures.push import (
    EMPTY_CONFIG,
    OCI_EMPTY,
    artifact_manifest,
    assert_oci_error,
    expect,
    push_blob,
    push_image,
    push_manifest,
    registry_client,
    sha256,
    start_upload,
    token_issuer,
)
from tests.fixtures.sealyard_server import SealyardServer

pytestmark = pytest.mark.integration

Unique = Callable[[str], str]
SBOM = "application/vnd.example.sbom.v1+json"
SIGNATURE = "application/vnd.example.signature.v1+json"


@pytest.fixture
def admin(server: SealyardServer, registry: Registry) -> Iterator[httpx.Client]:
    """The admin, authenticating with bearer tokens (see the module docstring)."""
    with registry_client(server.url, "admin", issue=token_issuer(registry, "admin")) as client:
        yield client


@pytest.fixture
def repo(project: str, unique: Unique) -> str:
    """A repository name in the test's private project (it exists once something is pushed)."""
    return f"{project}/{unique('r')}"


def small_image(seed: str, architecture: str = "amd64") -> Image:
    """A one-layer OCI image whose digests depend on ``seed``."""
    layer = build_layer([FileEntry("hello.txt", f"hello {seed}\n".encode())])
    return build_image([layer], architecture=architecture)


def blob_url(repo: str, digest: str) -> str:
    return f"/v2/{repo}/blobs/{digest}"


def manifest_url(repo: str, ref: str) -> str:
    return f"/v2/{repo}/manifests/{ref}"


def next_link(r: httpx.Response) -> str | None:
    """The target of an RFC 5988 ``Link: <url>; rel="next"`` header, if any."""
    header = r.headers.get("link")
    if header is None:
        return None
    match = re.fullmatch(r'<([^>]+)>;\s*rel="next"', header.strip())
    assert match, header
    return match.group(1)


# ---------------------------------------------------------------------------------- end-1


def test_base_endpoint(server: SealyardServer, anon: httpx.Client) -> None:
    with registry_client(server.url, "admin", server.admin_password) as client:
        r = client.get("/v2/")  # 401, then a token from /token, then 200
    assert r.status_code == 200
    assert r.request.headers["authorization"].startswith("Bearer ")
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
    assert r.json() == {}
    r = httpx.get(f"{server.url}/v2/", auth=("admin", server.admin_password))
    assert r.status_code == 200
    assert r.json() == {}
    r = anon.get("/v2/")
    assert_oci_error(r, 401, "UNAUTHORIZED", "authentication required")
    assert r.headers["www-authenticate"].startswith("Bearer realm=")


# ------------------------------------------------------------------------ end-2, end-10


def test_blob_get_and_head(admin: httpx.Client, repo: str) -> None:
    data = os.urandom(3000)
    digest = push_blob(admin, repo, data)

    r = admin.head(blob_url(repo, digest))
    assert r.status_code == 200
    assert r.headers["docker-content-digest"] == digest
    assert r.headers["content-length"] == str(len(data))
    assert r.content == b""

    r = admin.get(blob_url(repo, digest))
    assert r.status_code == 200
    assert r.headers["docker-content-digest"] == digest
    assert r.headers["content-length"] == str(len(data))
    assert r.content == data


def test_blob_range_request(admin: httpx.Client, repo: str) -> None:
    data = os.urandom(1000)
    digest = push_blob(admin, repo, data)
    r = admin.get(blob_url(repo, digest), headers={"Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.headers["content-range"] == "bytes 100-199/1000"
    assert r.content == data[100:200]
    r = admin.get(blob_url(repo, digest), headers={"Range": "bytes=990-"})
    assert r.status_code == 206
    assert r.content == data[990:]


@pytest.mark.parametrize("mode", ["monolithic", "post-put", "chunked", "stream"])
def test_upload_modes(admin: httpx.Client, repo: str, mode: Any) -> None:
    """end-4a/4b/5/6: each upload flow stores exactly the bytes sent (odd sizes on purpose)."""
    data = os.urandom(10_007)
    digest = push_blob(admin, repo, data, mode=mode, chunk=4096)
    assert digest == sha256(data)
    r = admin.get(blob_url(repo, digest))
    assert r.status_code == 200
    assert r.content == data


def test_post_then_put_headers(admin: httpx.Client, repo: str) -> None:
    """end-4a then end-6: 202 with Location and upload UUID, then 201 with the blob's URL."""
    r = admin.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    location = r.headers["location"]
    uuid = r.headers["docker-upload-uuid"]
    assert location.startswith(f"/v2/{repo}/blobs/uploads/")
    assert location.endswith(uuid)
    data = b"monolithic body"
    r = admin.put(location, params={"digest": sha256(data)}, content=data)
    assert r.status_code == 201
    assert r.headers["location"] == blob_url(repo, sha256(data))
    assert r.headers["docker-content-digest"] == sha256(data)
    assert admin.get(r.headers["location"]).content == data


def test_single_post_with_digest(admin: httpx.Client, repo: str) -> None:
    """end-4b: the whole blob in the POST."""
    data = b"single post"
    r = admin.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data)
    assert r.status_code == 201
    assert r.headers["location"] == blob_url(repo, sha256(data))
    assert r.headers["docker-content-digest"] == sha256(data)
    assert admin.get(blob_url(repo, sha256(data))).content == data


def test_chunked_upload_with_final_chunk_in_put(admin: httpx.Client, repo: str) -> None:
    """end-5 then end-6 where the PUT carries the last chunk."""
    data = os.urandom(2500)
    location = start_upload(admin, repo)
    r = admin.patch(location, content=data[:1000], headers={"Content-Range": "0-999"})
    assert r.status_code == 202
    assert r.headers["range"] == "0-999"
    r = admin.patch(
        r.headers["location"], content=data[1000:2000], headers={"Content-Range": "1000-1999"}
    )
    assert r.status_code == 202
    assert r.headers["range"] == "0-1999"
    r = admin.put(
        r.headers["location"],
        params={"digest": sha256(data)},
        content=data[2000:],
        headers={"Content-Range": "2000-2499"},
    )
    assert r.status_code == 201
    assert admin.get(blob_url(repo, sha256(data))).content == data


def test_streamed_patch_without_content_range(admin: httpx.Client, repo: str) -> None:
    data = os.urandom(50_000)
    location = start_upload(admin, repo)
    pieces = (data[i : i + 7000] for i in range(0, len(data), 7000))
    r = admin.patch(location, content=pieces)
    assert r.status_code == 202
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert "content-range" not in r.request.headers
    assert r.headers["range"] == f"0-{len(data) - 1}"
    r = admin.put(r.headers["location"], params={"digest": sha256(data)})
    assert r.status_code == 201
    assert admin.get(blob_url(repo, sha256(data))).content == data


def test_upload_status(admin: httpx.Client, repo: str) -> None:
    """end-13: 204 with the received range and the Location to continue at."""
    location = start_upload(admin, repo)
    expect(admin.patch(location, content=b"x" * 100, headers={"Content-Range": "0-99"}), 202)
    r = admin.get(location)
    assert r.status_code == 204
    assert r.headers["range"] == "0-99"
    assert r.headers["location"] == location
    assert location.endswith(r.headers["docker-upload-uuid"])
    expect(admin.patch(location, content=b"y" * 50, headers={"Content-Range": "100-149"}), 202)
    assert admin.get(location).headers["range"] == "0-149"


def test_upload_cancel(admin: httpx.Client, repo: str) -> None:
    """end-14: DELETE ends the session; it is then unknown."""
    location = start_upload(admin, repo)
    expect(admin.patch(location, content=b"abc"), 202)
    r = admin.delete(location)
    assert r.status_code == 204
    assert_oci_error(admin.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(admin.patch(location, content=b"more"), 404, "BLOB_UPLOAD_UNKNOWN")
    r = admin.put(location, params={"digest": sha256(b"abc")})
    assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
    assert admin.head(blob_url(repo, sha256(b"abc"))).status_code == 404


# --------------------------------------------------------------------------------- end-11


def test_mount_from_repository_that_has_the_blob(
    admin: httpx.Client, project: str, unique: Unique
) -> None:
    source, target = f"{project}/{unique('src')}", f"{project}/{unique('dst')}"
    data = os.urandom(500)
    digest = push_blob(admin, source, data)
    assert admin.head(blob_url(target, digest)).status_code == 404
    r = admin.post(f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
    assert r.status_code == 201
    assert r.headers["location"] == blob_url(target, digest)
    assert r.headers["docker-content-digest"] == digest
    assert admin.get(blob_url(target, digest)).content == data


@pytest.mark.parametrize("with_from", [True, False], ids=["source-lacks-blob", "no-from"])
def test_mount_falls_back_to_upload(
    admin: httpx.Client, project: str, unique: Unique, with_from: bool
) -> None:
    source, target = f"{project}/{unique('src')}", f"{project}/{unique('dst')}"
    push_blob(admin, source, b"something else")
    data = os.urandom(300)
    params = {"mount": sha256(data)} | ({"from": source} if with_from else {})
    r = admin.post(f"/v2/{target}/blobs/uploads/", params=params)
    assert r.status_code == 202
    location = r.headers["location"]
    assert location.startswith(f"/v2/{target}/blobs/uploads/")
    assert admin.head(blob_url(target, sha256(data))).status_code == 404
    r = admin.put(location, params={"digest": sha256(data)}, content=data)
    assert r.status_code == 201
    assert admin.get(blob_url(target, sha256(data))).content == data


# ----------------------------------------------------------------------- end-3, end-7


def _image_kinds() -> dict[str, Image | Index]:
    amd64, arm64 = small_image("amd64"), small_image("arm64", "arm64")
    return {
        "oci-manifest": amd64,
        "oci-index": build_index([amd64, arm64]),
        "docker-schema2": to_docker_schema2(amd64),
        "docker-manifest-list": docker_manifest_list([amd64, arm64]),
    }


_MEDIA_TYPES = {
    "oci-manifest": OCI_MANIFEST,
    "oci-index": OCI_INDEX,
    "docker-schema2": DOCKER_MANIFEST,
    "docker-manifest-list": DOCKER_LIST,
}


@pytest.mark.parametrize("kind", list(_MEDIA_TYPES))
def test_manifest_put_and_get_by_tag_and_digest(admin: httpx.Client, repo: str, kind: str) -> None:
    image = _image_kinds()[kind]
    assert image.media_type == _MEDIA_TYPES[kind]
    r = push_manifest(admin, repo, "v1", image.manifest, image.media_type)
    # Children and blobs are not pushed yet: the registry must refuse a dangling manifest.
    assert r.status_code == 400
    digest = push_image(admin, repo, "v1", image)

    for ref in ("v1", digest):
        r = admin.get(manifest_url(repo, ref), headers={"Accept": image.media_type})
        assert r.status_code == 200, r.text
        assert r.content == image.manifest
        assert r.headers["content-type"] == image.media_type
        assert r.headers["docker-content-digest"] == digest
        assert r.headers["content-length"] == str(len(image.manifest))

        r = admin.head(manifest_url(repo, ref))
        assert r.status_code == 200
        assert r.content == b""
        assert r.headers["content-type"] == image.media_type
        assert r.headers["docker-content-digest"] == digest
        assert r.headers["content-length"] == str(len(image.manifest))

    if isinstance(image, Index):
        for child in image.images:
            r = admin.get(manifest_url(repo, child.digest))
            assert r.status_code == 200
            assert r.content == child.manifest
            assert r.headers["content-type"] == child.media_type


def test_manifest_put_by_digest(admin: httpx.Client, repo: str) -> None:
    image = small_image("by-digest")
    for layer in image.layers:
        push_blob(admin, repo, layer.data)
    push_blob(admin, repo, image.config)
    r = push_manifest(admin, repo, image.digest, image.manifest, OCI_MANIFEST)
    assert r.status_code == 201
    assert r.headers["location"] == manifest_url(repo, image.digest)
    assert r.headers["docker-content-digest"] == image.digest
    assert admin.get(manifest_url(repo, image.digest)).content == image.manifest
    r = admin.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200
    assert r.json() == {"name": repo, "tags": []}


def test_manifest_put_replaces_tag(admin: httpx.Client, repo: str) -> None:
    first, second = small_image("first"), small_image("second")
    push_image(admin, repo, "latest", first)
    push_image(admin, repo, "latest", second)
    r = admin.get(manifest_url(repo, "latest"))
    assert r.content == second.manifest
    assert admin.get(manifest_url(repo, first.digest)).content == first.manifest


def test_artifact_manifest_with_empty_config(admin: httpx.Client, repo: str) -> None:
    """OCI 1.1 artifact: ``artifactType`` plus the empty config ``{}``."""
    payload = b'{"spdxVersion":"SPDX-2.3"}'
    assert push_blob(admin, repo, EMPTY_CONFIG) == sha256(b"{}")
    push_blob(admin, repo, payload)
    body = artifact_manifest(SBOM, layers=[("application/spdx+json", payload)])
    doc = json.loads(body)
    assert doc["config"] == {"mediaType": OCI_EMPTY, "digest": sha256(b"{}"), "size": 2}
    r = push_manifest(admin, repo, "sbom", body, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    assert "oci-subject" not in r.headers
    r = admin.get(manifest_url(repo, "sbom"))
    assert r.content == body
    assert r.headers["content-type"] == OCI_MANIFEST
    assert admin.get(blob_url(repo, sha256(b"{}"))).content == b"{}"


# --------------------------------------------------------------------------------- end-8


def test_tags_list_and_pagination(admin: httpx.Client, repo: str) -> None:
    image = small_image("tags")
    push_image(admin, repo, "t0", image)
    for tag in ("t3", "t1", "t4", "t2"):
        expect(push_manifest(admin, repo, tag, image.manifest, OCI_MANIFEST), 201)

    r = admin.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"name": repo, "tags": ["t0", "t1", "t2", "t3", "t4"]}
    assert "link" not in r.headers

    pages: list[list[str]] = []
    url: str | None = f"/v2/{repo}/tags/list?n=2"
    while url is not None:
        r = admin.get(url)
        assert r.status_code == 200
        assert r.json()["name"] == repo
        pages.append(r.json()["tags"])
        url = next_link(r)
        assert len(pages) < 5, "pagination does not end"
    assert pages == [["t0", "t1"], ["t2", "t3"], ["t4"]]

    r = admin.get(f"/v2/{repo}/tags/list", params={"n": 10, "last": "t2"})
    assert r.json()["tags"] == ["t3", "t4"]
    assert "link" not in r.headers


def test_catalog_with_pagination(admin: httpx.Client, project: str) -> None:
    repos = [f"{project}/a", f"{project}/b", f"{project}/c"]
    for name in repos:
        push_blob(admin, name, name.encode())
    r = admin.get("/v2/_catalog")
    assert r.status_code == 200
    listed = r.json()["repositories"]
    assert set(repos) <= set(listed)
    assert listed == sorted(listed)

    r = admin.get("/v2/_catalog", params={"n": 2, "last": project})
    assert r.status_code == 200
    assert r.json() == {"repositories": repos[:2]}
    link = next_link(r)
    assert link is not None
    assert link.startswith("/v2/_catalog?")
    r = admin.get(link)
    assert r.status_code == 200
    assert r.json()["repositories"][0] == repos[2]


def test_catalog_shows_only_readable_repositories(
    admin: httpx.Client,
    server: SealyardServer,
    registry: Registry,
    project: str,
    unique: Unique,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    other = unique("p")
    registry.accounts.create_project(other)
    mine, hidden = f"{project}/visible", f"{other}/hidden"
    push_blob(admin, mine, b"m")
    push_blob(admin, hidden, b"h")
    user = make_user(project, "guest")
    with registry_client(server.url, *user) as client:
        expect(client.get("/v2/"), 200)  # log in: the catalog answers anonymous clients too
        r = client.get("/v2/_catalog")
    assert r.status_code == 200
    listed = r.json()["repositories"]
    assert mine in listed
    assert hidden not in listed


# --------------------------------------------------------------------------------- end-9


def test_delete_manifest_by_digest(admin: httpx.Client, repo: str) -> None:
    image = small_image("delete-digest")
    digest = push_image(admin, repo, "gone", image)
    expect(push_manifest(admin, repo, "alias", image.manifest, OCI_MANIFEST), 201)
    r = admin.delete(manifest_url(repo, digest))
    assert r.status_code == 202
    assert_oci_error(admin.get(manifest_url(repo, digest)), 404, "MANIFEST_UNKNOWN")
    assert admin.head(manifest_url(repo, digest)).status_code == 404
    # Every tag that pointed at it went with it.
    assert_oci_error(admin.get(manifest_url(repo, "gone")), 404, "MANIFEST_UNKNOWN")
    assert admin.get(f"/v2/{repo}/tags/list").json()["tags"] == []
    assert_oci_error(admin.delete(manifest_url(repo, digest)), 404, "MANIFEST_UNKNOWN")


def test_delete_manifest_by_tag(admin: httpx.Client, repo: str) -> None:
    image = small_image("delete-tag")
    digest = push_image(admin, repo, "old", image)
    expect(push_manifest(admin, repo, "keep", image.manifest, OCI_MANIFEST), 201)
    r = admin.delete(manifest_url(repo, "old"))
    assert r.status_code == 202
    assert_oci_error(admin.get(manifest_url(repo, "old")), 404, "MANIFEST_UNKNOWN")
    assert admin.get(manifest_url(repo, digest)).content == image.manifest
    assert admin.get(f"/v2/{repo}/tags/list").json()["tags"] == ["keep"]


def test_delete_blob(admin: httpx.Client, repo: str) -> None:
    data = os.urandom(100)
    digest = push_blob(admin, repo, data)
    r = admin.delete(blob_url(repo, digest))
    assert r.status_code == 202
    assert admin.head(blob_url(repo, digest)).status_code == 404
    assert_oci_error(admin.get(blob_url(repo, digest)), 404, "BLOB_UNKNOWN", digest)
    assert_oci_error(admin.delete(blob_url(repo, digest)), 404, "BLOB_UNKNOWN")
    # It can be pushed again.
    push_blob(admin, repo, data)
    assert admin.get(blob_url(repo, digest)).content == data


def test_delete_blob_refused_while_a_manifest_uses_it(admin: httpx.Client, repo: str) -> None:
    image = small_image("blob-in-use")
    digest = push_image(admin, repo, "v1", image)
    layer = image.layers[0].digest
    r = admin.delete(blob_url(repo, layer))
    assert_oci_error(r, 409, "DENIED", digest)
    assert admin.head(blob_url(repo, layer)).status_code == 200
    expect(admin.delete(manifest_url(repo, digest)), 202)
    assert admin.delete(blob_url(repo, layer)).status_code == 202
    assert admin.head(blob_url(repo, layer)).status_code == 404


# -------------------------------------------------------------------------------- end-12


def _referrer(
    admin: httpx.Client, repo: str, subject: Image, artifact_type: str, note: str
) -> tuple[str, bytes]:
    payload = f"{artifact_type} {note}".encode()
    push_blob(admin, repo, EMPTY_CONFIG)
    push_blob(admin, repo, payload)
    body = artifact_manifest(
        artifact_type,
        subject=subject.descriptor(platform=False),
        layers=[("application/octet-stream", payload)],
        annotations={"org.example.note": note},
    )
    r = push_manifest(admin, repo, sha256(body), body, OCI_MANIFEST)
    assert r.status_code == 201, r.text
    assert r.headers["oci-subject"] == subject.digest
    return sha256(body), body


def test_referrers(admin: httpx.Client, repo: str) -> None:
    subject = small_image("subject")
    push_image(admin, repo, "v1", subject)
    sbom, sbom_body = _referrer(admin, repo, subject, SBOM, "the sbom")
    sig, sig_body = _referrer(admin, repo, subject, SIGNATURE, "the signature")

    r = admin.get(f"/v2/{repo}/referrers/{subject.digest}")
    assert r.status_code == 200
    assert r.headers["content-type"] == OCI_INDEX
    assert "oci-filters-applied" not in r.headers
    index = r.json()
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in index["manifests"]}
    assert set(by_digest) == {sbom, sig}
    assert by_digest[sbom] == {
        "mediaType": OCI_MANIFEST,
        "digest": sbom,
        "size": len(sbom_body),
        "artifactType": SBOM,
        "annotations": {"org.example.note": "the sbom"},
    }
    assert by_digest[sig]["artifactType"] == SIGNATURE
    assert by_digest[sig]["size"] == len(sig_body)
    assert by_digest[sig]["annotations"] == {"org.example.note": "the signature"}

    r = admin.get(f"/v2/{repo}/referrers/{subject.digest}", params={"artifactType": SBOM})
    assert r.status_code == 200
    assert r.headers["oci-filters-applied"] == "artifactType"
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom]


def test_referrers_of_unknown_subject_is_an_empty_index(admin: httpx.Client, repo: str) -> None:
    push_image(admin, repo, "v1", small_image("lonely"))
    unknown = sha256(b"no such manifest")
    for name in (repo, f"{repo}-never-pushed"):
        r = admin.get(f"/v2/{name}/referrers/{unknown}")
        assert r.status_code == 200
        assert r.headers["content-type"] == OCI_INDEX
        assert r.json() == {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}


def test_referrer_pushed_before_its_subject(admin: httpx.Client, repo: str) -> None:
    subject = small_image("late-subject")
    sig, _ = _referrer(admin, repo, subject, SIGNATURE, "early")
    assert admin.head(manifest_url(repo, subject.digest)).status_code == 404
    r = admin.get(f"/v2/{repo}/referrers/{subject.digest}")
    assert [m["digest"] for m in r.json()["manifests"]] == [sig]
    push_image(admin, repo, "v1", subject)
    r = admin.get(f"/v2/{repo}/referrers/{subject.digest}")
    assert [m["digest"] for m in r.json()["manifests"]] == [sig]
