"""Manifest parsing: schema checks, media-type resolution, limits and what is referenced."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from sealyard.errors import ManifestInvalidError, SizeLimitError
from sealyard.oci import mediatypes as mt
from sealyard.oci.manifest import parse_manifest
from tests.fixtures.images import (
    FileEntry,
    build_image,
    build_index,
    build_layer,
    docker_manifest_list,
    to_docker_schema2,
)

LAYER = build_layer([FileEntry("etc/hello", b"hello\n")])
IMAGE = build_image([LAYER])
SIG_TYPE = "application/vnd.example.signature.v1+json"
NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _desc(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data), **extra}


EMPTY_DESC = _desc(mt.OCI_EMPTY, b"{}")


def _raw(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _oci_manifest(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(IMAGE.manifest)
    doc.update(changes)
    return doc


def _artifact(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": SIG_TYPE,
        "config": EMPTY_DESC,
        "layers": [_desc(SIG_TYPE, b"signature")],
        "subject": IMAGE.descriptor(platform=False),
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


# ---------------------------------------------------------------------- accepted manifests


def test_oci_image_manifest() -> None:
    parsed = parse_manifest(IMAGE.manifest, mt.OCI_MANIFEST)
    assert parsed.media_type == mt.OCI_MANIFEST
    assert not parsed.is_index
    assert parsed.digest == IMAGE.digest
    assert parsed.size == len(IMAGE.manifest)
    assert parsed.config is not None
    assert parsed.config.digest == IMAGE.config_digest
    assert parsed.config.media_type == mt.OCI_CONFIG
    assert [d.digest for d in parsed.layers] == [LAYER.digest]
    assert parsed.layers[0].size == LAYER.size
    assert parsed.manifests == ()
    assert parsed.subject is None
    assert [d.digest for d in parsed.required_blobs] == [IMAGE.config_digest, LAYER.digest]


def test_oci_index() -> None:
    arm = build_image([LAYER], architecture="arm64", variant="v8")
    index = build_index([IMAGE, arm], annotations={"org.example": "x"})
    parsed = parse_manifest(index.manifest, mt.OCI_INDEX)
    assert parsed.is_index
    assert parsed.media_type == mt.OCI_INDEX
    assert parsed.digest == index.digest
    assert [d.digest for d in parsed.manifests] == [IMAGE.digest, arm.digest]
    assert parsed.manifests[1].platform == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert parsed.config is None
    assert parsed.layers == ()
    assert parsed.required_blobs == ()
    assert parsed.annotations == {"org.example": "x"}
    assert parsed.referrer_artifact_type is None


def test_docker_schema2_manifest_and_list() -> None:
    docker = to_docker_schema2(IMAGE)
    parsed = parse_manifest(docker.manifest, mt.DOCKER_MANIFEST)
    assert parsed.media_type == mt.DOCKER_MANIFEST
    assert parsed.config is not None
    assert parsed.config.media_type == mt.DOCKER_CONFIG
    assert parsed.referrer_artifact_type == mt.DOCKER_CONFIG
    listing = docker_manifest_list([IMAGE])
    parsed_list = parse_manifest(listing.manifest, mt.DOCKER_MANIFEST_LIST)
    assert parsed_list.is_index
    assert parsed_list.media_type == mt.DOCKER_MANIFEST_LIST
    assert [d.digest for d in parsed_list.manifests] == [docker.digest]


def test_media_type_comes_from_the_body_when_no_content_type() -> None:
    assert parse_manifest(IMAGE.manifest, None).media_type == mt.OCI_MANIFEST
    docker = to_docker_schema2(IMAGE)
    assert parse_manifest(docker.manifest, None).media_type == mt.DOCKER_MANIFEST


def test_media_type_comes_from_content_type_when_the_body_has_none() -> None:
    doc = _oci_manifest()
    del doc["mediaType"]
    assert parse_manifest(_raw(doc), mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST
    index = json.loads(build_index([IMAGE]).manifest)
    del index["mediaType"]
    assert parse_manifest(_raw(index), None).media_type == mt.OCI_INDEX
    assert parse_manifest(_raw(doc), None).media_type == mt.OCI_MANIFEST


def test_content_type_parameters_are_ignored() -> None:
    parsed = parse_manifest(IMAGE.manifest, f"{mt.OCI_MANIFEST}; charset=utf-8")
    assert parsed.media_type == mt.OCI_MANIFEST


def test_artifact_with_empty_config_and_artifact_type() -> None:
    parsed = parse_manifest(_raw(_artifact()), mt.OCI_MANIFEST)
    assert parsed.artifact_type == SIG_TYPE
    assert parsed.referrer_artifact_type == SIG_TYPE
    assert parsed.subject is not None
    assert parsed.subject.digest == IMAGE.digest
    assert parsed.subject.size == len(IMAGE.manifest)


def test_referrer_artifact_type_falls_back_to_config_media_type() -> None:
    doc = _artifact(artifactType=None, config=_desc("application/vnd.example.config+json", b"{}"))
    parsed = parse_manifest(_raw(doc), mt.OCI_MANIFEST)
    assert parsed.artifact_type is None
    assert parsed.referrer_artifact_type == "application/vnd.example.config+json"
    assert parse_manifest(IMAGE.manifest, None).referrer_artifact_type == mt.OCI_CONFIG


def test_index_artifact_type_is_reported_without_fallback() -> None:
    doc = json.loads(build_index([IMAGE]).manifest)
    doc["artifactType"] = SIG_TYPE
    doc["subject"] = IMAGE.descriptor(platform=False)
    parsed = parse_manifest(_raw(doc), mt.OCI_INDEX)
    assert parsed.referrer_artifact_type == SIG_TYPE
    assert parsed.subject is not None


def test_required_blobs_exclude_nondistributable_layers() -> None:
    foreign = _desc(NONDIST, b"foreign", urls=["https://example.com/layer"])
    docker_foreign = _desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", b"w")
    doc = _oci_manifest(layers=[foreign, json.loads(IMAGE.manifest)["layers"][0], docker_foreign])
    parsed = parse_manifest(_raw(doc), mt.OCI_MANIFEST)
    assert len(parsed.layers) == 3
    assert [d.digest for d in parsed.required_blobs] == [IMAGE.config_digest, LAYER.digest]


def test_digest_is_sha256_of_the_exact_bytes() -> None:
    compact = IMAGE.manifest
    pretty = json.dumps(json.loads(compact), indent=3).encode()
    trailing = compact + b"\n"
    digests = set()
    for raw in (compact, pretty, trailing):
        parsed = parse_manifest(raw, mt.OCI_MANIFEST)
        assert parsed.digest == "sha256:" + hashlib.sha256(raw).hexdigest()
        assert parsed.size == len(raw)
        digests.add(parsed.digest)
    assert len(digests) == 3


def test_annotations_and_descriptor_roundtrip() -> None:
    doc = _oci_manifest(annotations={"org.opencontainers.image.source": "https://x"})
    doc["layers"][0]["annotations"] = {"k": "v"}
    parsed = parse_manifest(_raw(doc), None)
    assert parsed.annotations == {"org.opencontainers.image.source": "https://x"}
    assert parsed.layers[0].annotations == {"k": "v"}
    assert parsed.layers[0].to_dict() == doc["layers"][0]


# ---------------------------------------------------------------------- refused manifests


def test_artifact_with_empty_config_requires_artifact_type() -> None:
    with pytest.raises(ManifestInvalidError, match="artifactType"):
        parse_manifest(_raw(_artifact(artifactType=None)), mt.OCI_MANIFEST)


def test_body_media_type_must_match_content_type() -> None:
    with pytest.raises(ManifestInvalidError, match="does not match"):
        parse_manifest(IMAGE.manifest, mt.DOCKER_MANIFEST)
    with pytest.raises(ManifestInvalidError, match="does not match"):
        parse_manifest(IMAGE.manifest, mt.OCI_INDEX)


def test_docker_manifest_without_media_type_field_is_refused() -> None:
    doc = json.loads(to_docker_schema2(IMAGE).manifest)
    del doc["mediaType"]
    with pytest.raises(ManifestInvalidError, match="must carry their mediaType"):
        parse_manifest(_raw(doc), mt.DOCKER_MANIFEST)
    listing = json.loads(docker_manifest_list([IMAGE]).manifest)
    del listing["mediaType"]
    with pytest.raises(ManifestInvalidError, match="must carry their mediaType"):
        parse_manifest(_raw(listing), mt.DOCKER_MANIFEST_LIST)


SCHEMA1 = {
    "schemaVersion": 1,
    "name": "library/alpine",
    "tag": "latest",
    "architecture": "amd64",
    "fsLayers": [{"blobSum": _digest(b"layer")}],
    "history": [{"v1Compatibility": "{}"}],
    "signatures": [],
}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/json",
        None,
        mt.OCI_MANIFEST,
    ],
)
def test_schema1_is_refused_with_a_clear_message(content_type: str | None) -> None:
    with pytest.raises(ManifestInvalidError, match="schema 1 manifests are not supported"):
        parse_manifest(_raw(SCHEMA1), content_type)


@pytest.mark.parametrize(
    ("raw", "content_type", "message"),
    [
        (b"not json", None, "not valid JSON"),
        (b"\xff\xfe{}", None, "not valid JSON"),
        (b"[]", None, "JSON object"),
        (b'"manifest"', None, "JSON object"),
        (_raw(_oci_manifest(schemaVersion=3)), None, "schemaVersion must be 2"),
        (_raw(_oci_manifest(schemaVersion="2")), None, "schemaVersion must be 2"),
        (_raw(_oci_manifest(mediaType=7)), None, "mediaType must be a string"),
        (_raw(_oci_manifest(mediaType="text/plain")), None, "unsupported manifest media type"),
        (IMAGE.manifest, "text/plain", "does not match"),
        (_raw(_oci_manifest(manifests=[])), None, "must not contain 'manifests'"),
        (_raw(_oci_manifest(config=None)), None, "descriptor must be an object"),
        (_raw(_oci_manifest(layers={"0": {}})), None, "list of descriptors"),
        (_raw({**json.loads(build_index([IMAGE]).manifest), "layers": []}), None, "an index"),
        (_raw({"schemaVersion": 2, "mediaType": mt.OCI_INDEX}), None, "list of descriptors"),
        (_raw(_oci_manifest(annotations={"k": 1})), None, "annotations"),
        (_raw(_oci_manifest(annotations=["k"])), None, "annotations"),
        (_raw(_oci_manifest(artifactType="not a media type")), None, "artifactType"),
        (_raw(_oci_manifest(subject="sha256:" + "0" * 64)), None, "descriptor must be an object"),
    ],
)
def test_malformed_manifests_are_refused(
    raw: bytes, content_type: str | None, message: str
) -> None:
    with pytest.raises(ManifestInvalidError, match=message):
        parse_manifest(raw, content_type)


def test_docker_manifest_needs_a_layer() -> None:
    doc = json.loads(to_docker_schema2(IMAGE).manifest)
    doc["layers"] = []
    with pytest.raises(ManifestInvalidError, match="at least one layer"):
        parse_manifest(_raw(doc), mt.DOCKER_MANIFEST)
    # An OCI manifest may have no layers.
    assert parse_manifest(_raw(_oci_manifest(layers=[])), None).layers == ()


GOOD_LAYER: dict[str, Any] = json.loads(IMAGE.manifest)["layers"][0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": -1}, "non-negative integer"),
        ({"size": True}, "non-negative integer"),
        ({"size": False}, "non-negative integer"),
        ({"size": 1.5}, "non-negative integer"),
        ({"size": "12"}, "non-negative integer"),
        ({"size": None}, "non-negative integer"),
        ({"digest": "sha256:" + "A" * 64}, "lowercase hex"),
        ({"digest": "md5:" + "0" * 32}, "unsupported digest algorithm"),
        ({"digest": None}, "invalid digest"),
        ({"digest": 5}, "invalid digest"),
        ({"mediaType": "tar"}, "invalid or missing mediaType"),
        ({"mediaType": ""}, "invalid or missing mediaType"),
        ({"mediaType": None}, "invalid or missing mediaType"),
        ({"mediaType": "application/x tar"}, "invalid or missing mediaType"),
        ({"mediaType": "application/x\n"}, "invalid or missing mediaType"),
        ({"annotations": {"k": 1}}, "annotations"),
        ({"annotations": {"k": None}}, "annotations"),
        ({"annotations": {"k": ["v"]}}, "annotations"),
        ({"annotations": "k=v"}, "annotations"),
        ({"artifactType": "nope"}, "artifactType"),
        ({"platform": {"os": "linux"}}, "platform"),
        ({"platform": "linux/amd64"}, "platform"),
        ({"urls": "https://x"}, "urls"),
        ({"urls": [1]}, "urls"),
    ],
)
def test_bad_layer_descriptors_are_refused(change: dict[str, Any], message: str) -> None:
    doc = _oci_manifest(layers=[{**GOOD_LAYER, **change}])
    with pytest.raises(ManifestInvalidError, match=message) as info:
        parse_manifest(_raw(doc), mt.OCI_MANIFEST)
    assert "layers[0]" in str(info.value)


def test_bad_descriptors_in_config_subject_and_index_are_located() -> None:
    config = {**json.loads(IMAGE.manifest)["config"], "size": -5}
    with pytest.raises(ManifestInvalidError, match=r"^config"):
        parse_manifest(_raw(_oci_manifest(config=config)), None)
    subject = {**IMAGE.descriptor(platform=False), "digest": "sha256:xyz"}
    with pytest.raises(ManifestInvalidError, match=r"^subject"):
        parse_manifest(_raw(_artifact(subject=subject)), None)
    index = json.loads(build_index([IMAGE, IMAGE]).manifest)
    index["manifests"][1]["size"] = True
    with pytest.raises(ManifestInvalidError, match=r"^manifests\[1\]"):
        parse_manifest(_raw(index), None)


def test_size_limit_is_exact() -> None:
    limit = 4096
    padded = IMAGE.manifest + b" " * (limit - len(IMAGE.manifest))
    assert len(padded) == limit
    assert parse_manifest(padded, None, max_bytes=limit).size == limit
    with pytest.raises(SizeLimitError, match="limit is 4096"):
        parse_manifest(padded + b" ", None, max_bytes=limit)


def test_default_size_limit_is_4_mib() -> None:
    big = IMAGE.manifest + b" " * (4 * 1024 * 1024 + 1 - len(IMAGE.manifest))
    with pytest.raises(SizeLimitError):
        parse_manifest(big, None)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"n": value}
    return value


def test_nesting_limit() -> None:
    shallow = _oci_manifest(extra=_nested(10))
    assert parse_manifest(_raw(shallow), None, max_depth=64).digest
    deep = _oci_manifest(extra=_nested(100))
    with pytest.raises(ManifestInvalidError, match="deeper than 64"):
        parse_manifest(_raw(deep), None)
    with pytest.raises(ManifestInvalidError, match="deeper than 8"):
        parse_manifest(_raw(shallow), None, max_depth=8)


def test_pathologically_deep_json_is_refused_not_crashing() -> None:
    depth = 200_000
    raw = b'{"schemaVersion":2,"x":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(ManifestInvalidError):
        parse_manifest(raw, None)
