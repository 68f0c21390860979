"""Reading ``docker save`` archives (``docker-archive:FILE[:NAME:TAG]``)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import IO, Any

from sealyard.errors import NotFoundError, UntrustedDataError, UsageError

__all__ = ["DockerArchive"]


class DockerArchive:
    """A tarball as written by ``docker save``: ``manifest.json`` + config + layer tars."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._tar = tarfile.open(self.path, mode="r:")  # noqa: SIM115 - closed in close()
        except (OSError, tarfile.TarError) as exc:
            raise UsageError(f"{path} is not a readable docker archive: {exc}") from exc
        try:
            self.entries = self._load()
        except BaseException:
            self._tar.close()
            raise

    def _load(self) -> list[dict[str, Any]]:
        try:
            members = self._tar.getmembers()
        except tarfile.TarError as exc:
            raise UntrustedDataError(f"{self.path}: corrupt archive: {exc}") from exc
        self._members = {m.name.lstrip("./"): m for m in members if m.isreg()}
        manifest = self.read("manifest.json", 16 * 1024 * 1024)
        try:
            doc = json.loads(manifest)
        except ValueError as exc:
            raise UntrustedDataError(f"{self.path}: manifest.json is not JSON") from exc
        if not isinstance(doc, list) or not doc:
            raise UntrustedDataError(f"{self.path}: manifest.json lists no images")
        return [e for e in doc if isinstance(e, dict)]

    def open(self, name: str) -> IO[bytes]:
        member = self._members.get(name.lstrip("./"))
        if member is None:
            raise NotFoundError(f"{self.path}: member {name!r} missing")
        handle = self._tar.extractfile(member)
        if handle is None:
            raise NotFoundError(f"{self.path}: member {name!r} unreadable")
        return handle

    def read(self, name: str, limit: int) -> bytes:
        data = self.open(name).read(limit + 1)
        if len(data) > limit:
            raise UntrustedDataError(f"{self.path}: {name} larger than {limit} bytes")
        return data

    def select(self, reference: str | None) -> dict[str, Any]:
        if reference is None:
            if len(self.entries) > 1:
                tags = [t for e in self.entries for t in e.get("RepoTags") or []]
                raise UsageError(f"{self.path} holds several images; name one of: {tags}")
            return self.entries[0]
        if reference.startswith("@") and reference[1:].isdigit():
            index = int(reference[1:])
            if index >= len(self.entries):
                raise NotFoundError(f"{self.path} has no image #{index}")
            return self.entries[index]
        for entry in self.entries:
            if reference in (entry.get("RepoTags") or []):
                return entry
        raise NotFoundError(f"{reference!r} not found in {self.path}")

    def close(self) -> None:
        self._tar.close()
