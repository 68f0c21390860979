"""Hostile and broken clients: every OCI error code path, interrupted bodies, races, crashes.

Each error test checks the HTTP status, the OCI error ``code`` and that the message says what
went wrong. The ``admin`` fixture is overridden as in ``test_distribution_api.py`` (bearer
tokens issued with the server's key, to skip the per-request Argon2 check of Basic auth).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from sealyard.config import load_settings
from sealyard.db.models import Blob, Manifest, Repository, Upload
from sealyard.registry.app import Registry, open_registry
from tests.fixtures.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    FileEntry,
    Image,
    build_image,
    build_index,
    build_layer,
)
from tests.fixtures.push import (
    EMPTY_CONFIG,
    OCI_EMPTY,
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
from tests.fixtures.sealyard_server import SealyardServer, start_sealyard

pytestmark = pytest.mark.integration

Unique = Callable[[str], str]
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"


@pytest.fixture
def admin(server: SealyardServer, registry: Registry) -> Iterator[httpx.Client]:
    with registry_client(server.url, "admin", issue=token_issuer(registry, "admin")) as client:
        yield client


@pytest.fixture
def repo(project: str, unique: Unique) -> str:
    return f"{project}/{unique('r')}"


def small_image(seed: str) -> Image:
    return build_image([build_layer([FileEntry("f.txt", seed.encode())])])


def user_client(
    server: SealyardServer,
    registry: Registry,
    make_user: Callable[..., tuple[str, str]],
    project: str | None = None,
    role: str | None = None,
) -> httpx.Client:
    """A client for a new user (tokens issued in-process, scopes still checked by the server)."""
    name, _ = make_user(project, role)
    return registry_client(server.url, name, issue=token_issuer(registry, name))


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def blob_url(repo: str, digest: str) -> str:
    return f"/v2/{repo}/blobs/{digest}"


def manifest_url(repo: str, ref: str) -> str:
    return f"/v2/{repo}/manifests/{ref}"


def upload_with(client: httpx.Client, repo: str, data: bytes) -> str:
    """An upload session that has received ``data``; returns its location."""
    location = start_upload(client, repo)
    if data:
        headers = {"Content-Range": f"0-{len(data) - 1}"}
        expect(client.patch(location, content=data, headers=headers), 202)
    return location


def open_uploads(registry: Registry, repo: str) -> int:
    """Upload sessions of ``repo`` still in the database."""
    with registry.db.session() as s:
        count = s.scalar(select(func.count()).select_from(Upload).where(Upload.repository == repo))
    return int(count or 0)


def received(client: httpx.Client, location: str) -> str:
    r = expect(client.get(location), 204)
    return str(r.headers["range"])


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def open_raw_patch(
    server: SealyardServer, location: str, auth: str, start: int, length: int
) -> socket.socket:
    """Send the head of a PATCH announcing ``length`` body bytes; the caller sends the body."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (
        f"PATCH {location} HTTP/1.1\r\nHost: {server.host}\r\nAuthorization: {auth}\r\n"
        f"Content-Type: application/octet-stream\r\n"
        f"Content-Range: {start}-{start + length - 1}\r\nContent-Length: {length}\r\n\r\n"
    )
    sock.sendall(head.encode())
    return sock


def bearer(client: httpx.Client, repo: str) -> str:
    """An Authorization header value valid for ``repo`` (for raw sockets)."""
    r = expect(client.get(f"/v2/{repo}/tags/list"), 200, 404)
    return str(r.request.headers["authorization"])


def manifest_doc(**overrides: Any) -> dict[str, Any]:
    """A structurally valid OCI image manifest (its blobs need not exist)."""
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(b"config"),
            "size": 6,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": sha256(b"layer"),
                "size": 5,
            }
        ],
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


def as_bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()


# ------------------------------------------------------------------------ BLOB_UNKNOWN


def test_blob_unknown(admin: httpx.Client, repo: str) -> None:
    push_blob(admin, repo, b"something")  # the repository exists
    missing = sha256(b"never uploaded")
    assert_oci_error(admin.get(blob_url(repo, missing)), 404, "BLOB_UNKNOWN", missing)
    r = admin.head(blob_url(repo, missing))
    assert r.status_code == 404
    assert r.content == b""
    assert_oci_error(admin.delete(blob_url(repo, missing)), 404, "BLOB_UNKNOWN", missing)


def test_blob_of_another_repository_is_unknown_here(
    admin: httpx.Client, project: str, unique: Unique
) -> None:
    """Blob storage is shared, visibility is not: knowing a digest does not grant access."""
    owner, other = f"{project}/{unique('a')}", f"{project}/{unique('b')}"
    digest = push_blob(admin, owner, b"private layer of a")
    push_blob(admin, other, b"b's own")
    assert_oci_error(admin.get(blob_url(other, digest)), 404, "BLOB_UNKNOWN", digest)
    assert admin.head(blob_url(other, digest)).status_code == 404


# ----------------------------------------------------------------- BLOB_UPLOAD_INVALID


@pytest.mark.parametrize(
    ("content_range", "fragment"),
    [
        ("abc", "malformed Content-Range"),
        ("10", "malformed Content-Range"),
        ("bytes=10-x", "malformed Content-Range"),
        ("-10-19", "malformed Content-Range"),
        ("10-5", "empty"),
        ("1" * 5000 + "-" + "1" * 5000, "malformed Content-Range"),
    ],
    ids=["letters", "one-number", "bytes-x", "negative", "reversed", "huge-numbers"],
)
def test_bad_content_range(
    admin: httpx.Client, repo: str, content_range: str, fragment: str
) -> None:
    location = upload_with(admin, repo, b"0123456789")
    r = admin.patch(location, content=b"x" * 10, headers={"Content-Range": content_range})
    assert_oci_error(r, 400, "BLOB_UPLOAD_INVALID", fragment)
    assert received(admin, location) == "0-9"


@pytest.mark.parametrize("body_size", [50, 150])
def test_body_length_does_not_match_content_range(
    admin: httpx.Client, repo: str, body_size: int
) -> None:
    location = upload_with(admin, repo, b"0123456789")
    r = admin.patch(location, content=b"y" * body_size, headers={"Content-Range": "10-109"})
    assert_oci_error(r, 400, "BLOB_UPLOAD_INVALID", "100 bytes", f"{body_size} arrived")
    assert received(admin, location) == "0-9"  # nothing of the bad chunk was kept
    data = b"0123456789" + b"z" * 100
    expect(admin.patch(location, content=data[10:], headers={"Content-Range": "10-109"}), 202)
    expect(admin.put(location, params={"digest": sha256(data)}), 201)
    assert admin.get(blob_url(repo, sha256(data))).content == data


@pytest.mark.parametrize("content_range", ["20-29", "5-14", "0-9"])
def test_out_of_order_chunk_is_416_with_received_range(
    admin: httpx.Client, repo: str, content_range: str
) -> None:
    location = upload_with(admin, repo, b"0123456789")
    r = admin.patch(location, content=b"q" * 10, headers={"Content-Range": content_range})
    assert_oci_error(r, 416, "BLOB_UPLOAD_INVALID", "expected 10")
    assert r.headers["range"] == "0-9"
    assert r.headers["location"] == location
    assert received(admin, location) == "0-9"


def test_out_of_order_final_put_is_416_with_received_range(admin: httpx.Client, repo: str) -> None:
    location = upload_with(admin, repo, b"0123456789")
    r = admin.put(
        location,
        params={"digest": sha256(b"0123456789" + b"q" * 10)},
        content=b"q" * 10,
        headers={"Content-Range": "15-24"},
    )
    assert_oci_error(r, 416, "BLOB_UPLOAD_INVALID", "expected 10")
    assert r.headers["range"] == "0-9"
    assert r.headers["location"] == location


def test_descriptor_size_must_match_stored_blob(admin: httpx.Client, repo: str) -> None:
    config, layer = b"{}", b"layer-bytes"
    for blob in (config, layer):
        push_blob(admin, repo, blob)
    doc = manifest_doc(
        config={"mediaType": OCI_EMPTY, "digest": sha256(config), "size": 2},
        layers=[{"mediaType": _LAYER["mediaType"], "digest": sha256(layer), "size": 999}],
        artifactType="application/vnd.example+json",
    )
    r = admin.put(
        f"/v2/{repo}/manifests/sized",
        content=as_bytes(doc),
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert_oci_error(r, 400, "MANIFEST_INVALID", "999 bytes", "11")
    assert admin.head(f"/v2/{repo}/manifests/sized").status_code == 404


def test_truncated_chunk_keeps_nothing(
    admin: httpx.Client, server: SealyardServer, repo: str
) -> None:
    """The client announces 200 kB, sends 100 kB and closes the connection mid-body."""
    data = os.urandom(201_000)
    location = upload_with(admin, repo, data[:1000])
    log_size = server.log.stat().st_size
    sock = open_raw_patch(server, location, bearer(admin, repo), 1000, len(data) - 1000)
    try:
        sock.sendall(data[1000:101_000])
        # The server streams the body to disk as it arrives...
        assert wait_for(lambda: received(admin, location) != "0-999"), "no bytes arrived"
    finally:
        sock.close()
    # ...and rolls the upload back to the last complete chunk when the body is cut short.
    assert wait_for(lambda: received(admin, location) == "0-999"), received(admin, location)
    # The upload continues from there.
    r = admin.patch(
        location, content=data[1000:], headers={"Content-Range": f"1000-{len(data) - 1}"}
    )
    assert r.status_code == 202
    expect(admin.put(location, params={"digest": sha256(data)}), 201)
    assert admin.get(blob_url(repo, sha256(data))).content == data
    # A client hanging up is not a server error (no traceback in the server's log).
    time.sleep(0.2)
    with server.log.open("rb") as fh:
        fh.seek(log_size)
        assert b"Traceback" not in fh.read()


# ----------------------------------------------------------------- BLOB_UPLOAD_UNKNOWN


def test_upload_unknown(admin: httpx.Client, repo: str) -> None:
    push_blob(admin, repo, b"x")
    for upload_id in ("0b6a9a1e-93d4-4b8a-9f40-5d0f3a1f2c11", "not-an-upload", "..."):
        url = f"/v2/{repo}/blobs/uploads/{upload_id}"
        assert_oci_error(admin.get(url), 404, "BLOB_UPLOAD_UNKNOWN")
        assert_oci_error(admin.patch(url, content=b"data"), 404, "BLOB_UPLOAD_UNKNOWN")
        r = admin.put(url, params={"digest": sha256(b"data")}, content=b"data")
        assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
        assert_oci_error(admin.delete(url), 404, "BLOB_UPLOAD_UNKNOWN")
    assert admin.head(blob_url(repo, sha256(b"data"))).status_code == 404


def test_upload_of_another_repository_is_unknown(
    admin: httpx.Client, project: str, unique: Unique
) -> None:
    mine, other = f"{project}/{unique('a')}", f"{project}/{unique('b')}"
    location = upload_with(admin, mine, b"abc")
    push_blob(admin, other, b"x")
    stolen = location.replace(f"/v2/{mine}/", f"/v2/{other}/")
    assert_oci_error(admin.get(stolen), 404, "BLOB_UPLOAD_UNKNOWN", other)
    assert_oci_error(admin.patch(stolen, content=b"def"), 404, "BLOB_UPLOAD_UNKNOWN")
    r = admin.put(stolen, params={"digest": sha256(b"abc")})
    assert_oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN")
    assert admin.head(blob_url(other, sha256(b"abc"))).status_code == 404
    assert received(admin, location) == "0-2"  # the real session is untouched


def test_finished_upload_is_unknown(admin: httpx.Client, repo: str) -> None:
    location = upload_with(admin, repo, b"abc")
    expect(admin.put(location, params={"digest": sha256(b"abc")}), 201)
    assert_oci_error(admin.get(location), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_oci_error(admin.patch(location, content=b"more"), 404, "BLOB_UPLOAD_UNKNOWN")


# ---------------------------------------------------------------------- DIGEST_INVALID


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:abc",
        "sha256:" + "g" * 64,
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 65,
        "md5:" + "0" * 32,
        "sha256",
        "sha256:",
    ],
    ids=["short", "non-hex", "upper-case", "too-long", "md5", "no-colon", "empty-hex"],
)
def test_malformed_digest(admin: httpx.Client, registry: Registry, repo: str, digest: str) -> None:
    push_blob(admin, repo, b"x")
    assert_oci_error(admin.get(blob_url(repo, digest)), 400, "DIGEST_INVALID", "digest")
    assert_oci_error(admin.delete(blob_url(repo, digest)), 400, "DIGEST_INVALID")
    if ":" in digest:  # without a colon the reference is a (valid) tag
        assert_oci_error(admin.get(manifest_url(repo, digest)), 400, "DIGEST_INVALID")
    assert_oci_error(admin.get(f"/v2/{repo}/referrers/{digest}"), 400, "DIGEST_INVALID")
    location = upload_with(admin, repo, b"abc")
    assert_oci_error(admin.put(location, params={"digest": digest}), 400, "DIGEST_INVALID")
    assert open_uploads(registry, repo) == 1
    r = admin.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, content=b"abc")
    assert_oci_error(r, 400, "DIGEST_INVALID")
    assert open_uploads(registry, repo) == 1


def test_put_without_digest(admin: httpx.Client, repo: str) -> None:
    location = upload_with(admin, repo, b"abc")
    assert_oci_error(admin.put(location), 400, "DIGEST_INVALID", "digest")
    assert received(admin, location) == "0-2"


@pytest.mark.parametrize("mode", ["put", "single-post", "chunked"])
def test_wrong_digest_is_rejected_and_not_visible(
    admin: httpx.Client, registry: Registry, repo: str, mode: str
) -> None:
    data, claimed = os.urandom(5000), sha256(b"something else entirely")
    if mode == "single-post":
        r = admin.post(f"/v2/{repo}/blobs/uploads/", params={"digest": claimed}, content=data)
        # The client never got a Location for that session: it must not linger.
        assert open_uploads(registry, repo) == 0
    elif mode == "put":
        r = admin.put(start_upload(admin, repo), params={"digest": claimed}, content=data)
    else:
        location = upload_with(admin, repo, data)
        r = admin.put(location, params={"digest": claimed})
    assert_oci_error(r, 400, "DIGEST_INVALID", claimed, sha256(data))
    assert admin.head(blob_url(repo, claimed)).status_code == 404
    assert admin.head(blob_url(repo, sha256(data))).status_code == 404


# --------------------------------------------------------------- MANIFEST_BLOB_UNKNOWN


def test_manifest_referencing_missing_blobs(admin: httpx.Client, repo: str) -> None:
    image = small_image("missing-blobs")
    layer = image.layers[0]
    r = push_manifest(admin, repo, "v1", image.manifest, OCI_MANIFEST)
    err = assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN", "unknown")
    assert sorted(err["detail"]) == sorted([layer.digest, image.config_digest])
    push_blob(admin, repo, image.config)
    r = push_manifest(admin, repo, "v1", image.manifest, OCI_MANIFEST)
    err = assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN", layer.digest)
    assert err["detail"] == [layer.digest]
    assert_oci_error(admin.get(manifest_url(repo, "v1")), 404, "MANIFEST_UNKNOWN")
    assert_oci_error(admin.get(manifest_url(repo, image.digest)), 404, "MANIFEST_UNKNOWN")


def test_manifest_referencing_a_blob_of_another_repository(
    admin: httpx.Client, project: str, unique: Unique
) -> None:
    owner, other = f"{project}/{unique('a')}", f"{project}/{unique('b')}"
    image = small_image("other-repo")
    push_image(admin, owner, "v1", image)
    r = push_manifest(admin, other, "v1", image.manifest, OCI_MANIFEST)
    err = assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN")
    assert set(err["detail"]) == {image.layers[0].digest, image.config_digest}


def test_index_referencing_missing_manifest(admin: httpx.Client, repo: str) -> None:
    present, absent = small_image("present"), small_image("absent")
    push_image(admin, repo, None, present)
    index = build_index([present, absent])
    r = push_manifest(admin, repo, "multi", index.manifest, OCI_INDEX)
    err = assert_oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN", absent.digest)
    assert err["detail"] == [absent.digest]
    assert_oci_error(admin.get(manifest_url(repo, "multi")), 404, "MANIFEST_UNKNOWN")


# --------------------------------------------------------------------- MANIFEST_INVALID


def _nested(depth: int) -> bytes:
    return b'{"schemaVersion":2,"annotations":' + b"[" * depth + b"]" * depth + b"}"


_SCHEMA1 = as_bytes(
    {
        "schemaVersion": 1,
        "name": "library/x",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256(b"layer")}],
        "history": [{"v1Compatibility": "{}"}],
        "signatures": [],
    }
)
_LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(b"l"), "size": 1}
_EMPTY = {"mediaType": OCI_EMPTY, "digest": sha256(EMPTY_CONFIG), "size": 2}

INVALID_MANIFESTS: dict[str, tuple[bytes, str | None, str]] = {
    "not-json": (b"{this is not json", OCI_MANIFEST, "not valid JSON"),
    "not-utf8": (b'{"schemaVersion": 2, "x": "\xff\xfe"}', OCI_MANIFEST, "not valid JSON"),
    "json-array": (b"[]", OCI_MANIFEST, "JSON object"),
    "empty-body": (b"", OCI_MANIFEST, "not valid JSON"),
    "schema-version-3": (as_bytes(manifest_doc(schemaVersion=3)), OCI_MANIFEST, "schemaVersion"),
    "schema-version-string": (
        as_bytes(manifest_doc(schemaVersion="2")),
        OCI_MANIFEST,
        "schemaVersion",
    ),
    "schema-version-float": (as_bytes(manifest_doc(schemaVersion=2.0)), OCI_MANIFEST, "integer 2"),
    "schema-version-missing": (
        as_bytes(manifest_doc(schemaVersion=None)),
        OCI_MANIFEST,
        "schemaVersion",
    ),
    "content-type-mismatch": (as_bytes(manifest_doc()), DOCKER_MANIFEST, "does not match"),
    "unknown-media-type": (
        as_bytes(manifest_doc(mediaType="application/vnd.example.thing+json")),
        None,
        "unsupported manifest media type",
    ),
    "docker-without-media-type": (
        as_bytes(manifest_doc(mediaType=None)),
        DOCKER_MANIFEST,
        "mediaType",
    ),
    "missing-config": (as_bytes(manifest_doc(config=None)), OCI_MANIFEST, "config"),
    "config-not-object": (as_bytes(manifest_doc(config="sha256:x")), OCI_MANIFEST, "config"),
    "missing-layers": (as_bytes(manifest_doc(layers=None)), OCI_MANIFEST, "layers"),
    "negative-size": (as_bytes(manifest_doc(layers=[{**_LAYER, "size": -1}])), None, "size"),
    "string-size": (as_bytes(manifest_doc(layers=[{**_LAYER, "size": "1"}])), None, "size"),
    "float-size": (as_bytes(manifest_doc(layers=[{**_LAYER, "size": 1.5}])), None, "size"),
    "bool-size": (as_bytes(manifest_doc(layers=[{**_LAYER, "size": True}])), None, "size"),
    "missing-size": (
        as_bytes(manifest_doc(layers=[{k: v for k, v in _LAYER.items() if k != "size"}])),
        None,
        "size",
    ),
    "bad-layer-digest": (
        as_bytes(manifest_doc(layers=[{**_LAYER, "digest": "sha256:1234"}])),
        None,
        "layers[0]",
    ),
    "bad-layer-media-type": (
        as_bytes(manifest_doc(layers=[{**_LAYER, "mediaType": "not a media type"}])),
        None,
        "mediaType",
    ),
    "annotations-not-strings": (
        as_bytes(manifest_doc(annotations={"a": 1})),
        None,
        "annotations",
    ),
    "empty-config-without-artifact-type": (
        as_bytes(manifest_doc(config=_EMPTY)),
        OCI_MANIFEST,
        "artifactType",
    ),
    "index-with-layers": (
        as_bytes({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "layers": []}),
        OCI_INDEX,
        "index",
    ),
    "image-with-manifests": (as_bytes(manifest_doc(manifests=[])), OCI_MANIFEST, "manifests"),
    "docker-schema1-signed": (_SCHEMA1, SCHEMA1, "schema 1"),
    "docker-schema1-json": (_SCHEMA1, "application/json", "schema 1"),
    "too-deep": (_nested(100), OCI_MANIFEST, "deeper"),
    "nesting-bomb": (_nested(200_000), OCI_MANIFEST, "JSON"),
    "huge-integer": (
        b'{"schemaVersion": 2, "mediaType": "%s", "config": {"size": %s}}'
        % (OCI_MANIFEST.encode(), b"9" * 5000),
        OCI_MANIFEST,
        "JSON",
    ),
}


@pytest.mark.parametrize("case", list(INVALID_MANIFESTS))
def test_invalid_manifest(admin: httpx.Client, repo: str, case: str) -> None:
    body, content_type, fragment = INVALID_MANIFESTS[case]
    r = push_manifest(admin, repo, "bad", body, content_type)
    assert_oci_error(r, 400, "MANIFEST_INVALID", fragment)
    assert admin.head(manifest_url(repo, "bad")).status_code == 404


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_manifest_digest_in_url_must_match_body(
    admin: httpx.Client, repo: str, algorithm: str
) -> None:
    image = small_image("url-digest")
    push_image(admin, repo, None, image)
    other = hashlib.new(algorithm, b"other content").hexdigest()
    wrong = f"{algorithm}:{other}"
    r = push_manifest(admin, repo, wrong, image.manifest, OCI_MANIFEST)
    assert_oci_error(r, 400, "MANIFEST_INVALID", wrong)
    assert r.headers.get("location") is None
    assert admin.head(manifest_url(repo, wrong)).status_code == 404


@pytest.mark.parametrize(
    "tag",
    ["-leading-dash", ".dot", "a" * 129, "tag%20space"],
    ids=["leading-dash", "leading-dot", "129-chars", "space"],
)
def test_invalid_tag(admin: httpx.Client, repo: str, tag: str) -> None:
    image = small_image("tags")
    push_image(admin, repo, None, image)
    r = push_manifest(admin, repo, tag, image.manifest, OCI_MANIFEST)
    assert_oci_error(r, 400, "MANIFEST_INVALID", "invalid tag")
    assert admin.get(f"/v2/{repo}/tags/list").json()["tags"] == []


# -------------------------------------------------------------------- MANIFEST_UNKNOWN


def test_manifest_unknown(admin: httpx.Client, repo: str) -> None:
    push_image(admin, repo, "v1", small_image("known"))
    missing = sha256(b"no manifest")
    for ref in ("nope", missing):
        assert_oci_error(admin.get(manifest_url(repo, ref)), 404, "MANIFEST_UNKNOWN", ref)
        assert admin.head(manifest_url(repo, ref)).status_code == 404
        assert_oci_error(admin.delete(manifest_url(repo, ref)), 404, "MANIFEST_UNKNOWN", ref)
    never = f"{repo}-never-pushed"
    assert_oci_error(admin.get(manifest_url(never, "v1")), 404, "MANIFEST_UNKNOWN")


# ------------------------------------------------------------------------ NAME_INVALID


def _invalid_names(project: str) -> dict[str, tuple[str, str]]:
    return {
        "upper-case": (f"{project}/Alpine", "invalid repository name"),
        "dot-dot-in-component": (f"{project}/a..b", "invalid repository name"),
        "double-slash": (f"{project}//b", "invalid repository name"),
        "trailing-slash": (f"{project}/b/", "invalid repository name"),
        "leading-separator": (f"{project}/-b", "invalid repository name"),
        "no-project": ("alpine", "no project"),
        "too-long": (f"{project}/" + "a" * 260, "longer than 255"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "upper-case",
        "dot-dot-in-component",
        "double-slash",
        "trailing-slash",
        "leading-separator",
        "no-project",
        "too-long",
    ],
)
def test_name_invalid(admin: httpx.Client, anon: httpx.Client, project: str, case: str) -> None:
    name, fragment = _invalid_names(project)[case]
    digest = sha256(b"x")
    requests = [
        ("GET", f"/v2/{name}/tags/list"),
        ("GET", f"/v2/{name}/manifests/latest"),
        ("PUT", f"/v2/{name}/manifests/latest"),
        ("HEAD", f"/v2/{name}/blobs/{digest}"),
        ("POST", f"/v2/{name}/blobs/uploads/"),
        ("GET", f"/v2/{name}/referrers/{digest}"),
    ]
    for method, url in requests:
        r = admin.request(method, url)
        if method == "HEAD":
            assert r.status_code == 400, (method, url)
            continue
        assert_oci_error(r, 400, "NAME_INVALID", fragment)
    # Checked before authentication: an anonymous client learns nothing more.
    assert_oci_error(anon.get(f"/v2/{name}/tags/list"), 400, "NAME_INVALID", fragment)


def test_name_with_dot_dot_component(server: SealyardServer, project: str) -> None:
    """``..`` must reach the server verbatim (httpx would normalise it away)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", f"/v2/{project}/../{project}/tags/list")
        resp = conn.getresponse()
        body = json.loads(resp.read())
    finally:
        conn.close()
    assert resp.status == 400
    assert body["errors"][0]["code"] == "NAME_INVALID"
    assert "invalid repository name" in body["errors"][0]["message"]


# ------------------------------------------------------------------------ NAME_UNKNOWN


def test_name_unknown(admin: httpx.Client, project: str, repo: str) -> None:
    r = admin.get(f"/v2/{repo}/tags/list")
    assert_oci_error(r, 404, "NAME_UNKNOWN", repo)
    longest = f"{project}/" + "a" * (255 - len(project) - 1)
    assert len(longest) == 255
    assert_oci_error(admin.get(f"/v2/{longest}/tags/list"), 404, "NAME_UNKNOWN", longest)


# ------------------------------------------------------------------- SIZE_INVALID / 413


def test_manifest_of_4_mib_is_accepted_and_one_byte_more_is_413(
    admin: httpx.Client, repo: str
) -> None:
    image = small_image("big-manifest")
    push_image(admin, repo, None, image)
    doc = json.loads(image.manifest)
    doc["annotations"] = {"pad": ""}
    base = len(as_bytes(doc))
    doc["annotations"]["pad"] = "x" * (4 * 1024 * 1024 - base)
    body = as_bytes(doc)
    assert len(body) == 4 * 1024 * 1024
    r = push_manifest(admin, repo, "max", body, OCI_MANIFEST)
    assert r.status_code == 201, r.text[:300]
    assert admin.get(manifest_url(repo, "max")).content == body

    doc["annotations"]["pad"] += "x"
    r = push_manifest(admin, repo, "over", as_bytes(doc), OCI_MANIFEST)
    assert_oci_error(r, 413, "MANIFEST_INVALID", "4194304")
    assert admin.head(manifest_url(repo, "over")).status_code == 404


@dataclass
class Limited:
    server: SealyardServer
    registry: Registry
    client: httpx.Client
    project: str


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limited]:
    """A second server whose blobs may not exceed 1 000 000 bytes."""
    server = start_sealyard(tmp_path_factory.mktemp("limited") / "d", max_blob_bytes=1_000_000)
    reg = open_registry(load_settings(server.config, data_dir=server.data_dir), migrate=False)
    try:
        reg.accounts.create_project("lim")
        with registry_client(server.url, "admin", issue=token_issuer(reg, "admin")) as client:
            yield Limited(server, reg, client, "lim")
    finally:
        reg.close()
        server.stop()


def test_blob_over_the_limit_in_one_request(limited: Limited, unique: Unique) -> None:
    client, repo = limited.client, f"{limited.project}/{unique('r')}"
    data = os.urandom(1_000_001)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(data)}, content=data)
    assert_oci_error(r, 413, "SIZE_INVALID", "1000000")
    assert client.head(blob_url(repo, sha256(data))).status_code == 404
    assert open_uploads(limited.registry, repo) == 0
    r = client.put(start_upload(client, repo), params={"digest": sha256(data)}, content=data)
    assert_oci_error(r, 413, "SIZE_INVALID", "1000000")
    assert client.head(blob_url(repo, sha256(data))).status_code == 404


def test_blob_over_the_limit_in_chunks(limited: Limited, unique: Unique) -> None:
    client, repo = limited.client, f"{limited.project}/{unique('r')}"
    data = os.urandom(1_000_000)
    location = upload_with(client, repo, data[:600_000])
    # Announced by Content-Length: refused before reading the body.
    extra = os.urandom(400_001)
    headers = {"Content-Range": "600000-1000000"}
    r = client.patch(location, content=extra, headers=headers)
    assert_oci_error(r, 413, "SIZE_INVALID", "1000000")
    assert received(client, location) == "0-599999"
    # Streamed without a length: refused once the limit is crossed, nothing kept.
    r = client.patch(location, content=iter([extra[:200_000], extra[200_000:]]))
    assert_oci_error(r, 413, "SIZE_INVALID", "1000000")
    assert received(client, location) == "0-599999"
    # Exactly at the limit is fine.
    r = client.patch(location, content=data[600_000:], headers={"Content-Range": "600000-999999"})
    assert r.status_code == 202
    expect(client.put(location, params={"digest": sha256(data)}), 201)
    assert client.get(blob_url(repo, sha256(data))).content == data


# ----------------------------------------------------------------- UNAUTHORIZED, DENIED


def test_unauthorized(
    anon: httpx.Client, server: SealyardServer, admin: httpx.Client, repo: str
) -> None:
    image = small_image("private")
    push_image(admin, repo, "v1", image)
    r = anon.get(manifest_url(repo, "v1"))
    assert_oci_error(r, 401, "UNAUTHORIZED", "authentication required")
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="')
    assert f'scope="repository:{repo}:pull"' in challenge
    r = anon.post(f"/v2/{repo}/blobs/uploads/")
    assert_oci_error(r, 401, "UNAUTHORIZED")
    assert f'scope="repository:{repo}:pull,push"' in r.headers["www-authenticate"]
    assert anon.head(blob_url(repo, image.config_digest)).status_code == 401

    for header, fragment in [
        (basic_header("admin", "wrong-password"), "invalid username or password"),
        (basic_header("nobody-at-all", "whatever"), "invalid username or password"),
        ("Basic !!!not-base64!!!", "malformed"),
        ("Bearer not.a.token", "invalid token"),
        ("Digest username=admin", "unsupported authorization scheme"),
    ]:
        r = anon.get(manifest_url(repo, "v1"), headers={"Authorization": header})
        assert_oci_error(r, 401, "UNAUTHORIZED", fragment)
        assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_denied(
    admin: httpx.Client,
    server: SealyardServer,
    registry: Registry,
    repo: str,
    project: str,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    image = small_image("denied")
    digest = push_image(admin, repo, "v1", image)
    with user_client(server, registry, make_user, project, "guest") as guest:
        assert guest.get(manifest_url(repo, "v1")).content == image.manifest
        assert_oci_error(guest.post(f"/v2/{repo}/blobs/uploads/"), 403, "DENIED", "push")
        r = push_manifest(guest, repo, "v2", image.manifest, OCI_MANIFEST)
        assert_oci_error(r, 403, "DENIED", "push")
    with user_client(server, registry, make_user, project, "developer") as developer:
        push_blob(developer, repo, b"developers may push")
        assert_oci_error(developer.delete(manifest_url(repo, digest)), 403, "DENIED", "delete")
        r = developer.delete(blob_url(repo, image.config_digest))
        assert_oci_error(r, 403, "DENIED", "delete")
    with user_client(server, registry, make_user) as outsider:
        assert_oci_error(outsider.get(manifest_url(repo, "v1")), 403, "DENIED", "pull")
        assert_oci_error(outsider.get(f"/v2/{repo}/tags/list"), 403, "DENIED")
        r = outsider.get(blob_url(repo, image.config_digest))
        assert_oci_error(r, 403, "DENIED")
    assert admin.get(manifest_url(repo, "v1")).content == image.manifest
    assert admin.get(f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]


def test_mount_from_unreadable_repository_is_a_plain_upload(
    admin: httpx.Client,
    server: SealyardServer,
    registry: Registry,
    project: str,
    unique: Unique,
    make_user: Callable[..., tuple[str, str]],
) -> None:
    secret_project = unique("p")
    registry.accounts.create_project(secret_project)
    secret_repo, target = f"{secret_project}/secret", f"{project}/{unique('r')}"
    data = os.urandom(1000)
    digest = push_blob(admin, secret_repo, data)
    with user_client(server, registry, make_user, project, "developer") as developer:
        r = developer.post(
            f"/v2/{target}/blobs/uploads/", params={"mount": digest, "from": secret_repo}
        )
        assert r.status_code == 202
        assert r.headers["location"].startswith(f"/v2/{target}/blobs/uploads/")
        assert developer.head(blob_url(target, digest)).status_code == 404
    assert admin.head(blob_url(target, digest)).status_code == 404


# ------------------------------------------------------------------------- UNSUPPORTED


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "manifests/latest"),
        ("PATCH", "manifests/latest"),
        ("PUT", "blobs/{digest}"),
        ("POST", "blobs/{digest}"),
        ("GET", "blobs/uploads/"),
        ("DELETE", "tags/list"),
        ("PUT", "referrers/{digest}"),
    ],
)
def test_method_not_allowed(admin: httpx.Client, repo: str, method: str, path: str) -> None:
    push_blob(admin, repo, b"x")
    url = f"/v2/{repo}/" + path.format(digest=sha256(b"x"))
    r = admin.request(method, url, content=b"{}")
    assert_oci_error(r, 405, "UNSUPPORTED", method)


def test_catalog_method_and_bad_pagination(admin: httpx.Client, repo: str) -> None:
    assert_oci_error(admin.post("/v2/_catalog"), 405, "UNSUPPORTED", "not allowed")
    push_image(admin, repo, "v1", small_image("pages"))
    for value in ("-1", "abc", "1.5", "\u00b2", "9" * 5000):
        r = admin.get(f"/v2/{repo}/tags/list", params={"n": value})
        assert_oci_error(r, 400, "UNSUPPORTED", "n must be a non-negative integer")
        r = admin.get("/v2/_catalog", params={"n": value})
        assert_oci_error(r, 400, "UNSUPPORTED", "n must be a non-negative integer")


# ------------------------------------------------------------------------------ races


def test_concurrent_pushes_of_the_same_blob(
    server: SealyardServer, registry: Registry, repo: str
) -> None:
    data = os.urandom(256 * 1024)
    issue = token_issuer(registry, "admin")
    barrier = threading.Barrier(8)
    results: list[str] = []
    errors: list[BaseException] = []

    def push(i: int) -> None:
        try:
            with registry_client(server.url, "admin", issue=issue) as client:
                location = start_upload(client, repo)  # token fetched before the race
                barrier.wait(timeout=10)
                if i % 2:
                    r = client.put(location, params={"digest": sha256(data)}, content=data)
                    results.append(expect(r, 201).headers["docker-content-digest"])
                else:
                    expect(client.delete(location), 204)
                    results.append(push_blob(client, repo, data, mode="chunked", chunk=32768))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert results == [sha256(data)] * 8
    with registry_client(server.url, "admin", issue=issue) as client:
        r = client.get(blob_url(repo, sha256(data)))
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == sha256(data).split(":")[1]
    with registry.db.session() as s:
        assert (
            s.scalar(select(func.count()).select_from(Blob).where(Blob.digest == sha256(data))) == 1
        )
    assert open_uploads(registry, repo) == 0  # every session was consumed or cancelled
    stored = registry.store.blobs.stat(sha256(data))  # type: ignore[arg-type]
    assert stored is not None
    assert stored.size == len(data)


def test_concurrent_pushes_of_the_same_manifest(
    server: SealyardServer, registry: Registry, admin: httpx.Client, repo: str
) -> None:
    """CI jobs racing to push one image: every push succeeds (no 500 from a unique key)."""
    image = small_image("race")
    for layer in image.layers:
        push_blob(admin, repo, layer.data)
    push_blob(admin, repo, image.config)
    issue = token_issuer(registry, "admin")
    barrier = threading.Barrier(8)
    statuses: dict[int, int] = {}
    errors: list[BaseException] = []
    tags = {i: "latest" if i % 2 else f"job{i}" for i in range(8)}

    def push(i: int) -> None:
        try:
            with registry_client(server.url, "admin", issue=issue) as client:
                expect(client.get(f"/v2/{repo}/tags/list"), 200)  # token fetched before the race
                barrier.wait(timeout=10)
                r = push_manifest(client, repo, tags[i], image.manifest, OCI_MANIFEST)
                statuses[i] = r.status_code
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert statuses == dict.fromkeys(range(8), 201)
    assert admin.get(f"/v2/{repo}/tags/list").json()["tags"] == sorted(set(tags.values()))
    for tag in set(tags.values()):
        assert admin.get(manifest_url(repo, tag)).content == image.manifest
    with registry.db.session() as s:
        count = s.scalar(
            select(func.count())
            .select_from(Manifest)
            .join(Repository, Repository.id == Manifest.repository_id)
            .where(Repository.name == repo, Manifest.digest == image.digest)
        )
    assert count == 1


# ------------------------------------------------------------------------------ crash


def test_kill_9_during_upload(tmp_path: Path) -> None:
    """SIGKILL while a chunk streams in: committed content survives intact, nothing else shows."""
    data_dir = tmp_path / "data"
    first = start_sealyard(data_dir)
    reg = open_registry(load_settings(first.config, data_dir=data_dir), migrate=False)
    second: SealyardServer | None = None
    try:
        reg.accounts.create_project("crash")
        repo = "crash/app"
        issue = token_issuer(reg, "admin")
        acked, interrupted = os.urandom(300_000), os.urandom(4_000_000)
        image = small_image("survivor")
        with registry_client(first.url, "admin", issue=issue) as client:
            assert push_blob(client, repo, acked, mode="chunked") == sha256(acked)
            push_image(client, repo, "v1", image)
            location = upload_with(client, repo, interrupted[:1_000_000])
            sock = open_raw_patch(
                first, location, bearer(client, repo), 1_000_000, len(interrupted) - 1_000_000
            )
            try:
                sock.sendall(interrupted[1_000_000:3_000_000])
                assert wait_for(lambda: received(client, location) != "0-999999")
                first.kill()
            finally:
                sock.close()
        assert first.process.returncode == -9

        second = start_sealyard(data_dir)
        with registry_client(second.url, "admin", issue=issue) as client:
            r = client.get(blob_url(repo, sha256(acked)))
            assert r.status_code == 200
            assert r.content == acked
            for ref in ("v1", image.digest):
                r = client.get(manifest_url(repo, ref))
                assert r.status_code == 200
                assert r.content == image.manifest
                assert r.headers["content-type"] == OCI_MANIFEST
            assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]
            assert client.get(blob_url(repo, image.layers[0].digest)).content == (
                image.layers[0].data
            )
            assert client.head(blob_url(repo, sha256(interrupted))).status_code == 404
            # The half-written session cannot be passed off as the whole blob...
            r = client.put(location, params={"digest": sha256(interrupted)})
            assert_oci_error(r, 400, "DIGEST_INVALID", sha256(interrupted))
            assert client.head(blob_url(repo, sha256(interrupted))).status_code == 404
            # ...and a fresh upload of it works.
            assert push_blob(client, repo, interrupted, mode="post-put") == sha256(interrupted)
            assert client.get(blob_url(repo, sha256(interrupted))).content == interrupted
    finally:
        reg.close()
        first.kill()
        if second is not None:
            second.stop()
