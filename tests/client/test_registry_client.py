"""The registry client: content verification (VerifyingReader, a lying registry behind the
``send`` seam), credentials discovery, and bearer-token auth against the real server."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sealyard.client.registry import RegistryClient, load_docker_credentials
from sealyard.config import Limits
from sealyard.errors import (
    AuthenticationError,
    DigestMismatchError,
    NotFoundError,
    PermissionDeniedError,
    SizeLimitError,
    UntrustedDataError,
)
from sealyard.oci.digest import Digest, sha256_digest
from sealyard.oci.verify import VerifyingReader, read_verified
from sealyard.registry.app import Registry
from tests.conftest import need
from tests.fixtures.images import FileEntry, Image, build_image, build_layer, write_oci_layout
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer

CONTENT = bytes(range(256)) * 5000  # 1.28 MB: several reads
DIGEST = sha256_digest(CONTENT)

# ------------------------------------------------------------------------------ VerifyingReader


def test_verifying_reader_passes_matching_content() -> None:
    reader = VerifyingReader(io.BytesIO(CONTENT), DIGEST)
    assert reader.read() == CONTENT
    assert reader.count == len(CONTENT)
    reader.finish()  # idempotent once verified


@pytest.mark.parametrize(
    "wrong",
    [CONTENT[:-1], CONTENT + b"\0", b"x" + CONTENT[1:], b""],
    ids=["short", "long", "changed", "empty"],
)
def test_verifying_reader_rejects_wrong_content_at_the_end(wrong: bytes) -> None:
    reader = VerifyingReader(io.BytesIO(wrong), DIGEST)
    with pytest.raises(DigestMismatchError, match=DIGEST):
        reader.read()


def test_finish_drains_and_verifies_a_partly_read_stream() -> None:
    good = VerifyingReader(io.BytesIO(CONTENT), DIGEST)
    assert good.read(10) == CONTENT[:10]
    good.finish()
    bad = VerifyingReader(io.BytesIO(CONTENT[:-5] + b"12345"), DIGEST)
    assert bad.read(10) == CONTENT[:10]
    with pytest.raises(DigestMismatchError):
        bad.finish()


def test_verifying_reader_size_cap() -> None:
    reader = VerifyingReader(io.BytesIO(CONTENT), DIGEST, max_bytes=len(CONTENT) - 1)
    with pytest.raises(SizeLimitError):
        reader.read()


def test_verifying_reader_sha512() -> None:
    digest = Digest("sha512:" + hashlib.sha512(b"abc").hexdigest())
    assert VerifyingReader(io.BytesIO(b"abc"), digest).read() == b"abc"
    with pytest.raises(DigestMismatchError):
        VerifyingReader(io.BytesIO(b"abd"), digest).read()


def test_verifying_reader_closes_its_source() -> None:
    inner = io.BytesIO(CONTENT)
    with VerifyingReader(inner, DIGEST):
        pass
    assert inner.closed


def test_read_verified() -> None:
    assert read_verified(io.BytesIO(b"{}"), sha256_digest(b"{}"), 2) == b"{}"
    with pytest.raises(DigestMismatchError):
        read_verified(io.BytesIO(b"{ }"), sha256_digest(b"{}"), 10)
    with pytest.raises(SizeLimitError):
        read_verified(io.BytesIO(b"{}"), sha256_digest(b"{}"), 1)


# -------------------------------------------------------------------- a lying registry (the seam)


class LyingClient(RegistryClient):
    """Answers every request from ``responses`` (path -> body) instead of the network."""

    def __init__(self, responses: dict[str, bytes], limits: Limits | None = None) -> None:
        super().__init__("lies.example", credentials=("u", "p"), limits=limits)
        self.responses = responses
        self.sent: list[str] = []

    def send(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        content: object = None,
    ) -> httpx.Response:
        self.sent.append(f"{method} {path} {scope}")
        body = self.responses[path]
        media = {"Content-Type": "application/vnd.oci.image.manifest.v1+json; charset=utf-8"}
        response = httpx.Response(200, headers=media, stream=httpx.ByteStream(body))
        if not stream:
            response.read()
        return response


@pytest.fixture
def liar() -> Iterator[Callable[..., LyingClient]]:
    made: list[LyingClient] = []

    def make(responses: dict[str, bytes], limits: Limits | None = None) -> LyingClient:
        made.append(LyingClient(responses, limits))
        return made[-1]

    yield make
    for client in made:
        client.close()


MANIFEST = b'{"schemaVersion":2}'
MANIFEST_DIGEST = sha256_digest(MANIFEST)


def test_manifest_by_digest_is_verified(liar: Callable[..., LyingClient]) -> None:
    path = f"/v2/a/b/manifests/{MANIFEST_DIGEST}"
    honest = liar({path: MANIFEST})
    honest.send("GET", path, scope="x").read()  # the double works like the real seam
    data, media, digest = honest.get_manifest("a/b", MANIFEST_DIGEST)
    assert (data, media, digest) == (
        MANIFEST,
        "application/vnd.oci.image.manifest.v1+json",
        MANIFEST_DIGEST,
    )
    assert honest.sent[-1] == f"GET {path} repository:a/b:pull"
    with pytest.raises(DigestMismatchError):
        liar({path: MANIFEST + b" "}).get_manifest("a/b", MANIFEST_DIGEST)


def test_manifest_by_tag_is_named_by_its_bytes(liar: Callable[..., LyingClient]) -> None:
    client = liar({"/v2/a/b/manifests/v1": MANIFEST})
    assert client.get_manifest("a/b", "v1")[2] == MANIFEST_DIGEST


def test_oversized_manifest(liar: Callable[..., LyingClient]) -> None:
    client = liar({"/v2/a/manifests/v1": b" " * 100}, limits=Limits(max_manifest_bytes=99))
    with pytest.raises(UntrustedDataError, match="too large"):
        client.get_manifest("a", "v1")


def test_fetch_blob_is_verified(liar: Callable[..., LyingClient]) -> None:
    path = f"/v2/a/blobs/{DIGEST}"
    assert liar({path: CONTENT}).fetch_blob("a", DIGEST, limit=len(CONTENT)) == CONTENT
    with pytest.raises(DigestMismatchError):
        liar({path: CONTENT[::-1]}).fetch_blob("a", DIGEST, limit=len(CONTENT))
    with pytest.raises(SizeLimitError):
        liar({path: CONTENT}).fetch_blob("a", DIGEST, limit=100)


def test_open_blob_streams_and_verifies(liar: Callable[..., LyingClient]) -> None:
    path = f"/v2/a/blobs/{DIGEST}"
    with liar({path: CONTENT}).open_blob("a", DIGEST) as reader:
        assert reader.read() == CONTENT
    lying = liar({path: CONTENT[:-1] + b"!"})
    with lying.open_blob("a", DIGEST) as reader, pytest.raises(DigestMismatchError):
        reader.read()
    capped = liar({path: CONTENT}, limits=Limits(max_blob_bytes=1000))
    with capped.open_blob("a", DIGEST) as reader, pytest.raises(SizeLimitError):
        reader.read()


# --------------------------------------------------------------------------------- credentials


@pytest.fixture
def no_auth_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for var in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_docker_credentials(no_auth_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_docker_credentials("r.example") is None
    docker = no_auth_files / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(
        json.dumps({"auths": {"https://r.example": _auth("d", "p:w"), "x": {"auth": "!!"}}})
    )
    assert load_docker_credentials("r.example") == ("d", "p:w")
    assert load_docker_credentials("x") is None  # undecodable
    (docker / "config.json").write_text(
        json.dumps({"auths": {"r.example": {"auth": "bm9jb2xvbg=="}}})
    )
    assert load_docker_credentials("r.example") is None  # "nocolon": no user:password
    podman = no_auth_files / "auth.json"
    podman.write_text(json.dumps({"auths": {"r.example": _auth("p", "q")}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(podman))
    assert load_docker_credentials("r.example") == ("p", "q")  # takes precedence


def test_loopback_registries_default_to_http(no_auth_files: Path) -> None:
    for host, scheme in [
        ("127.0.0.1:5000", "http"),
        ("localhost:5000", "http"),
        ("[::1]:5000", "http"),
        ("ghcr.io", "https"),
    ]:
        client = RegistryClient(host)
        try:
            assert client.base == f"{scheme}://{host}"
        finally:
            client.close()
    forced = RegistryClient("ghcr.io", insecure=True)
    forced.close()
    assert forced.base == "http://ghcr.io"


# --------------------------------------------------------------------------- the real registry


def _push(server: SealyardServer, image: Image, tmp_path: Path, ref: str) -> None:
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    cmd = [
        need("skopeo"),
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"admin:{ADMIN_PASSWORD}",
        f"oci:{layout}:v1",
        f"docker://{server.host}/{ref}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def pushed_image(
    server: SealyardServer, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Image]:
    project = f"client{id(server) % 100000}"
    registry.accounts.create_project(project)
    image = build_image([build_layer([FileEntry("hello.txt", b"hello")])])
    _push(server, image, tmp_path_factory.mktemp("client"), f"{project}/img:v1")
    return f"{project}/img", image


@pytest.fixture
def client(server: SealyardServer, no_auth_files: Path) -> Iterator[RegistryClient]:
    c = RegistryClient(server.host, credentials=("admin", ADMIN_PASSWORD))
    yield c
    c.close()


@pytest.mark.integration
def test_bearer_token_flow(client: RegistryClient, pushed_image: tuple[str, Image]) -> None:
    repo, image = pushed_image
    data, media, digest = client.get_manifest(repo, "v1")
    assert (data, digest) == (image.manifest, image.digest)
    assert media == "application/vnd.oci.image.manifest.v1+json"
    assert list(client._tokens) == [f"repository:{repo}:pull"]  # one token, reused below
    assert client.get_manifest(repo, image.digest)[0] == image.manifest
    assert client.fetch_blob(repo, Digest(image.config_digest)) == image.config
    with client.open_blob(repo, Digest(image.layers[0].digest)) as reader:
        assert reader.read() == image.layers[0].data
    assert len(client._tokens) == 1


@pytest.mark.integration
def test_registry_errors(
    server: SealyardServer,
    client: RegistryClient,
    pushed_image: tuple[str, Image],
    make_user: Callable[..., tuple[str, str]],
) -> None:
    repo, _ = pushed_image
    with pytest.raises(NotFoundError, match="MANIFEST_UNKNOWN"):
        client.get_manifest(repo, "nope")
    with pytest.raises(NotFoundError):
        client.fetch_blob(repo, sha256_digest(b"absent"))
    for credentials in [("admin", "wrong"), None]:
        anonymous = RegistryClient(server.host, credentials=credentials)
        try:
            with pytest.raises(AuthenticationError):
                anonymous.get_manifest(repo, "v1")
        finally:
            anonymous.close()
    outsider = RegistryClient(server.host, credentials=make_user())
    try:
        with pytest.raises(PermissionDeniedError, match="DENIED"):
            outsider.get_manifest(repo, "v1")
    finally:
        outsider.close()
