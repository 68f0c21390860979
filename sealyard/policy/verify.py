"""Verify an image where it lives: resolve it, load its project's trust, fetch its evidence.

This is the I/O edge around :func:`sealyard.policy.evaluate.evaluate`, shared by
``sealyard verify``, ``sealyard run`` and the Kubernetes/Docker gates:

* the image is a registry reference (``HOST/PROJECT/REPO:TAG|@DIGEST``) or an OCI layout
  written by ``sealyard copy`` (``oci:DIR[:TAG]``, which remembers its repository);
* the trust state comes from the project's TUF metadata: the registry's ``/trust/PROJECT``
  by default, or an exported bundle / directory (``--trust``), verified from a pinned root
  (``--root``, or the newest root already trusted in the cache) — never trust on first use;
* the attestations are the image's referrers (registry referrers API or tag fallback, or
  the layout's ``index.json``), checked byte for byte against their digests.

The manifest digest that was judged is returned with the decision: whoever acts on an
allowed decision must use that digest, never the tag again.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from sealyard.client.copy import LayoutEndpoint, RegistryEndpoint, open_endpoint
from sealyard.config import Limits
from sealyard.errors import NotFoundError, UsageError
from sealyard.oci.digest import Digest
from sealyard.oci.manifest import Descriptor, parse_manifest
from sealyard.oci.names import project_of
from sealyard.oci.reference import parse_reference
from sealyard.policy.evaluate import Decision, evaluate
from sealyard.policy.model import parse_policy
from sealyard.trust.attach import fetch_attestations
from sealyard.trust.bundle import BUNDLE_MEDIA_TYPE
from sealyard.trust.tufclient import TrustState, load_trust

__all__ = ["default_cache_dir", "load_project_trust", "verify_image"]

_MAX_BUNDLE = 4 * 1024 * 1024 + 64 * 1024


def default_cache_dir() -> Path:
    """``$SEALYARD_CACHE`` or ``~/.cache/sealyard``: verified trust metadata between runs."""
    configured = os.environ.get("SEALYARD_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sealyard"


def _cache_for(location: str, project: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in location)[:120]
    return default_cache_dir() / "trust" / safe / project


def load_project_trust(
    project: str,
    *,
    trust: str | None,
    root: Path | None,
    registry: str | None = None,
    insecure: bool | None = None,
    offline: bool = False,
    now: datetime | None = None,
) -> TrustState:
    """The verified trust state of ``project``.

    ``trust`` is a URL, a bundle file or a directory; without it, the registry's own
    ``/trust/PROJECT`` endpoint. ``root`` pins the root metadata; without it, the newest root
    already verified into the cache is used, and if there is none the call fails.

    Raises:
        UsageError: no root to start from, or no trust location.
        VerificationError (and subclasses), TransportError: from verification.
    """
    if trust is None:
        if registry is None:
            raise UsageError("name the trust metadata with --trust (a URL, bundle or directory)")
        loopback = registry.startswith(("localhost", "127.", "[::1]"))
        scheme = "http" if (insecure or (insecure is None and loopback)) else "https"
        trust = f"{scheme}://{registry}/trust/{project}"
    location = trust if "://" in trust else str(Path(trust).resolve())
    cache = _cache_for(location, project)
    if root is not None:
        try:
            pinned = root.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read the pinned root {root}: {exc}") from exc
    else:
        cached = cache / "metadata" / "root.json"
        if not cached.is_file():
            raise UsageError(
                f"no trusted root for project {project!r} yet: pin one with --root ROOT.json "
                "(obtained out of band, e.g. from `sealyard trust export` or your admin)"
            )
        pinned = cached.read_bytes()
    return load_trust(
        trust, trusted_root=pinned, cache_dir=cache, offline=offline, now=now, project=project
    )


def _layout_attestations(endpoint: LayoutEndpoint, digest: Digest) -> list[tuple[str, bytes]]:
    out = []
    for ref in endpoint.referrers(digest):
        if ref.artifact_type != BUNDLE_MEDIA_TYPE:
            continue
        data, media_type = endpoint.manifest(ref.digest)
        parsed = parse_manifest(data, media_type)
        layers: tuple[Descriptor, ...] = parsed.layers
        if len(layers) != 1 or layers[0].size > _MAX_BUNDLE:
            continue
        reader = endpoint.open_blob(layers[0].digest)
        try:
            bundle = reader.read(_MAX_BUNDLE + 1) or b""
            reader.read()  # drain: the digest is checked at the end of the stream
        finally:
            reader.close()
        out.append((str(ref.digest), bundle))
    return out


def verify_image(
    reference: str,
    *,
    policy: str,
    trust: str | None,
    root: Path | None,
    credentials: tuple[str, str] | None = None,
    insecure: bool | None = None,
    offline: bool = False,
    now: datetime | None = None,
    limits: Limits | None = None,
) -> tuple[Decision, str]:
    """Judge the image ``reference`` under the project policy ``policy``.

    Returns the decision and the manifest digest it is about.

    Raises:
        UsageError: unusable arguments (no root, unknown layout repository).
        VerificationError, TransportError: the trust metadata cannot be verified or fetched.
        NotFoundError: the image does not exist.
    """
    endpoint = open_endpoint(reference, credentials=credentials, insecure=insecure, limits=limits)
    try:
        _, _, digest = endpoint.resolve()
        repository = endpoint.repository
        registry = None
        if isinstance(endpoint, RegistryEndpoint):
            registry = parse_reference(reference.removeprefix("docker://")).registry
        state = load_project_trust(
            project_of(repository),
            trust=trust,
            root=root,
            registry=registry,
            insecure=insecure,
            offline=offline,
            now=now,
        )
        if policy not in state.policies:
            known = ", ".join(sorted(state.policies)) or "none"
            raise NotFoundError(
                f"project {state.project!r} has no signed policy {policy!r} (policies: {known})"
            )
        if isinstance(endpoint, RegistryEndpoint):
            fetched = fetch_attestations(endpoint.client, repository, digest)
            attestations = [(str(f.descriptor.digest), f.bundle) for f in fetched]
        elif isinstance(endpoint, LayoutEndpoint):
            attestations = _layout_attestations(endpoint, digest)
        else:  # pragma: no cover - open_endpoint returns one of the two
            raise UsageError(f"cannot read attestations from {reference}")
        decision = evaluate(
            parse_policy(state.policies[policy]),
            state,
            repository=repository,
            digest=digest,
            attestations=attestations,
            now=now,
        )
        return decision, str(digest)
    finally:
        endpoint.close()
