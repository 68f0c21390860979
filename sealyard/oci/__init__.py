"""OCI data model: digests, media types, names and manifests. Pure: no I/O."""

from __future__ import annotations

from sealyard.oci.digest import Digest, parse_digest, sha256_digest
from sealyard.oci.manifest import Descriptor, ParsedManifest, parse_manifest
from sealyard.oci.names import validate_repository, validate_tag

__all__ = [
    "Descriptor",
    "Digest",
    "ParsedManifest",
    "parse_digest",
    "parse_manifest",
    "sha256_digest",
    "validate_repository",
    "validate_tag",
]
