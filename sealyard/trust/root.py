"""Repository side of a project's TUF trust root: create, change, sign and publish metadata.

A trust repository is a directory::

    config.json                  project name and expiry periods (not published)
    metadata/N.root.json         every root version (the chain clients walk)
    metadata/N.targets.json      top-level targets: stage delegations + policy targets
    metadata/N.<stage>.json      one delegated targets role per stage
    metadata/N.snapshot.json     versions of all targets roles
    metadata/timestamp.json      the freshness anchor, re-signed by every publish
    targets/policies/<sha256>.<name>.yaml
    published/                   what the server serves; written only by :meth:`publish`

Every change writes a *new version* of each role it touches; a published version is never
rewritten. A new version may lack signatures (multi-party signing adds them later with
:meth:`TrustRepository.sign`), but :meth:`TrustRepository.publish` refuses anything that
does not meet its thresholds. Private keys never enter the directory: every operation takes
``securesystemslib`` :class:`~securesystemslib.signer.Signer` objects.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import yaml
from securesystemslib.signer import Key, Signer
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization import DeserializationError
from tuf.api.serialization.json import JSONSerializer

from sealyard.errors import (
    ConflictError,
    NotFoundError,
    SignatureError,
    UsageError,
    VerificationError,
)

__all__ = [
    "MAX_POLICY_BYTES",
    "PROJECT_FIELD",
    "TOP_LEVEL_ROLES",
    "ExpiryPolicy",
    "PolicyInfo",
    "PublishResult",
    "RoleStatus",
    "StageInfo",
    "TrustRepository",
    "policy_target_path",
    "stage_path_pattern",
    "validate_project",
]

TOP_LEVEL_ROLES = ("root", "targets", "snapshot", "timestamp")
#: Signed field of root metadata naming the Sealyard project the trust root belongs to.
PROJECT_FIELD = "x-sealyard-project"
#: Largest policy file accepted by ``policy set`` (policies are small YAML documents).
MAX_POLICY_BYTES = 1024 * 1024

_PROJECT = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_VERSIONED = re.compile(r"^([1-9][0-9]{0,9})\.([a-z0-9][a-z0-9_-]{0,62})\.json$")
_SERIALIZER = JSONSerializer(compact=False)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def validate_project(name: str) -> str:
    """Return ``name`` if it is a valid Sealyard project name, else raise :class:`UsageError`."""
    if not _PROJECT.fullmatch(name) or len(name) > 64:
        raise UsageError(f"invalid project name {name!r}")
    return name


def _validate_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"invalid {kind} name {name!r}: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    if name in TOP_LEVEL_ROLES:
        raise UsageError(f"{kind} name {name!r} is reserved for a top-level TUF role")
    return name


def stage_path_pattern(stage: str) -> str:
    """The target path pattern delegated to the role of ``stage``."""
    return f"stages/{stage}/*"


def policy_target_path(name: str) -> str:
    """The target path of policy ``name`` (signed by the top-level targets role)."""
    return f"policies/{name}.yaml"


@dataclass(frozen=True)
class ExpiryPolicy:
    """How many days each role's metadata stays valid after it is (re-)signed.

    Short periods for the online roles (snapshot, timestamp) bound how long a freeze attack can
    hide new metadata from clients; the offline roles live longer because renewing them needs
    people with offline keys.
    """

    root: int = 365
    targets: int = 90
    stage: int = 90
    snapshot: int = 7
    timestamp: int = 1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 3650:
                raise UsageError(f"expiry for {f.name} must be 1-3650 days, got {value!r}")

    def days(self, role: str) -> int:
        """Days of validity for ``role`` (any non-top-level role is a stage)."""
        value: int = getattr(self, role) if role in TOP_LEVEL_ROLES else self.stage
        return value

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExpiryPolicy:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise UsageError(f"unknown role(s) in expiry settings: {', '.join(sorted(unknown))}")
        return cls(**dict(data))


@dataclass(frozen=True)
class RoleStatus:
    """One role's current version in the working repository and whether it is signed enough."""

    role: str
    version: int
    expires: datetime
    threshold: int
    keyids: tuple[str, ...]
    signed_by: tuple[str, ...]
    missing: int
    published: bool

    @property
    def verified(self) -> bool:
        return self.missing == 0


@dataclass(frozen=True)
class StageInfo:
    """Who may sign attestations for a stage: its keys and how many distinct signers it needs."""

    name: str
    threshold: int
    keys: Mapping[str, Key]
    version: int
    expires: datetime


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    path: str
    length: int
    sha256: str


@dataclass(frozen=True)
class PublishResult:
    root_version: int
    targets_version: int
    snapshot_version: int
    timestamp_version: int
    files: tuple[str, ...] = field(default=())


def _signed_bytes(md: Metadata[Any]) -> bytes:
    return md.signed_bytes


class TrustRepository:
    """One project's trust metadata on disk, and the operations that change it.

    Args:
        path: the repository directory.
        clock: returns "now" (UTC); injected so tests can pin expiry dates.
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.path = Path(path)
        self.clock = clock
        config_file = self.path / "config.json"
        try:
            config = json.loads(config_file.read_text())
            self.project: str = validate_project(str(config["project"]))
            self.expiry = ExpiryPolicy.from_dict(config.get("expiry_days", {}))
        except FileNotFoundError:
            raise NotFoundError(
                f"{self.path} is not a trust repository (no config.json); "
                "create one with `sealyard trust init`"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"cannot read {config_file}: {exc}") from exc

    # ------------------------------------------------------------------ creation

    @classmethod
    def create(
        cls,
        path: Path,
        project: str,
        *,
        root_keys: Sequence[Key],
        targets_keys: Sequence[Key],
        snapshot_keys: Sequence[Key],
        timestamp_keys: Sequence[Key],
        root_threshold: int = 1,
        targets_threshold: int = 1,
        snapshot_threshold: int = 1,
        timestamp_threshold: int = 1,
        signers: Sequence[Signer] = (),
        expiry: ExpiryPolicy | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> TrustRepository:
        """Create version 1 of root and targets (snapshot and timestamp come with publish).

        ``signers`` sign root and targets where their keys belong; signatures still missing
        can be added later with :meth:`sign`.

        Raises:
            ConflictError: ``path`` already holds a trust repository.
            UsageError: bad project name, empty key list or impossible threshold.
        """
        validate_project(project)
        path = Path(path)
        if (path / "config.json").exists() or any((path / "metadata").glob("*.json")):
            raise ConflictError(f"{path} already holds a trust repository")
        expiry = expiry or ExpiryPolicy()
        now = clock()
        root = Root(
            version=1,
            expires=now + timedelta(days=expiry.root),
            consistent_snapshot=True,
            unrecognized_fields={PROJECT_FIELD: project},
        )
        for role, keys, threshold in (
            ("root", root_keys, root_threshold),
            ("targets", targets_keys, targets_threshold),
            ("snapshot", snapshot_keys, snapshot_threshold),
            ("timestamp", timestamp_keys, timestamp_threshold),
        ):
            _check_threshold(role, len(_unique(keys)), threshold)
            for key in _unique(keys):
                root.add_key(key, role)
            root.roles[role].threshold = threshold
        signing_keys = set(root.roles["root"].keyids) | set(root.roles["targets"].keyids)
        for signer in signers:
            if signer.public_key.keyid not in signing_keys:
                raise UsageError(
                    f"key {signer.public_key.keyid[:16]} is neither a root nor a targets key"
                )
        targets = Targets(
            version=1,
            expires=now + timedelta(days=expiry.targets),
            delegations=Delegations(keys={}, roles={}),
        )
        (path / "metadata").mkdir(parents=True, exist_ok=True)
        (path / "targets").mkdir(exist_ok=True)
        _atomic_write(
            path / "config.json",
            json.dumps(
                {"project": project, "expiry_days": expiry.to_dict()}, indent=2, sort_keys=True
            ).encode()
            + b"\n",
        )
        repo = cls(path, clock=clock)
        with repo._locked():
            repo._commit({"root": Metadata(root), "targets": Metadata(targets)}, signers)
        return repo

    # ------------------------------------------------------------------ reading

    @property
    def metadata_dir(self) -> Path:
        return self.path / "metadata"

    @property
    def published_dir(self) -> Path:
        return self.path / "published"

    def versions(self, role: str) -> list[int]:
        """All versions of ``role`` present in the working metadata, ascending."""
        found = []
        for entry in self.metadata_dir.glob(f"*.{role}.json"):
            match = _VERSIONED.fullmatch(entry.name)
            if match and match.group(2) == role:
                found.append(int(match.group(1)))
        return sorted(found)

    def load(self, role: str, version: int | None = None) -> Metadata[Any]:
        """Read ``role`` (its newest version unless ``version`` is given).

        Raises:
            NotFoundError: the role (version) does not exist.
            VerificationError: the file is not valid TUF metadata of that role.
        """
        if role == "timestamp":
            file = self.metadata_dir / "timestamp.json"
        else:
            if version is None:
                versions = self.versions(role)
                if not versions:
                    raise NotFoundError(f"no {role} metadata in {self.metadata_dir}")
                version = versions[-1]
            file = self.metadata_dir / f"{version}.{role}.json"
        try:
            md: Metadata[Any] = Metadata.from_bytes(file.read_bytes())
        except FileNotFoundError:
            raise NotFoundError(f"no metadata file {file}") from None
        except DeserializationError as exc:
            raise VerificationError(f"{file} is not valid TUF metadata: {exc}") from exc
        expected = role if role in TOP_LEVEL_ROLES else "targets"
        if md.signed.type != expected:
            raise VerificationError(f"{file} holds {md.signed.type} metadata, not {expected}")
        return md

    def root(self) -> Root:
        return cast(Root, self.load("root").signed)

    def targets(self) -> Targets:
        return cast(Targets, self.load("targets").signed)

    def stages(self) -> dict[str, StageInfo]:
        """The delegated stage roles of the current targets version, in delegation order."""
        targets = self.targets()
        result: dict[str, StageInfo] = {}
        delegations = targets.delegations
        if delegations is None or delegations.roles is None:
            return result
        for name, role in delegations.roles.items():
            try:
                stage_md = self.load(name)
                version, expires = stage_md.signed.version, stage_md.signed.expires
            except NotFoundError:
                version, expires = 0, datetime.min.replace(tzinfo=UTC)
            result[name] = StageInfo(
                name=name,
                threshold=role.threshold,
                keys=MappingProxyType({k: delegations.keys[k] for k in role.keyids}),
                version=version,
                expires=expires,
            )
        return result

    def policies(self) -> dict[str, PolicyInfo]:
        """Policies signed by the current targets version, by name."""
        result = {}
        for path, info in sorted(self.targets().targets.items()):
            if path.startswith("policies/") and path.endswith(".yaml"):
                name = path[len("policies/") : -len(".yaml")]
                result[name] = PolicyInfo(name, path, info.length, info.hashes["sha256"])
        return result

    def policy_bytes(self, name: str) -> bytes:
        """Content of policy ``name`` as signed by the current targets version."""
        info = self.policies().get(name)
        if info is None:
            raise NotFoundError(f"no policy {name!r} in project {self.project!r}")
        return (self.path / "targets" / "policies" / f"{info.sha256}.{name}.yaml").read_bytes()

    def status(self) -> list[RoleStatus]:
        """Signature status of the current version of every role."""
        published = self._published_versions()
        statuses = []
        for role in ("root", "targets", *self._stage_names(), "snapshot", "timestamp"):
            try:
                md = self.load(role)
            except NotFoundError:
                continue
            statuses.append(self._status(role, md, published))
        return statuses

    def problems(self) -> list[str]:
        """Why the working metadata cannot be published now (empty if it can)."""
        now = self.clock()
        problems = []
        chain = self.versions("root")
        if chain != list(range(1, len(chain) + 1)):
            problems.append(f"root versions are not consecutive from 1: {chain}")
        previous: Root | None = None
        for version in chain:
            md = self.load("root", version)
            result = md.signed.get_root_verification_result(
                previous, _signed_bytes(md), md.signatures
            )
            if not result.verified:
                problems.append(self._missing_message("root", md, previous))
            previous = md.signed
        for role in ("targets", *self._stage_names()):
            md = self.load(role)
            status = self._status(role, md, {})
            if not status.verified:
                problems.append(self._missing_message(role, md, None))
        for role in ("root", "targets", *self._stage_names()):
            signed = self.load(role).signed
            if signed.is_expired(now):
                problems.append(
                    f"{role} v{signed.version} expired at {_fmt(signed.expires)}; renew it with "
                    f"`sealyard trust sign {role} --renew --key …`"
                )
        return problems

    # ------------------------------------------------------------------ changes

    def add_stage(
        self, name: str, keys: Sequence[Key], threshold: int, signers: Sequence[Signer]
    ) -> list[RoleStatus]:
        """Delegate ``stages/<name>/*`` to a new role with ``keys`` and ``threshold``.

        Writes a new targets version and version 1 (or the next free version) of the stage role.
        The stage role must be signed by ``threshold`` of its own keys before it can be
        published: pass those signers here or add them later with :meth:`sign`.
        """
        _validate_name("stage", name)
        keys = _unique(keys)
        _check_threshold(f"stage {name!r}", len(keys), threshold)
        with self._locked():
            targets_md = self._next("targets")
            targets = cast(Targets, targets_md.signed)
            delegations = _delegations(targets)
            assert delegations.roles is not None
            if name in delegations.roles:
                raise ConflictError(f"stage {name!r} already exists in project {self.project!r}")
            delegations.roles[name] = DelegatedRole(
                name=name,
                keyids=[],
                threshold=threshold,
                terminating=True,
                paths=[stage_path_pattern(name)],
            )
            for key in keys:
                targets.add_key(key, name)
            stage_md = self._new_stage_version(name)
            return self._commit({"targets": targets_md, name: stage_md}, signers)

    def remove_stage(self, name: str, signers: Sequence[Signer]) -> list[RoleStatus]:
        """Remove the delegation of stage ``name``; its signers are no longer trusted."""
        with self._locked():
            targets_md = self._next("targets")
            targets = cast(Targets, targets_md.signed)
            delegations = _delegations(targets)
            assert delegations.roles is not None
            role = delegations.roles.get(name)
            if role is None:
                raise NotFoundError(f"no stage {name!r} in project {self.project!r}")
            for keyid in list(role.keyids):
                targets.revoke_key(keyid, name)
            del delegations.roles[name]
            return self._commit({"targets": targets_md}, signers)

    def update_stage(
        self,
        name: str,
        signers: Sequence[Signer],
        *,
        add_keys: Sequence[Key] = (),
        revoke_keyids: Sequence[str] = (),
        threshold: int | None = None,
    ) -> list[RoleStatus]:
        """Add or revoke keys of stage ``name`` and/or change its threshold.

        ``revoke_keyids`` may be unique prefixes of key ids. When the stage's current metadata
        would no longer verify under the new delegation (e.g. its only signer was revoked), a new
        stage version is written that the remaining keys must sign.
        """
        with self._locked():
            targets_md = self._next("targets")
            targets = cast(Targets, targets_md.signed)
            delegations = _delegations(targets)
            assert delegations.roles is not None
            role = delegations.roles.get(name)
            if role is None:
                raise NotFoundError(f"no stage {name!r} in project {self.project!r}")
            for key in _unique(add_keys):
                if key.keyid in role.keyids:
                    raise ConflictError(f"key {key.keyid[:16]} is already a key of stage {name!r}")
                targets.add_key(key, name)
            for ref in revoke_keyids:
                keyid = _resolve_keyid(ref, role.keyids, f"stage {name!r}")
                targets.revoke_key(keyid, name)
            if threshold is not None:
                role.threshold = threshold
            if not role.keyids:
                raise UsageError(
                    f"stage {name!r} would have no keys left; remove the stage instead"
                )
            _check_threshold(f"stage {name!r}", len(role.keyids), role.threshold)
            changes: dict[str, Metadata[Any]] = {"targets": targets_md}
            current = self.load(name)
            if not targets.get_verification_result(
                name, _signed_bytes(current), current.signatures
            ).verified:
                changes[name] = self._new_stage_version(name)
            return self._commit(changes, signers)

    def set_policy(self, name: str, content: bytes, signers: Sequence[Signer]) -> list[RoleStatus]:
        """Sign ``content`` (a YAML mapping) as policy ``name`` in a new targets version."""
        _validate_name("policy", name)
        if len(content) > MAX_POLICY_BYTES:
            raise UsageError(f"policy {name!r} is larger than {MAX_POLICY_BYTES} bytes")
        try:
            doc = yaml.safe_load(content)
        except yaml.YAMLError as exc:
            raise UsageError(f"policy {name!r} is not valid YAML: {exc}") from exc
        if not isinstance(doc, dict):
            raise UsageError(f"policy {name!r} must be a YAML mapping")
        path = policy_target_path(name)
        info = TargetFile.from_data(path, content, ["sha256"])
        with self._locked():
            current = self.targets().targets.get(path)
            if current is not None and current.hashes == info.hashes:
                return [self._status("targets", self.load("targets"), {})]
            file = self.path / "targets" / "policies" / f"{info.hashes['sha256']}.{name}.yaml"
            file.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(file, content)
            targets_md = self._next("targets")
            cast(Targets, targets_md.signed).targets[path] = info
            return self._commit({"targets": targets_md}, signers)

    def remove_policy(self, name: str, signers: Sequence[Signer]) -> list[RoleStatus]:
        with self._locked():
            targets_md = self._next("targets")
            targets = cast(Targets, targets_md.signed)
            if targets.targets.pop(policy_target_path(name), None) is None:
                raise NotFoundError(f"no policy {name!r} in project {self.project!r}")
            return self._commit({"targets": targets_md}, signers)

    def rotate_root(
        self,
        signers: Sequence[Signer],
        *,
        role: str = "root",
        add_keys: Sequence[Key] = (),
        revoke_keyids: Sequence[str] = (),
        threshold: int | None = None,
    ) -> list[RoleStatus]:
        """Write the next root version, changing the keys/threshold of a top-level ``role``.

        Without changes this just renews root's expiry. The new root must be signed by a
        threshold of the *previous* root keys and of the *new* ones (TUF 5.3.4) before it can
        be published; signers of either set are accepted here and by :meth:`sign`.
        When the targets keys change, a new targets version is written for the new keys.
        """
        if role not in TOP_LEVEL_ROLES:
            raise UsageError(f"{role!r} is not a top-level role ({', '.join(TOP_LEVEL_ROLES)})")
        with self._locked():
            root_md = self._next("root")
            root = cast(Root, root_md.signed)
            for key in _unique(add_keys):
                if key.keyid in root.roles[role].keyids:
                    raise ConflictError(f"key {key.keyid[:16]} is already a {role} key")
                root.add_key(key, role)
            for ref in revoke_keyids:
                root.revoke_key(_resolve_keyid(ref, root.roles[role].keyids, role), role)
            if threshold is not None:
                root.roles[role].threshold = threshold
            if not root.roles[role].keyids:
                raise UsageError(f"role {role!r} would have no keys left")
            _check_threshold(role, len(root.roles[role].keyids), root.roles[role].threshold)
            changes: dict[str, Metadata[Any]] = {"root": root_md}
            if role == "targets":
                current = self.load("targets")
                if not root.get_verification_result(
                    "targets", _signed_bytes(current), current.signatures
                ).verified:
                    changes["targets"] = self._next("targets")
            return self._commit(changes, signers)

    def sign(
        self, role: str, signers: Sequence[Signer], *, renew: bool = False
    ) -> list[RoleStatus]:
        """Add signatures to the current version of ``role`` (multi-party signing).

        With ``renew`` a new version with a fresh expiry is written and signed instead.
        Snapshot and timestamp are signed by :meth:`publish`.
        """
        if role in ("snapshot", "timestamp"):
            raise UsageError(f"{role} is signed by `sealyard trust publish`, not by `trust sign`")
        if role not in ("root", "targets") and role not in self._stage_names():
            raise NotFoundError(f"no role {role!r} in project {self.project!r}")
        if not signers:
            raise UsageError("no signing key given (use --key)")
        with self._locked():
            md = self._next(role) if renew else self.load(role)
            self._check_signers({role: md}, signers)
            if not renew and self._published_versions().get(role, 0) >= md.signed.version:
                raise ConflictError(
                    f"{role} v{md.signed.version} is already published and stays as it is; "
                    f"use --renew to write a new version"
                )
            return self._commit({role: md}, signers, append=not renew)

    def publish(self, signers: Sequence[Signer] = ()) -> PublishResult:
        """Sign new snapshot/timestamp versions and copy the current state to ``published/``.

        Snapshot gets a new version when a targets role changed or it is within half its
        validity of expiring; timestamp always gets a new version (its expiry is the freshness
        clients rely on).

        Raises:
            SignatureError: some role lacks threshold signatures, or ``signers`` do not hold
                enough snapshot/timestamp keys; nothing is published then.
            VerificationError: root, targets or a stage role is expired.
        """
        with self._locked():
            root = self.root()
            online = set(root.roles["snapshot"].keyids) | set(root.roles["timestamp"].keyids)
            for signer in signers:
                if signer.public_key.keyid not in online:
                    raise UsageError(
                        f"key {signer.public_key.keyid[:16]} is neither a snapshot nor a "
                        f"timestamp key of project {self.project!r}"
                    )
            problems = self.problems()
            if problems:
                raise SignatureError("refusing to publish:\n  - " + "\n  - ".join(problems))
            now = self.clock()
            current: dict[str, int] = {"targets.json": self.targets().version}
            for name in self._stage_names():
                current[f"{name}.json"] = self.load(name).signed.version

            snapshot_md, snapshot_bytes = self._next_snapshot(root, current, now, signers)
            timestamp_md = self._new_timestamp(now, snapshot_md.signed.version, snapshot_bytes)
            self._sign_online(root, "timestamp", timestamp_md, signers)
            timestamp_bytes = timestamp_md.to_bytes(_SERIALIZER)
            if snapshot_bytes is not None:
                _atomic_write(
                    self.metadata_dir / f"{snapshot_md.signed.version}.snapshot.json",
                    snapshot_bytes,
                )
            _atomic_write(self.metadata_dir / "timestamp.json", timestamp_bytes)
            files = self._sync_published(root, snapshot_md.signed.version, timestamp_bytes)
            return PublishResult(
                root_version=root.version,
                targets_version=current["targets.json"],
                snapshot_version=snapshot_md.signed.version,
                timestamp_version=timestamp_md.signed.version,
                files=tuple(files),
            )

    # ------------------------------------------------------------------ internals

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise changes by several admins on one directory."""
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _stage_names(self) -> list[str]:
        delegations = self.targets().delegations
        if delegations is None or delegations.roles is None:
            return []
        return list(delegations.roles)

    def _next(self, role: str) -> Metadata[Any]:
        """A copy of the current version of ``role`` as the next version, fresh expiry."""
        md = self.load(role)
        signed = md.signed
        signed.version = max([signed.version, *self.versions(role)]) + 1
        signed.expires = self.clock() + timedelta(days=self.expiry.days(role))
        md.signatures.clear()
        return md

    def _new_stage_version(self, name: str) -> Metadata[Targets]:
        versions = self.versions(name)
        return Metadata(
            Targets(
                version=(versions[-1] + 1) if versions else 1,
                expires=self.clock() + timedelta(days=self.expiry.stage),
            )
        )

    def _delegator_for(
        self, role: str, pending: Mapping[str, Metadata[Any]]
    ) -> tuple[Root | Targets, Root | None]:
        """The metadata whose keys may sign ``role``; for root also the previous root."""
        if role == "root":
            md = pending.get("root") or self.load("root")
            version = md.signed.version
            previous = cast(Root, self.load("root", version - 1).signed) if version > 1 else None
            return cast(Root, md.signed), previous
        if role in TOP_LEVEL_ROLES:
            root_md = pending.get("root") or self.load("root")
            return cast(Root, root_md.signed), None
        targets_md = pending.get("targets") or self.load("targets")
        return cast(Targets, targets_md.signed), None

    def _authorized(self, role: str, pending: Mapping[str, Metadata[Any]]) -> set[str]:
        delegator, previous = self._delegator_for(role, pending)
        try:
            keyids = set(delegator.get_delegated_role(role).keyids)
        except ValueError:
            return set()
        if previous is not None:
            keyids |= set(previous.roles["root"].keyids)
        return keyids

    def _commit(
        self,
        changes: Mapping[str, Metadata[Any]],
        signers: Sequence[Signer],
        *,
        append: bool = False,
    ) -> list[RoleStatus]:
        """Sign each changed role with the given signers that belong to it, then write it."""
        allowed = self._check_signers(changes, signers)
        for role, md in changes.items():
            if not append:
                md.signatures.clear()
            for signer in signers:
                if signer.public_key.keyid in allowed[role]:
                    try:
                        md.sign(signer, append=True)
                    except UnsignedMetadataError as exc:
                        raise SignatureError(f"signing {role} failed: {exc}") from exc
        for role, md in changes.items():
            file = self.metadata_dir / f"{md.signed.version}.{role}.json"
            if not append and file.exists():
                raise ConflictError(f"{file} already exists; refusing to rewrite a version")
            _atomic_write(file, md.to_bytes(_SERIALIZER))
        published = self._published_versions()
        return [self._status(role, md, published) for role, md in changes.items()]

    def _check_signers(
        self, changes: Mapping[str, Metadata[Any]], signers: Sequence[Signer]
    ) -> dict[str, set[str]]:
        """Key ids allowed to sign each changed role; refuse a signer that fits none."""
        allowed = {role: self._authorized(role, changes) for role in changes}
        for signer in signers:
            keyid = signer.public_key.keyid
            if not any(keyid in ids for ids in allowed.values()):
                raise UsageError(
                    f"key {keyid[:16]} is not a signing key of {', '.join(changes)} "
                    f"in project {self.project!r}"
                )
        return allowed

    def _status(self, role: str, md: Metadata[Any], published: Mapping[str, int]) -> RoleStatus:
        signed: Signed = md.signed
        if role == "root":
            version = signed.version
            previous = cast(Root, self.load("root", version - 1).signed) if version > 1 else None
            root_result = cast(Root, signed).get_root_verification_result(
                previous, _signed_bytes(md), md.signatures
            )
            threshold = max(root_result.first.threshold, root_result.second.threshold)
            keyids = tuple(sorted(set(root_result.signed) | set(root_result.unsigned)))
            signed_by = tuple(sorted(root_result.signed))
            missing = max(root_result.first.missing, root_result.second.missing)
        else:
            delegator, _ = self._delegator_for(role, {})
            try:
                result = delegator.get_verification_result(role, _signed_bytes(md), md.signatures)
            except ValueError:  # a stage no longer delegated
                return RoleStatus(role, signed.version, signed.expires, 0, (), (), 0, False)
            threshold = result.threshold
            keyids = tuple(sorted(set(result.signed) | set(result.unsigned)))
            signed_by = tuple(sorted(result.signed))
            missing = result.missing
        return RoleStatus(
            role=role,
            version=signed.version,
            expires=signed.expires,
            threshold=threshold,
            keyids=keyids,
            signed_by=signed_by,
            missing=missing,
            published=published.get(role, 0) >= signed.version,
        )

    def _missing_message(self, role: str, md: Metadata[Any], previous: Root | None) -> str:
        if role == "root" and previous is not None:
            result = cast(Root, md.signed).get_root_verification_result(
                previous, _signed_bytes(md), md.signatures
            )
            return (
                f"root v{md.signed.version} needs {result.first.missing} more signature(s) from "
                f"root v{previous.version} keys and {result.second.missing} from its own keys; "
                f"add them with `sealyard trust sign root --key …`"
            )
        status = self._status(role, md, {})
        return (
            f"{role} v{md.signed.version} is signed by {len(status.signed_by)} of "
            f"{status.threshold} required keys; add signatures with "
            f"`sealyard trust sign {role} --key …`"
        )

    def _next_snapshot(
        self,
        root: Root,
        current: Mapping[str, int],
        now: datetime,
        signers: Sequence[Signer],
    ) -> tuple[Metadata[Snapshot], bytes | None]:
        """The snapshot to publish and its new bytes (``None`` when the current one is kept)."""
        try:
            old: Metadata[Snapshot] | None = self.load("snapshot")
        except NotFoundError:
            old = None
        meta: dict[str, MetaFile] = {}
        if old is not None:
            # Roles removed since stay listed: clients refuse a snapshot that drops a file.
            meta = {name: MetaFile(info.version) for name, info in old.signed.meta.items()}
        changed = old is None
        for name, version in current.items():
            previous = meta.get(name)
            if previous is not None and version < previous.version:
                raise VerificationError(
                    f"{name} v{version} is older than v{previous.version} in the last snapshot"
                )
            if previous is None or version > previous.version:
                meta[name] = MetaFile(version)
                changed = True
        if old is not None and not changed:
            period = timedelta(days=self.expiry.snapshot)
            verified = root.get_verification_result(
                "snapshot", _signed_bytes(old), old.signatures
            ).verified
            if verified and old.signed.expires - now > period / 2:
                return old, None
        version = max([0, *self.versions("snapshot")]) + 1
        md = Metadata(
            Snapshot(
                version=version,
                expires=now + timedelta(days=self.expiry.snapshot),
                meta=meta,
            )
        )
        self._sign_online(root, "snapshot", md, signers)
        return md, md.to_bytes(_SERIALIZER)

    def _new_timestamp(
        self, now: datetime, snapshot_version: int, snapshot_bytes: bytes | None
    ) -> Metadata[Timestamp]:
        if snapshot_bytes is None:
            snapshot_bytes = (self.metadata_dir / f"{snapshot_version}.snapshot.json").read_bytes()
        try:
            version = self.load("timestamp").signed.version + 1
        except NotFoundError:
            version = 1
        return Metadata(
            Timestamp(
                version=version,
                expires=now + timedelta(days=self.expiry.timestamp),
                snapshot_meta=MetaFile.from_data(snapshot_version, snapshot_bytes, ["sha256"]),
            )
        )

    def _sign_online(
        self, root: Root, role: str, md: Metadata[Any], signers: Sequence[Signer]
    ) -> None:
        allowed = set(root.roles[role].keyids)
        for signer in signers:
            if signer.public_key.keyid in allowed:
                md.sign(signer, append=True)
        result = root.get_verification_result(role, _signed_bytes(md), md.signatures)
        if not result.verified:
            raise SignatureError(
                f"refusing to publish: {role} needs {result.threshold} signature(s) from its "
                f"keys ({', '.join(k[:16] for k in root.roles[role].keyids)}), got "
                f"{len(result.signed)}; pass the {role} key with --key"
            )

    def _published_versions(self) -> dict[str, int]:
        versions: dict[str, int] = {}
        directory = self.published_dir / "metadata"
        if not directory.is_dir():
            return versions
        for entry in directory.iterdir():
            match = _VERSIONED.fullmatch(entry.name)
            if match:
                role, version = match.group(2), int(match.group(1))
                versions[role] = max(versions.get(role, 0), version)
        timestamp = directory / "timestamp.json"
        if timestamp.is_file():
            with contextlib.suppress(DeserializationError, OSError):
                versions["timestamp"] = Metadata.from_bytes(timestamp.read_bytes()).signed.version
        return versions

    def _sync_published(
        self, root: Root, snapshot_version: int, timestamp_bytes: bytes
    ) -> list[str]:
        """Copy immutable versioned files first and timestamp.json last, so a client never
        sees a timestamp that points at files not yet there."""
        out_meta = self.published_dir / "metadata"
        out_targets = self.published_dir / "targets"
        out_meta.mkdir(parents=True, exist_ok=True)
        out_targets.mkdir(parents=True, exist_ok=True)
        names = [f"{v}.root.json" for v in range(1, root.version + 1)]
        names.append(f"{self.targets().version}.targets.json")
        names += [f"{self.load(s).signed.version}.{s}.json" for s in self._stage_names()]
        names.append(f"{snapshot_version}.snapshot.json")
        written = []
        for name in names:
            source = (self.metadata_dir / name).read_bytes()
            dest = out_meta / name
            if not dest.exists() or dest.read_bytes() != source:
                _atomic_write(dest, source)
                written.append(f"metadata/{name}")
        for policy in self.policies().values():
            name = f"{policy.sha256}.{policy.name}.yaml"
            content = (self.path / "targets" / "policies" / name).read_bytes()
            dest = out_targets / "policies" / name
            if not dest.exists() or dest.read_bytes() != content:
                _atomic_write(dest, content)
                written.append(f"targets/policies/{name}")
        # Unversioned copies for clients that do not use consistent snapshots.
        _atomic_write(out_meta / "root.json", (out_meta / f"{root.version}.root.json").read_bytes())
        _atomic_write(
            out_meta / "snapshot.json",
            (out_meta / f"{snapshot_version}.snapshot.json").read_bytes(),
        )
        _atomic_write(out_meta / "timestamp.json", timestamp_bytes)
        written.append("metadata/timestamp.json")
        return written


def _delegations(targets: Targets) -> Delegations:
    if targets.delegations is None:
        targets.delegations = Delegations(keys={}, roles={})
    if targets.delegations.roles is None:
        raise VerificationError("targets uses succinct hash-bin delegations, not stage roles")
    return targets.delegations


def _unique(keys: Sequence[Key]) -> list[Key]:
    seen: dict[str, Key] = {}
    for key in keys:
        seen.setdefault(key.keyid, key)
    return list(seen.values())


def _check_threshold(what: str, n_keys: int, threshold: int) -> None:
    if n_keys == 0:
        raise UsageError(f"{what} needs at least one key")
    if not 1 <= threshold <= n_keys:
        raise UsageError(f"{what}: threshold {threshold} must be between 1 and {n_keys} (keys)")


def _resolve_keyid(ref: str, keyids: Sequence[str], owner: str) -> str:
    ref = ref.strip().lower()
    matches = [k for k in keyids if k == ref] or (
        [k for k in keyids if k.startswith(ref)] if len(ref) >= 8 else []
    )
    if not matches:
        raise NotFoundError(f"no key {ref!r} among the keys of {owner} (give 8+ hex digits)")
    if len(matches) > 1:
        raise UsageError(f"key id prefix {ref!r} is ambiguous for {owner}")
    return matches[0]


def _fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
