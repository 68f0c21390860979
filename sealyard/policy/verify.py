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
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sealyard.client.copy import Endpoint, LayoutEndpoint, RegistryEndpoint, open_endpoint
from sealyard.client.registry import RegistryClient
from sealyard.config import Limits
from sealyard.errors import NotFoundError, UsageError
from sealyard.oci.digest import Digest
from sealyard.oci.manifest import Descriptor, parse_manifest
from sealyard.oci.names import project_of
from sealyard.oci.reference import parse_reference
from sealyard.policy.evaluate import Decision, evaluate
from sealyard.policy.model import parse_policy
from sealyard.trust.attach import FetchedAttestation, fetch_attestations
from sealyard.trust.bundle import BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES
from sealyard.trust.tufclient import TrustState, load_trust

__all__ = ["TrustCache", "default_cache_dir", "load_project_trust", "verify_image"]


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


class _SharedClientEndpoint(RegistryEndpoint):
    """A registry endpoint on a caller's long-lived client (kept open: tokens are reused)."""

    def close(self) -> None:
        pass


class TrustCache:
    """What a long-running verifier (a gate) keeps between verifications.

    * verified trust states, for ``ttl`` seconds: within the TTL no metadata is fetched, so a
      revocation or a new policy takes effect after at most ``ttl`` seconds (expiry is still
      judged on every use);
    * verified referrers by digest (bounded): content-addressed, so only the referrers list
      is asked for again and new attestations are seen at once.

    With a cache, a reference pinned by digest is not resolved again: the decision is about
    the digest, and whoever pulls it verifies the content against it.
    """

    def __init__(self, ttl: float = 60.0, max_referrers: int = 100_000) -> None:
        self.ttl = ttl
        self.max_referrers = max_referrers
        self._states: dict[tuple[str, str], tuple[float, TrustState]] = {}
        self.referrers: dict[str, tuple[str, FetchedAttestation]] = {}

    def get(self, key: tuple[str, str], load: Callable[[], TrustState]) -> TrustState:
        now = time.monotonic()
        found = self._states.get(key)
        if found is not None and now - found[0] < self.ttl:
            state = found[1]
            if all(v.expires > datetime.now(UTC) for v in state.roles.values()):
                return state
        state = load()
        self._states[key] = (now, state)
        return state

    def trim(self) -> None:
        while len(self.referrers) > self.max_referrers:
            self.referrers.pop(next(iter(self.referrers)))


def _layout_attestations(endpoint: LayoutEndpoint, digest: Digest) -> list[tuple[str, bytes]]:
    out = []
    for ref in endpoint.referrers(digest):
        if ref.artifact_type != BUNDLE_MEDIA_TYPE:
            continue
        data, media_type = endpoint.manifest(ref.digest)
        parsed = parse_manifest(data, media_type)
        layers: tuple[Descriptor, ...] = parsed.layers
        if len(layers) != 1 or layers[0].size > MAX_BUNDLE_BYTES:
            continue
        reader = endpoint.open_blob(layers[0].digest)
        try:
            bundle = reader.read(MAX_BUNDLE_BYTES + 1) or b""
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
    trust_cache: TrustCache | None = None,
    client: RegistryClient | None = None,
) -> tuple[Decision, str]:
    """Judge the image ``reference`` under the project policy ``policy``.

    Returns the decision and the manifest digest it is about. A long-running caller passes
    its own ``client`` (kept open, its tokens reused) and a ``trust_cache``.

    Raises:
        UsageError: unusable arguments (no root, unknown layout repository).
        VerificationError, TransportError: the trust metadata cannot be verified or fetched.
        NotFoundError: the image does not exist.
    """
    if client is not None and not reference.startswith("oci:"):
        parsed = parse_reference(reference.removeprefix("docker://"))
        endpoint: Endpoint = _SharedClientEndpoint(
            client, parsed.repository, parsed.digest or parsed.tag
        )
    else:
        endpoint = open_endpoint(
            reference, credentials=credentials, insecure=insecure, limits=limits
        )
    try:
        pinned = (
            parse_reference(reference.removeprefix("docker://")).digest
            if trust_cache is not None and isinstance(endpoint, RegistryEndpoint)
            else None
        )
        digest = pinned or endpoint.resolve()[2]
        repository = endpoint.repository
        registry = None
        if isinstance(endpoint, RegistryEndpoint):
            registry = parse_reference(reference.removeprefix("docker://")).registry
        project = project_of(repository)

        def load() -> TrustState:
            return load_project_trust(
                project,
                trust=trust,
                root=root,
                registry=registry,
                insecure=insecure,
                offline=offline,
                now=now,
            )

        state = (
            trust_cache.get((trust or registry or "", project), load)
            if trust_cache is not None
            else load()
        )
        if policy not in state.policies:
            known = ", ".join(sorted(state.policies)) or "none"
            raise NotFoundError(
                f"project {state.project!r} has no signed policy {policy!r} (policies: {known})"
            )
        if isinstance(endpoint, RegistryEndpoint):
            fetched = fetch_attestations(
                endpoint.client,
                repository,
                digest,
                cache=trust_cache.referrers if trust_cache is not None else None,
            )
            if trust_cache is not None:
                trust_cache.trim()
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
