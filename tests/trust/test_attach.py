"""Attestations as OCI 1.1 referrers: the manifest layout, a lying registry behind the client's
seam, and the real thing — skopeo-pushed images on the Sealyard server (referrers API) and on
CNCF distribution 2.8 (no referrers API: the referrers tag schema)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from securesystemslib.signer import CryptoSigner, Key, Signer

from sealyard.client.registry import RegistryClient
from sealyard.errors import (
    DigestMismatchError,
    InvalidReferenceError,
    ManifestInvalidError,
    SizeLimitError,
    UsageError,
    VerificationError,
)
from sealyard.oci import mediatypes as mt
from sealyard.oci.digest import Digest, sha256_digest
from sealyard.oci.manifest import Descriptor, parse_manifest
from sealyard.registry.app import Registry
from sealyard.trust.attach import (
    CREATED_ANNOTATION,
    PREDICATE_TYPE_ANNOTATION,
    STAGE_ANNOTATION,
    attach,
    fetch_attestations,
    referrer_manifest,
    referrers_tag,
    resolve,
)
from sealyard.trust.bundle import BUNDLE_MEDIA_TYPE, Bundle, sign_statement, verify_attestation
from sealyard.trust.predicates import APPROVAL_V1, SLSA_PROVENANCE_V1, Approval, Provenance
from sealyard.trust.statement import image_statement
from tests.conftest import need
from tests.fixtures.distribution import DistributionServer, find_docker_registry, start_distribution
from tests.fixtures.images import FileEntry, Image, build_image, build_layer, write_oci_layout
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer

CREATED = datetime(2024, 3, 8, 18, 18, 20, tzinfo=UTC)


def trust(*signers: Signer) -> dict[str, Key]:
    return {s.public_key.keyid: s.public_key for s in signers}


@pytest.fixture(scope="module")
def alice() -> CryptoSigner:
    return CryptoSigner.generate_ed25519()


@pytest.fixture(scope="module")
def bob() -> CryptoSigner:
    return CryptoSigner.generate_ecdsa()


def provenance_bundle(repository: str, digest: str, signer: Signer) -> Bundle:
    predicate = Provenance(
        build_type="https://sealyard.dev/buildtypes/test/v1",
        external_parameters={"repository": repository},
        builder_id="https://ci.example.com/builder",
        finished_on=CREATED,
    )
    statement = image_statement(repository, digest, SLSA_PROVENANCE_V1, predicate.to_dict())
    return sign_statement(statement, [signer])


def approval_bundle(repository: str, digest: str, signer: Signer, stage: str = "qa") -> Bundle:
    predicate = Approval(stage=stage, approver="bob", approved_at=CREATED)
    statement = image_statement(repository, digest, APPROVAL_V1, predicate.to_dict())
    return sign_statement(statement, [signer])


# ------------------------------------------------------------------------------- pure parts


@pytest.mark.parametrize(
    ("digest", "tag"),
    [  # the distribution spec's table ("Referrers Tag Schema")
        ("sha256:" + "a" * 64, "sha256-" + "a" * 64),
        ("sha512:" + "a" * 128, "sha512-" + "a" * 64),
        (
            "test+algorithm+using+algorithm+separators+and+lots+of+characters+to+excercise+"
            "overall+truncation:alsoSome=InTheEncodedSectionToShowHyphenReplacementAndLotsAnd"
            "LotsOfCharactersToExcerciseEncodedTruncation",
            "test-algorithm-using-algorithm-s-alsoSome-InTheEncodedSectionToShowHyphen"
            "ReplacementAndLotsAndLot",
        ),
    ],
)
def test_referrers_tag(digest: str, tag: str) -> None:
    assert referrers_tag(digest) == tag


def test_referrer_manifest_layout(alice: CryptoSigner) -> None:
    subject = Descriptor(mt.OCI_MANIFEST, sha256_digest(b"image"), 5)
    bundle = provenance_bundle("library/app", subject.digest, alice).to_json()
    raw = referrer_manifest(bundle, subject, {STAGE_ANNOTATION: "build"})
    parsed = parse_manifest(raw, mt.OCI_MANIFEST)
    assert parsed.artifact_type == BUNDLE_MEDIA_TYPE
    assert parsed.referrer_artifact_type == BUNDLE_MEDIA_TYPE
    assert parsed.subject == subject
    assert parsed.config is not None
    assert (parsed.config.media_type, parsed.config.digest) == (mt.OCI_EMPTY, sha256_digest(b"{}"))
    assert [(x.media_type, x.digest, x.size) for x in parsed.layers] == [
        (BUNDLE_MEDIA_TYPE, sha256_digest(bundle), len(bundle))
    ]
    title = parsed.layers[0].annotations["org.opencontainers.image.title"]
    assert title == f"sha256-{sha256_digest(bundle)[7:]}.sigstore.json"
    assert parsed.annotations == {STAGE_ANNOTATION: "build"}


# ------------------------------------------------------------------ a lying registry (the seam)


class FakeRegistry(RegistryClient):
    """Serves ``routes`` ((method, path without query) -> (status, headers, body)) through the
    client's one network seam; the client's own checks run on top."""

    def __init__(self) -> None:
        super().__init__("fake.example", credentials=("u", "p"))
        self.routes: dict[tuple[str, str], tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []

    def send(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        self.requests.append(f"{method} {path}")
        status, response_headers, body = self.routes.get(
            (method, path.split("?", 1)[0]), (404, {}, b'{"errors":[{"code":"NOT_FOUND"}]}')
        )
        response = httpx.Response(status, headers=response_headers, content=body)
        if status >= 400:
            self._raise(response, f"{method} {path}")
        return response

    def serve_manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> None:
        self.routes[("GET", f"/v2/{repo}/manifests/{reference}")] = (
            200,
            {"Content-Type": media_type},
            body,
        )

    def serve_blob(self, repo: str, digest: str, body: bytes) -> None:
        self.routes[("GET", f"/v2/{repo}/blobs/{digest}")] = (200, {}, body)


REPO = "library/app"
IMAGE_DIGEST = sha256_digest(b"image manifest")


def _index(*entries: dict[str, Any]) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": list(entries)}
    return json.dumps(doc).encode()


def _entry(manifest: bytes, artifact_type: str = BUNDLE_MEDIA_TYPE) -> dict[str, Any]:
    return {
        "mediaType": mt.OCI_MANIFEST,
        "digest": sha256_digest(manifest),
        "size": len(manifest),
        "artifactType": artifact_type,
    }


@pytest.fixture
def fake(alice: CryptoSigner) -> Iterator[tuple[FakeRegistry, bytes, bytes]]:
    """A registry with one honest referrer: returns (client, referrer manifest, bundle)."""
    client = FakeRegistry()
    bundle = provenance_bundle(REPO, IMAGE_DIGEST, alice).to_json()
    subject = Descriptor(mt.OCI_MANIFEST, IMAGE_DIGEST, 14)
    manifest = referrer_manifest(bundle, subject, {STAGE_ANNOTATION: "build"})
    client.routes[("GET", f"/v2/{REPO}/referrers/{IMAGE_DIGEST}")] = (
        200,
        {"Content-Type": mt.OCI_INDEX},
        _index(_entry(manifest)),
    )
    client.serve_manifest(REPO, sha256_digest(manifest), manifest, mt.OCI_MANIFEST)
    client.serve_blob(REPO, sha256_digest(bundle), bundle)
    yield client, manifest, bundle
    client.close()


def test_fetch_from_an_honest_registry(
    fake: tuple[FakeRegistry, bytes, bytes], alice: CryptoSigner
) -> None:
    client, manifest, bundle = fake
    [found] = fetch_attestations(client, REPO, IMAGE_DIGEST)
    assert found.bundle == bundle
    assert found.descriptor.digest == sha256_digest(manifest)
    assert found.descriptor.annotations == {STAGE_ANNOTATION: "build"}
    query = "artifactType=application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"
    assert f"GET /v2/{REPO}/referrers/{IMAGE_DIGEST}?{query}" in client.requests
    assert (
        verify_attestation(
            found.bundle, trust(alice), repository=REPO, manifest_digest=IMAGE_DIGEST
        ).stage
        == "build"
    )


def test_a_blob_that_does_not_match_its_digest_is_rejected(
    fake: tuple[FakeRegistry, bytes, bytes],
) -> None:
    client, _, bundle = fake
    client.serve_blob(REPO, sha256_digest(bundle), bundle.replace(b"tlogEntries", b"tlogEntriez"))
    with pytest.raises(DigestMismatchError):
        fetch_attestations(client, REPO, IMAGE_DIGEST)


def test_a_manifest_that_does_not_match_its_digest_is_rejected(
    fake: tuple[FakeRegistry, bytes, bytes],
) -> None:
    client, manifest, _ = fake
    client.serve_manifest(REPO, sha256_digest(manifest), manifest + b" ", mt.OCI_MANIFEST)
    with pytest.raises(DigestMismatchError):
        fetch_attestations(client, REPO, IMAGE_DIGEST)


def _replace_referrer(client: FakeRegistry, manifest: bytes) -> None:
    client.routes[("GET", f"/v2/{REPO}/referrers/{IMAGE_DIGEST}")] = (
        200,
        {"Content-Type": mt.OCI_INDEX},
        _index(_entry(manifest)),
    )
    client.serve_manifest(REPO, sha256_digest(manifest), manifest, mt.OCI_MANIFEST)


def test_a_referrer_about_another_image_is_rejected(
    fake: tuple[FakeRegistry, bytes, bytes],
) -> None:
    client, _, bundle = fake
    other = Descriptor(mt.OCI_MANIFEST, sha256_digest(b"another image"), 13)
    _replace_referrer(client, referrer_manifest(bundle, other, {}))
    with pytest.raises(ManifestInvalidError, match="not about"):
        fetch_attestations(client, REPO, IMAGE_DIGEST)


def test_a_referrer_with_two_layers_is_rejected(fake: tuple[FakeRegistry, bytes, bytes]) -> None:
    client, manifest, _ = fake
    doc = json.loads(manifest)
    doc["layers"] = doc["layers"] * 2
    _replace_referrer(client, json.dumps(doc).encode())
    with pytest.raises(ManifestInvalidError, match="exactly one"):
        fetch_attestations(client, REPO, IMAGE_DIGEST)


def test_a_descriptor_with_the_wrong_size_is_rejected(
    fake: tuple[FakeRegistry, bytes, bytes],
) -> None:
    client, manifest, _ = fake
    entry = _entry(manifest) | {"size": len(manifest) + 1}
    client.routes[("GET", f"/v2/{REPO}/referrers/{IMAGE_DIGEST}")] = (
        200,
        {"Content-Type": mt.OCI_INDEX},
        _index(entry),
    )
    with pytest.raises(ManifestInvalidError, match="bytes"):
        fetch_attestations(client, REPO, IMAGE_DIGEST)


def test_other_artifact_types_are_skipped_and_limits_apply(
    fake: tuple[FakeRegistry, bytes, bytes],
) -> None:
    client, manifest, _ = fake
    sbom = _entry(b"{}", "application/vnd.cyclonedx+json")
    client.routes[("GET", f"/v2/{REPO}/referrers/{IMAGE_DIGEST}")] = (
        200,
        {"Content-Type": mt.OCI_INDEX},
        _index(sbom, _entry(manifest), _entry(manifest)),
    )
    assert len(fetch_attestations(client, REPO, IMAGE_DIGEST)) == 1  # duplicates collapse
    other = _entry(manifest) | {"digest": sha256_digest(b"x")}
    client.routes[("GET", f"/v2/{REPO}/referrers/{IMAGE_DIGEST}")] = (
        200,
        {"Content-Type": mt.OCI_INDEX},
        _index(_entry(manifest), other),
    )
    with pytest.raises(SizeLimitError):
        fetch_attestations(client, REPO, IMAGE_DIGEST, max_referrers=1)


def test_garbage_referrers_lists(fake: tuple[FakeRegistry, bytes, bytes]) -> None:
    client, _, _ = fake
    route = ("GET", f"/v2/{REPO}/referrers/{IMAGE_DIGEST}")
    for body in [b"nope", b"[]", b'{"schemaVersion":2,"manifests":"x"}', b'{"schemaVersion":1}']:
        client.routes[route] = (200, {"Content-Type": mt.OCI_INDEX}, body)
        with pytest.raises(ManifestInvalidError):
            fetch_attestations(client, REPO, IMAGE_DIGEST)


def test_pagination_is_followed(
    fake: tuple[FakeRegistry, bytes, bytes], alice: CryptoSigner
) -> None:
    client, manifest, _ = fake
    second_bundle = approval_bundle(REPO, IMAGE_DIGEST, alice).to_json()
    subject = Descriptor(mt.OCI_MANIFEST, IMAGE_DIGEST, 14)
    second = referrer_manifest(second_bundle, subject, {})
    client.serve_manifest(REPO, sha256_digest(second), second, mt.OCI_MANIFEST)
    client.serve_blob(REPO, sha256_digest(second_bundle), second_bundle)
    next_path = f"/v2/{REPO}/referrers/{IMAGE_DIGEST}/page2"
    client.routes[("GET", f"/v2/{REPO}/referrers/{IMAGE_DIGEST}")] = (
        200,
        {"Content-Type": mt.OCI_INDEX, "Link": f'<{next_path}?n=1>; rel="next"'},
        _index(_entry(manifest)),
    )
    client.routes[("GET", next_path)] = (
        200,
        {"Content-Type": mt.OCI_INDEX},
        _index(_entry(second)),
    )
    found = fetch_attestations(client, REPO, IMAGE_DIGEST)
    assert [f.bundle for f in found][1] == second_bundle
    assert len(found) == 2


def test_referrers_that_are_gone_are_skipped(fake: tuple[FakeRegistry, bytes, bytes]) -> None:
    client, manifest, bundle = fake
    gone = _entry(b'{"gone":true}')
    client.routes[("GET", f"/v2/{REPO}/referrers/{IMAGE_DIGEST}")] = (
        200,
        {"Content-Type": mt.OCI_INDEX},
        _index(gone, _entry(manifest)),
    )
    assert [f.bundle for f in fetch_attestations(client, REPO, IMAGE_DIGEST)] == [bundle]
    del client.routes[("GET", f"/v2/{REPO}/blobs/{sha256_digest(bundle)}")]
    assert fetch_attestations(client, REPO, IMAGE_DIGEST) == []


def test_tag_schema_fallback_when_the_api_is_missing(
    fake: tuple[FakeRegistry, bytes, bytes],
) -> None:
    client, manifest, bundle = fake
    del client.routes[("GET", f"/v2/{REPO}/referrers/{IMAGE_DIGEST}")]
    assert fetch_attestations(client, REPO, IMAGE_DIGEST) == []  # neither API nor tag
    tag = referrers_tag(IMAGE_DIGEST)
    client.serve_manifest(REPO, tag, _index(_entry(manifest)), mt.OCI_INDEX)
    [found] = fetch_attestations(client, REPO, IMAGE_DIGEST)
    assert found.bundle == bundle
    assert f"GET /v2/{REPO}/manifests/{tag}" in client.requests
    # a tag holding something other than an index is an error, not silence
    client.serve_manifest(REPO, tag, manifest, mt.OCI_MANIFEST)
    with pytest.raises(ManifestInvalidError, match="not an OCI image index"):
        fetch_attestations(client, REPO, IMAGE_DIGEST)


# ---------------------------------------------------------------------- real registries


def skopeo_push(image: Image, tmp_path: Path, dest: str, *creds: str) -> None:
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    cmd = [need("skopeo"), "--insecure-policy", "copy", "--dest-tls-verify=false", *creds]
    result = subprocess.run(
        [*cmd, f"oci:{layout}:v1", f"docker://{dest}"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture
def no_auth_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))


def _image(text: str) -> Image:
    return build_image([build_layer([FileEntry("hello.txt", text.encode())])])


@pytest.fixture
def sealyard_client(server: SealyardServer, no_auth_files: None) -> Iterator[RegistryClient]:
    client = RegistryClient(server.host, credentials=("admin", ADMIN_PASSWORD))
    yield client
    client.close()


@pytest.mark.integration
def test_attach_and_fetch_on_sealyard(
    server: SealyardServer,
    registry: Registry,
    project: str,
    tmp_path: Path,
    sealyard_client: RegistryClient,
    alice: CryptoSigner,
    bob: CryptoSigner,
) -> None:
    repo = f"{project}/app"
    image = _image("sealyard")
    skopeo_push(
        image, tmp_path, f"{server.host}/{repo}:v1", "--dest-creds", f"admin:{ADMIN_PASSWORD}"
    )
    client = sealyard_client
    digest = resolve(client, f"{server.host}/{repo}:v1")
    assert digest == image.digest
    assert resolve(client, f"{server.host}/{repo}@{digest}") == digest

    build = provenance_bundle(repo, digest, alice)
    qa = approval_bundle(repo, digest, bob)
    first = attach(client, repo, digest, build, created=CREATED)
    second = attach(client, repo, digest, qa.to_json())
    assert not first.used_tag_fallback
    assert not second.used_tag_fallback
    assert first.descriptor.annotations[STAGE_ANNOTATION] == "build"
    assert first.descriptor.annotations[CREATED_ANNOTATION] == "2024-03-08T18:18:20Z"
    assert second.descriptor.annotations[STAGE_ANNOTATION] == "qa"
    assert second.descriptor.annotations[PREDICATE_TYPE_ANNOTATION] == APPROVAL_V1

    # the registry's referrers API lists both, with their artifactType and annotations
    listed = client.get_referrers(repo, digest, BUNDLE_MEDIA_TYPE)
    assert listed is not None
    assert listed.filtered
    entries = json.loads(listed.pages[0])["manifests"]
    assert {e["digest"] for e in entries} == {first.descriptor.digest, second.descriptor.digest}
    assert {e["artifactType"] for e in entries} == {BUNDLE_MEDIA_TYPE}
    # no referrers tag was written: the registry processed the subject
    assert "sha256-" not in json.dumps(registry.store.list_tags(repo, None, None))

    found = fetch_attestations(client, repo, digest)
    assert [f.bundle for f in found] == [build.to_json(), qa.to_json()]
    verified = [
        verify_attestation(f.bundle, trust(alice, bob), repository=repo, manifest_digest=digest)
        for f in found
    ]
    assert [(v.stage, set(v.signers)) for v in verified] == [
        ("build", {alice.public_key.keyid}),
        ("qa", {bob.public_key.keyid}),
    ]

    # attaching the same attestation again adds nothing
    again = attach(client, repo, digest, build, created=CREATED)
    assert again.descriptor.digest == first.descriptor.digest
    assert len(fetch_attestations(client, repo, digest)) == 2

    # a bundle is never attached to an image it is not about, nor under another stage
    with pytest.raises(UsageError, match="refusing"):
        attach(client, f"{project}/other", digest, build)
    with pytest.raises(UsageError, match="stage"):
        attach(client, repo, digest, qa, stage="prod")
    with pytest.raises(UsageError, match="stage"):
        attach(client, repo, digest, qa, stage="Not A Stage")
    invalid = image_statement(repo, digest, APPROVAL_V1, {"stage": "qa"})  # no approver
    with pytest.raises(UsageError, match="invalid predicate"):
        attach(client, repo, digest, sign_statement(invalid, [bob]))
    custom = image_statement(repo, digest, "https://example.com/custom/v1", {"any": "thing"})
    assert (
        STAGE_ANNOTATION
        not in attach(
            client, repo, digest, sign_statement(custom, [bob]), created=CREATED
        ).descriptor.annotations
    )

    # the same image in another repository has no attestations, and a copied bundle is
    # rejected there by verification
    other = f"{project}/copy"
    skopeo_push(
        image,
        tmp_path / "2",
        f"{server.host}/{other}:v1",
        "--dest-creds",
        f"admin:{ADMIN_PASSWORD}",
    )
    assert fetch_attestations(client, other, digest) == []
    with pytest.raises(VerificationError, match="not about"):
        verify_attestation(found[0].bundle, trust(alice), repository=other, manifest_digest=digest)


@pytest.mark.integration
def test_resolve_misuse(server: SealyardServer, sealyard_client: RegistryClient) -> None:
    with pytest.raises(UsageError, match=r"on registry ghcr\.io"):
        resolve(sealyard_client, "ghcr.io/library/app:v1")
    with pytest.raises(InvalidReferenceError):
        resolve(sealyard_client, f"{server.host}/Bad Name:v1")


DOCKER_REGISTRY = find_docker_registry()
needs_distribution = pytest.mark.skipif(
    DOCKER_REGISTRY is None, reason="docker-registry (CNCF distribution 2.8) is not installed"
)


@pytest.fixture
def distribution(tmp_path: Path) -> Iterator[DistributionServer]:
    with start_distribution(tmp_path / "distribution") as server:
        yield server


@pytest.fixture
def distribution_client(
    distribution: DistributionServer, no_auth_files: None
) -> Iterator[RegistryClient]:
    client = RegistryClient(distribution.host)
    yield client
    client.close()


def _blob_file(distribution: DistributionServer, digest: str) -> Path:
    hex_ = digest.split(":", 1)[1]
    return (
        distribution.root
        / "docker"
        / "registry"
        / "v2"
        / "blobs"
        / "sha256"
        / hex_[:2]
        / hex_
        / "data"
    )


@pytest.mark.integration
@needs_distribution
def test_tag_schema_fallback_on_distribution(
    distribution: DistributionServer,
    distribution_client: RegistryClient,
    tmp_path: Path,
    alice: CryptoSigner,
    bob: CryptoSigner,
) -> None:
    repo = "library/app"
    image = _image("distribution")
    skopeo_push(image, tmp_path, f"{distribution.host}/{repo}:v1")
    client = distribution_client
    digest = resolve(client, f"{distribution.host}/{repo}:v1")
    assert digest == image.digest
    assert client.get_referrers(repo, digest) is None  # no referrers API in 2.8

    build = provenance_bundle(repo, digest, alice)
    qa = approval_bundle(repo, digest, bob)
    first = attach(client, repo, digest, build, created=CREATED)
    second = attach(client, repo, digest, qa, created=CREATED)
    assert first.used_tag_fallback
    assert second.used_tag_fallback

    # the pusher-maintained index under the referrers tag lists both, with annotations
    data, media_type, _ = client.get_manifest(repo, referrers_tag(digest))
    assert media_type == mt.OCI_INDEX
    entries = json.loads(data)["manifests"]
    assert [e["digest"] for e in entries] == [first.descriptor.digest, second.descriptor.digest]
    assert [e["artifactType"] for e in entries] == [BUNDLE_MEDIA_TYPE] * 2
    assert [e["annotations"][STAGE_ANNOTATION] for e in entries] == ["build", "qa"]

    found = fetch_attestations(client, repo, digest)
    assert [f.bundle for f in found] == [build.to_json(), qa.to_json()]
    stages = [
        verify_attestation(
            f.bundle, trust(alice, bob), repository=repo, manifest_digest=digest
        ).stage
        for f in found
    ]
    assert stages == ["build", "qa"]

    # re-attaching does not duplicate the entry
    attach(client, repo, digest, build, created=CREATED)
    data, _, _ = client.get_manifest(repo, referrers_tag(digest))
    assert len(json.loads(data)["manifests"]) == 2

    # the registry's disk now returns a bundle that does not match its digest
    blob = _blob_file(distribution, sha256_digest(qa.to_json()))
    original = blob.read_bytes()
    blob.write_bytes(original.replace(b'"payloadType"', b'"payloadTyp3"'))
    assert blob.read_bytes() != original
    with pytest.raises(DigestMismatchError):
        fetch_attestations(client, repo, digest)


@pytest.mark.integration
@needs_distribution
def test_a_foreign_referrers_tag_is_not_overwritten(
    distribution: DistributionServer,
    distribution_client: RegistryClient,
    tmp_path: Path,
    alice: CryptoSigner,
) -> None:
    repo = "library/squatted"
    image = _image("squatted")
    skopeo_push(image, tmp_path, f"{distribution.host}/{repo}:v1")
    # someone tagged an image (not an index) with the referrers tag
    skopeo_push(
        _image("other"), tmp_path / "2", f"{distribution.host}/{repo}:{referrers_tag(image.digest)}"
    )
    before, _, _ = distribution_client.get_manifest(repo, referrers_tag(image.digest))
    with pytest.raises(ManifestInvalidError, match="referrers index"):
        attach(
            distribution_client, repo, image.digest, provenance_bundle(repo, image.digest, alice)
        )
    after, _, _ = distribution_client.get_manifest(repo, referrers_tag(image.digest))
    assert after == before
    with pytest.raises(ManifestInvalidError):
        fetch_attestations(distribution_client, repo, Digest(image.digest))
