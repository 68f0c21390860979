"""Client side of a project's trust root: verify it from a pinned root with ``tuf.ngclient``.

:func:`load_trust` runs the TUF client workflow (root chain → timestamp → snapshot → targets
→ one delegated role per stage) and returns a :class:`TrustState`: who may sign for each stage
(keys and threshold) and the signed policy files. Everything in it was verified by python-tuf
against a root the caller pinned; nothing is taken from the server on faith.

The metadata comes through one seam, a ``tuf.ngclient.FetcherInterface``:

* an ``http(s)://…/trust/<project>`` URL is fetched with httpx;
* a local directory (an extracted bundle, or a server's ``published/`` directory) or a bundle
  tar file is read from disk — no network at all;
* ``offline=True`` with a URL uses only what an earlier online run cached in ``cache_dir``.

Expiry, rollback and signature checks apply in every mode. ``cache_dir`` is also the client's
memory of the newest versions it trusted, which is what makes rollback detectable: keep it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import cast
from urllib import parse

import httpx
from securesystemslib.signer import Key
from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Root, Targets
from tuf.ngclient import FetcherInterface, Updater, UpdaterConfig
from tuf.ngclient._internal.trusted_metadata_set import TrustedMetadataSet

from sealyard.errors import (
    ExpiredMetadataError,
    NotFoundError,
    RollbackError,
    SealyardError,
    SignatureError,
    SizeLimitError,
    TransportError,
    UsageError,
    VerificationError,
)
from sealyard.trust.root import PROJECT_FIELD, policy_target_path, stage_path_pattern

__all__ = [
    "DirectoryFetcher",
    "HttpxFetcher",
    "RoleVersion",
    "StageTrust",
    "TrustState",
    "load_trust",
]

_STAGE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_POLICY = re.compile(r"^policies/([a-z0-9][a-z0-9_-]{0,62})\.yaml$")
_VERSIONED = re.compile(r"^([1-9][0-9]{0,9})\.(.+)\.json$")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RoleVersion:
    """Version and expiry of one verified metadata file."""

    version: int
    expires: datetime


@dataclass(frozen=True)
class StageTrust:
    """The verified signers of one stage: ``threshold`` distinct keys out of ``keys``."""

    name: str
    threshold: int
    keys: Mapping[str, Key]  # keyid → public key
    version: int
    expires: datetime

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= len(self.keys):
            raise VerificationError(
                f"stage {self.name!r} needs {self.threshold} signers but has {len(self.keys)} keys"
            )


@dataclass(frozen=True)
class TrustState:
    """A project's verified trust information.

    Attributes:
        project: the project the pinned root belongs to (a signed field of root).
        stages: stage name → its signers and threshold.
        policies: policy name → the policy file's bytes, hash- and length-checked.
        roles: ``root``, ``timestamp``, ``snapshot`` and ``targets`` → version and expiry.
    """

    project: str
    stages: Mapping[str, StageTrust]
    policies: Mapping[str, bytes]
    roles: Mapping[str, RoleVersion]

    def stage(self, name: str) -> StageTrust:
        """The signers of stage ``name``.

        Raises:
            NotFoundError: the project's trust root has no such stage.
        """
        try:
            return self.stages[name]
        except KeyError:
            known = ", ".join(self.stages) or "none"
            raise NotFoundError(
                f"project {self.project!r} has no stage {name!r} in its trust root "
                f"(stages: {known})"
            ) from None

    @property
    def root_version(self) -> int:
        return self.roles["root"].version


# --------------------------------------------------------------------------- fetchers


class HttpxFetcher(FetcherInterface):
    """Fetch metadata and targets over HTTP(S) with httpx (python-tuf enforces length caps)."""

    def __init__(self, client: httpx.Client | None = None, *, timeout: float = 30.0) -> None:
        self._own = client is None
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=True)

    def close(self) -> None:
        if self._own:
            self._client.close()

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            response = self._client.send(self._client.build_request("GET", url), stream=True)
        except httpx.HTTPError as exc:
            raise tuf_errors.DownloadError(f"cannot fetch {url}: {exc}") from exc
        if response.status_code >= 400:
            response.close()
            raise tuf_errors.DownloadHTTPError(
                f"HTTP {response.status_code} for {url}", response.status_code
            )
        return self._chunks(response, url)

    @staticmethod
    def _chunks(response: httpx.Response, url: str) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(_CHUNK)
        except httpx.HTTPError as exc:
            raise tuf_errors.DownloadError(f"download of {url} broke off: {exc}") from exc
        finally:
            response.close()


class DirectoryFetcher(FetcherInterface):
    """Serve ``file:`` URLs below ``base`` from disk; anything else or outside is "404"."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()

    def _fetch(self, url: str) -> Iterator[bytes]:
        parsed = parse.urlsplit(url)
        path = Path(parse.unquote(parsed.path)).resolve()
        if parsed.scheme != "file" or not path.is_relative_to(self.base) or not path.is_file():
            raise tuf_errors.DownloadHTTPError(f"{url}: no such file below {self.base}", 404)
        return self._chunks(path)

    @staticmethod
    def _chunks(path: Path) -> Iterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk


class _CacheFetcher(FetcherInterface):
    """Offline mode for a URL: the "remote" is what an earlier online run cached.

    ngclient always downloads a timestamp, and downloads snapshot/targets when the cached copy
    is not valid as final (e.g. expired). Answering from the cache makes it re-verify the cache
    (signatures, hashes, versions, expiry) and report *why* it is unusable, with no network.
    """

    def __init__(self, metadata_cache: Path) -> None:
        self.cache = metadata_cache

    def _fetch(self, url: str) -> Iterator[bytes]:
        name = parse.unquote(parse.urlsplit(url).path).rsplit("/", 1)[-1]
        versioned = _VERSIONED.fullmatch(name)
        role = versioned.group(2) if versioned else name.removesuffix(".json")
        file = self.cache / f"{role}.json"
        if role != "root" and _STAGE.fullmatch(role) and file.is_file():
            data = file.read_bytes()
            if versioned is None or _version_of(data) == int(versioned.group(1)):
                return iter([data])
        raise tuf_errors.DownloadHTTPError(f"{name} is not available offline", 404)


def _version_of(data: bytes) -> int | None:
    try:
        version = json.loads(data)["signed"]["version"]
    except (ValueError, KeyError, TypeError):
        return None
    return version if isinstance(version, int) else None


# --------------------------------------------------------------------------- load_trust


def load_trust(
    metadata_dir_or_url: str | Path,
    *,
    trusted_root: bytes,
    cache_dir: Path,
    offline: bool = False,
    now: datetime | None = None,
    project: str | None = None,
    fetcher: FetcherInterface | None = None,
    config: UpdaterConfig | None = None,
) -> TrustState:
    """Verify a project's trust metadata from ``trusted_root`` and return what it says.

    Args:
        metadata_dir_or_url: ``http(s)://HOST/trust/PROJECT``, a directory holding
            ``metadata/`` and ``targets/`` (extracted bundle, published directory), or a
            bundle ``.tar`` file.
        trusted_root: the pinned root metadata (any version; newer roots are followed
            through the chain, each signed by a threshold of its predecessor's keys).
        cache_dir: where verified metadata is kept between runs (rollback protection).
        offline: use no network: for a URL only ``cache_dir`` is read.
        now: the time expiry is judged against (default: the current time).
        project: if given, the trust root must name this project.
        fetcher: replaces the default transport (the one network seam).
        config: python-tuf limits (max lengths, root rotations, delegations).

    Raises:
        ExpiredMetadataError: a role is expired (stale server or freeze attack).
        RollbackError: metadata is older than what ``cache_dir`` already trusted.
        SignatureError: metadata lacks threshold signatures of trusted keys.
        VerificationError: a file does not match its signed hash/length, is malformed, or is
            not a Sealyard trust root.
        TransportError: the metadata could not be fetched (or is not cached, offline).
    """
    cache_dir = Path(cache_dir)
    metadata_cache, targets_cache = cache_dir / "metadata", cache_dir / "targets"
    source = str(metadata_dir_or_url)
    own_fetcher: HttpxFetcher | None = None
    try:
        metadata_cache.mkdir(parents=True, exist_ok=True)
        targets_cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the trust cache {cache_dir}: {exc}") from exc
    if source.startswith(("http://", "https://")):
        base = source.rstrip("/")
        metadata_url, targets_url = f"{base}/metadata/", f"{base}/targets/"
        if offline:
            if not (metadata_cache / "timestamp.json").is_file():
                raise TransportError(
                    f"no cached trust metadata for {source} in {cache_dir}: load it online "
                    "once, or verify from an exported bundle"
                )
            fetcher = _CacheFetcher(metadata_cache)
        elif fetcher is None:
            fetcher = own_fetcher = HttpxFetcher()
    else:
        directory = _local_source(Path(source), cache_dir)
        metadata_url = (directory / "metadata").as_uri() + "/"
        targets_url = (directory / "targets").as_uri() + "/"
        fetcher = fetcher or DirectoryFetcher(directory)
    try:
        updater = Updater(
            str(metadata_cache),
            metadata_url,
            str(targets_cache),
            targets_url,
            fetcher=fetcher,
            config=config,
            bootstrap=trusted_root,
        )
        trusted = _trusted_set(updater)
        if now is not None:
            trusted.reference_time = now if now.tzinfo else now.replace(tzinfo=UTC)
        updater.refresh()
        return _collect(updater, trusted, project, targets_cache)
    except SealyardError:
        raise
    except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as exc:
        raise _translate(exc, source, cache_dir) from exc
    except OSError as exc:
        raise UsageError(f"cannot use the trust cache {cache_dir}: {exc}") from exc
    finally:
        if own_fetcher is not None:
            own_fetcher.close()


def _local_source(path: Path, cache_dir: Path) -> Path:
    if path.is_file():
        from sealyard.trust.bundle_export import open_bundle

        return open_bundle(path, cache_dir / "bundle").resolve()
    if not (path / "metadata").is_dir():
        raise UsageError(
            f"{path} is neither a trust bundle nor a directory with metadata/ and targets/"
        )
    return path.resolve()


def _trusted_set(updater: Updater) -> TrustedMetadataSet:
    # ngclient exposes no public accessor for the verified metadata (the delegations and
    # keys are what Sealyard needs) nor a clock; this is the one place that reaches in.
    trusted = getattr(updater, "_trusted_set", None)
    if not isinstance(trusted, TrustedMetadataSet) or not hasattr(trusted, "reference_time"):
        raise RuntimeError("this python-tuf version does not expose its trusted metadata set")
    return trusted


def _collect(
    updater: Updater, trusted: TrustedMetadataSet, project: str | None, targets_cache: Path
) -> TrustState:
    root: Root = trusted.root
    targets: Targets = trusted.targets
    named = root.unrecognized_fields.get(PROJECT_FIELD)
    if not isinstance(named, str) or not named:
        raise VerificationError(f"the trust root does not name a project ({PROJECT_FIELD})")
    if project is not None and named != project:
        raise VerificationError(
            f"the trust root belongs to project {named!r}, not {project!r}: wrong pinned root "
            "or wrong URL"
        )
    stages: dict[str, StageTrust] = {}
    delegations = targets.delegations
    if delegations is not None:
        if delegations.roles is None:
            raise VerificationError("targets delegates to hash bins, not to stage roles")
        for name, role in delegations.roles.items():
            if not _STAGE.fullmatch(name) or role.paths != [stage_path_pattern(name)]:
                raise VerificationError(
                    f"delegation {name!r} is not a Sealyard stage role "
                    f"(paths {role.paths!r}, expected [{stage_path_pattern(name)!r}])"
                )
            # Walking to a path of the stage loads and verifies the stage role's metadata.
            updater.get_targetinfo(f"stages/{name}/role")
            if not trusted.contains(name, Targets.type):
                raise VerificationError(f"stage role {name!r} was not loaded by the delegation")
            stage_md = cast(Targets, trusted[name])
            try:
                keys = {keyid: delegations.keys[keyid] for keyid in role.keyids}
            except KeyError as exc:
                raise VerificationError(f"stage {name!r} names unknown key {exc}") from None
            stages[name] = StageTrust(
                name=name,
                threshold=role.threshold,
                keys=MappingProxyType(keys),
                version=stage_md.version,
                expires=stage_md.expires,
            )
    policies: dict[str, bytes] = {}
    for path in sorted(targets.targets):
        match = _POLICY.fullmatch(path)
        if match is None:
            continue
        name = match.group(1)
        info = updater.get_targetinfo(policy_target_path(name))
        if info is None:
            raise VerificationError(f"policy {name!r} vanished from the targets metadata")
        local = updater.find_cached_target(info) or updater.download_target(info)
        data = Path(local).read_bytes()
        info.verify_length_and_hashes(data)  # the bytes handed out are the bytes checked
        policies[name] = data
    roles = {
        role: RoleVersion(trusted[role].version, trusted[role].expires)
        for role in ("root", "timestamp", "snapshot", "targets")
    }
    return TrustState(
        project=named,
        stages=MappingProxyType(stages),
        policies=MappingProxyType(policies),
        roles=MappingProxyType(roles),
    )


def _translate(exc: Exception, source: str, cache_dir: Path) -> SealyardError:
    """A Sealyard error a human can act on, for an exception raised inside python-tuf."""
    where = f"trust metadata from {source}"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, tuf_errors.ExpiredMetadataError):
        return ExpiredMetadataError(
            f"{where} is expired ({detail}). Either the server is stale — an admin must run "
            "`sealyard trust publish` (or renew the role) — or someone is replaying old "
            "metadata (freeze attack). It is not used."
        )
    if isinstance(exc, tuf_errors.BadVersionNumberError):
        return RollbackError(
            f"{where} is older than, or inconsistent with, the versions this client already "
            f"trusted ({detail}): possible rollback attack. It is not used. If the project's "
            f"trust repository was deliberately re-created, pin its new root and clear "
            f"{cache_dir}."
        )
    if isinstance(exc, tuf_errors.UnsignedMetadataError):
        return SignatureError(
            f"{where} is not signed by a threshold of trusted keys ({detail}). A root change "
            "must be signed by the previous root's keys too; metadata signed by unknown keys "
            "is rejected."
        )
    if isinstance(exc, tuf_errors.LengthOrHashMismatchError):
        return VerificationError(
            f"{where}: a file does not match the length/hash its signed metadata records "
            f"({detail}); it was changed without being re-signed."
        )
    if isinstance(exc, tuf_errors.DownloadLengthMismatchError):
        return SizeLimitError(f"{where}: a file is larger than allowed ({detail})")
    if isinstance(exc, tuf_errors.DownloadHTTPError):
        hint = (
            " (has the project's trust metadata been published with `sealyard trust publish`?)"
            if exc.status_code == 404
            else ""
        )
        return TransportError(f"cannot fetch {where}: {detail}{hint}")
    if isinstance(exc, tuf_errors.DownloadError):
        cause = exc.__cause__
        return TransportError(f"cannot fetch {where}: {detail}" + (f": {cause}" if cause else ""))
    return VerificationError(f"{where} failed verification: {detail}")
