"""Air-gapped trust bundles: a project's published metadata and policies in one tar file.

A bundle holds ``manifest.json`` plus the ``metadata/`` and ``targets/`` trees exactly as the
server publishes them, so :func:`sealyard.trust.tufclient.load_trust` verifies it with the same
TUF client workflow it uses online: signatures, the root chain and expiry are checked against
the root the verifier pinned. The manifest's digests only detect a damaged copy early; they are
not what makes a bundle trustworthy.

Reading a bundle treats the tar as hostile: only regular files with plain names under
``metadata/`` and ``targets/`` are accepted, sizes and counts are capped, and nothing is written
outside the destination directory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sealyard.errors import (
    ConflictError,
    DigestMismatchError,
    NotFoundError,
    SizeLimitError,
    UntrustedDataError,
    UsageError,
)

__all__ = [
    "BUNDLE_FORMAT",
    "MANIFEST",
    "BundleInfo",
    "BundleLimits",
    "export_bundle",
    "open_bundle",
]

BUNDLE_FORMAT = "sealyard-trust-bundle/v1"
MANIFEST = "manifest.json"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


@dataclass(frozen=True)
class BundleLimits:
    """Bounds applied when reading an untrusted bundle."""

    max_file_bytes: int = 16 * 1024 * 1024
    max_total_bytes: int = 256 * 1024 * 1024
    max_files: int = 10_000


@dataclass(frozen=True)
class BundleInfo:
    project: str
    created: str
    files: int
    path: Path


def _valid_member_name(name: str) -> bool:
    parts = name.split("/")
    if name == MANIFEST:
        return True
    return (
        len(parts) in (2, 3)
        and parts[0] in ("metadata", "targets")
        and all(_SEGMENT.fullmatch(p) and ".." not in p for p in parts[1:])
        and (len(parts) == 2 or parts[0] == "targets")
    )


def export_bundle(
    published_dir: Path, out: Path, *, project: str, now: datetime | None = None
) -> BundleInfo:
    """Write the published trust metadata of ``project`` to the tar file ``out``.

    Raises:
        NotFoundError: nothing has been published yet.
    """
    published_dir = Path(published_dir)
    if not (published_dir / "metadata" / "timestamp.json").is_file():
        raise NotFoundError(
            f"no published trust metadata in {published_dir}; run `sealyard trust publish`"
        )
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    files: dict[str, bytes] = {}
    for sub in ("metadata", "targets"):
        base = published_dir / sub
        for path in sorted(base.rglob("*")) if base.is_dir() else []:
            if path.is_symlink() or not path.is_file():
                continue
            name = path.relative_to(published_dir).as_posix()
            if _valid_member_name(name):
                files[name] = path.read_bytes()
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "project": project,
        "created": created,
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "length": len(data)}
            for name, data in files.items()
        },
    }
    mtime = int(datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
    out = Path(out)
    if out.is_dir():
        raise UsageError(f"{out} is a directory; give a file name such as bundle.tar")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            entries = {MANIFEST: json.dumps(manifest, indent=2, sort_keys=True).encode(), **files}
            for name, data in entries.items():
                member = tarfile.TarInfo(name)
                member.size = len(data)
                member.mtime = mtime
                member.mode = 0o644
                tar.addfile(member, io.BytesIO(data))
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return BundleInfo(project=project, created=created, files=len(files), path=out)


def open_bundle(bundle: Path, dest: Path, *, limits: BundleLimits | None = None) -> Path:
    """Check and extract ``bundle`` into ``dest`` (replaced if it exists); return ``dest``.

    Raises:
        UntrustedDataError: not a tar, a member that is not a plain file with a plain name,
            files missing from or extra to the manifest.
        DigestMismatchError: a file differs from the manifest.
        SizeLimitError: the bundle exceeds ``limits``.
    """
    limits = limits or BundleLimits()
    members = _read_members(Path(bundle), limits)
    try:
        manifest = json.loads(members.pop(MANIFEST))
        if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"it is not a {BUNDLE_FORMAT} manifest")
        declared = manifest.get("files")
        if not isinstance(declared, dict):
            raise ValueError("it lists no files")
    except ValueError as exc:
        raise UntrustedDataError(f"{bundle}: bad {MANIFEST}: {exc}") from None
    if set(declared) != set(members):
        extra = sorted(set(members) - set(declared))
        missing = sorted(set(declared) - set(members))
        raise UntrustedDataError(
            f"{bundle} does not match its manifest (missing: {missing}, unlisted: {extra})"
        )
    for name, data in members.items():
        want = declared[name]
        if not isinstance(want, dict) or hashlib.sha256(data).hexdigest() != want.get("sha256"):
            raise DigestMismatchError(f"{bundle}: {name} does not match the manifest's sha256")
    if "metadata/timestamp.json" not in members:
        raise UntrustedDataError(f"{bundle} holds no metadata/timestamp.json")
    dest = Path(dest)
    if dest.exists():
        if not dest.is_dir() or dest.is_symlink():
            raise ConflictError(f"{dest} exists and is not a directory")
        _clear(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in members.items():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest


def _read_members(bundle: Path, limits: BundleLimits) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(bundle, mode="r:*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                name = member.name.removeprefix("./")
                if not member.isreg() or not _valid_member_name(name):
                    raise UntrustedDataError(
                        f"{bundle}: refusing tar member {member.name!r} "
                        "(only plain files under metadata/ and targets/ belong in a bundle)"
                    )
                if name in members:
                    raise UntrustedDataError(f"{bundle}: duplicate member {name!r}")
                if len(members) >= limits.max_files:
                    raise SizeLimitError(f"{bundle} has more than {limits.max_files} files")
                if member.size > limits.max_file_bytes:
                    raise SizeLimitError(f"{bundle}: {name} is larger than the limit")
                total += member.size
                if total > limits.max_total_bytes:
                    raise SizeLimitError(f"{bundle} is larger than {limits.max_total_bytes} bytes")
                f = tar.extractfile(member)
                if f is None:
                    raise UntrustedDataError(f"{bundle}: cannot read {name!r}")
                members[name] = f.read(limits.max_file_bytes + 1)
    except FileNotFoundError:
        raise NotFoundError(f"no bundle file {bundle}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UntrustedDataError(f"{bundle} is not a readable tar file: {exc}") from exc
    if MANIFEST not in members:
        raise UntrustedDataError(f"{bundle} has no {MANIFEST}; is it a trust bundle?")
    return members


def _clear(directory: Path) -> None:
    for path in sorted(directory.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
