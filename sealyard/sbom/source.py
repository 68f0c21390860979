"""Image sources, named like skopeo's transports.

``oci:DIR[:TAG|@DIGEST]``, ``docker-archive:FILE[:NAME:TAG|@N]``, ``dir:PATH`` and
``[docker://]REGISTRY/REPO[:TAG|@DIGEST]``. Every source yields its layers in order as
streams of :class:`~sealyard.oci.layers.LayerMember`; blobs are verified against their
digests as they stream (a mismatch fails the scan: the input was tampered with).
"""

from __future__ import annotations

import json
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

from sealyard.config import Limits
from sealyard.errors import DigestMismatchError, UntrustedDataError, UsageError
from sealyard.oci.archive import DockerArchive
from sealyard.oci.digest import Digest, parse_digest, sha256_digest
from sealyard.oci.layers import LayerMember, iter_layer, open_layer_stream
from sealyard.oci.layout import OciLayout, ResolvedImage, resolve_image
from sealyard.oci.platform import Platform, host_platform
from sealyard.oci.reference import ImageReference, parse_reference
from sealyard.oci.verify import VerifyingReader
from sealyard.sbom.model import ImageInfo, LayerInfo

__all__ = ["BlobImageSource", "ImageSource", "Member", "open_source"]

Member = LayerMember | str  # a string is a warning about the layer's content


class ImageSource(ABC):
    info: ImageInfo

    @abstractmethod
    def iter_layers(self) -> Iterator[tuple[LayerInfo, Iterator[Member]]]:
        """Each layer with its members. Consume a layer's members fully before the next."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files and connections."""

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _layer_infos(image: ResolvedImage) -> tuple[LayerInfo, ...]:
    diff_ids = image.diff_ids
    return tuple(
        LayerInfo(
            index=i,
            digest=str(layer.get("digest", "")),
            diff_id=diff_ids[i] if i < len(diff_ids) else "",
            media_type=str(layer.get("mediaType", "")),
            size=int(layer.get("size", 0) or 0),
        )
        for i, layer in enumerate(image.layers)
    )


def _stream_layer(opened: VerifyingReader, limits: Limits) -> Iterator[Member]:
    """Members of one verified blob stream; the digest is checked after the last member.

    A blob that fails to parse (also while a member is read) is checked too: tampering is
    reported as such (a DigestMismatchError fails the scan), not as an unreadable layer.
    """

    def verify_first(error: UntrustedDataError) -> None:
        if not isinstance(error, DigestMismatchError):
            opened.finish()

    def checked(reader: Callable[[int], bytes | None]) -> Callable[[int], bytes | None]:
        def read(limit: int) -> bytes | None:
            try:
                return reader(limit)
            except UntrustedDataError as exc:
                verify_first(exc)
                raise

        return read

    try:
        try:
            for member in iter_layer(
                open_layer_stream(cast(IO[bytes], opened), limits.max_layer_uncompressed_bytes)
            ):
                if isinstance(member, LayerMember):
                    member.reader = checked(member.reader)
                yield member
        except UntrustedDataError as exc:
            verify_first(exc)
            raise
        opened.finish()
    finally:
        opened.close()


class _ManifestSource(ImageSource):
    """Shared logic of sources that have a manifest, a config and layer blobs."""

    def __init__(self, reference: str, image: ResolvedImage, limits: Limits) -> None:
        self.limits = limits
        self.image = image
        self.info = ImageInfo(
            reference=reference,
            manifest_digest=image.manifest_digest,
            config_digest=image.config_digest,
            platform=image.platform,
            layers=_layer_infos(image),
        )

    @abstractmethod
    def _open(self, digest: Digest) -> VerifyingReader: ...

    def iter_layers(self) -> Iterator[tuple[LayerInfo, Iterator[Member]]]:
        for layer in self.info.layers:
            digest = parse_digest(layer.digest)
            yield layer, _stream_layer(self._open(digest), self.limits)


class OciLayoutSource(_ManifestSource):
    def __init__(self, path: Path, ref: str | None, platform: Platform, limits: Limits) -> None:
        self.layout = OciLayout(path, limits)
        descriptor = self.layout.find(ref)
        image = resolve_image(self.layout.read_small, descriptor, platform, limits)
        super().__init__(f"oci:{path}" + (f":{ref}" if ref else ""), image, limits)

    def _open(self, digest: Digest) -> VerifyingReader:
        return self.layout.open_verified(digest)


class RegistrySource(_ManifestSource):
    def __init__(
        self,
        reference: str,
        platform: Platform,
        limits: Limits,
        credentials: tuple[str, str] | None,
        insecure: bool | None,
    ) -> None:
        from sealyard.client.registry import RegistryClient

        ref = parse_reference(reference)
        self.repository = ref.repository
        self.client = RegistryClient(
            ref.registry, credentials=credentials, insecure=insecure, limits=limits
        )
        try:
            image = self._resolve(ref, platform, limits)
        except BaseException:
            self.client.close()
            raise
        super().__init__(str(ref), image, limits)

    def _resolve(self, ref: ImageReference, platform: Platform, limits: Limits) -> ResolvedImage:
        data, media_type, digest = self.client.get_manifest(ref.repository, ref.reference)
        first = {"digest": digest, "mediaType": media_type}

        def fetch_manifest(d: Digest) -> bytes:
            return data if d == digest else self.client.get_manifest(ref.repository, d)[0]

        def fetch_config(d: Digest) -> bytes:
            return self.client.fetch_blob(ref.repository, d)

        return resolve_image(fetch_manifest, first, platform, limits, fetch_config)

    def _open(self, digest: Digest) -> VerifyingReader:
        return self.client.open_blob(self.repository, digest)

    def close(self) -> None:
        self.client.close()


class BlobImageSource(_ManifestSource):
    """An image in any content-addressed store, given two readers.

    ``read_manifest(digest)`` returns verified manifest bytes (of the image or of an index
    leading to it), ``read_blob(digest)`` a small verified blob (the config) and
    ``open_blob(digest)`` a verifying stream of a layer. The registry's scanner uses this on
    its own blob storage, so a pushed image is read exactly as a client would pull it.
    """

    def __init__(
        self,
        reference: str,
        descriptor: dict[str, object],
        *,
        read_manifest: Callable[[Digest], bytes],
        read_blob: Callable[[Digest], bytes],
        open_blob: Callable[[Digest], VerifyingReader],
        platform: Platform,
        limits: Limits,
    ) -> None:
        self._open_blob = open_blob
        image = resolve_image(read_manifest, dict(descriptor), platform, limits, read_blob)
        super().__init__(reference, image, limits)

    def _open(self, digest: Digest) -> VerifyingReader:
        return self._open_blob(digest)


class DockerArchiveSource(ImageSource):
    def __init__(self, path: Path, ref: str | None, limits: Limits) -> None:
        self.limits = limits
        self.archive = DockerArchive(path)
        try:
            self._load(path, ref, limits)
        except BaseException:
            self.archive.close()
            raise

    def _load(self, path: Path, ref: str | None, limits: Limits) -> None:
        entry = self.archive.select(ref)
        config_name = str(entry.get("Config", ""))
        config_bytes = self.archive.read(config_name, limits.max_manifest_bytes)
        config_digest = sha256_digest(config_bytes)
        try:
            config = json.loads(config_bytes)
        except ValueError as exc:
            raise UntrustedDataError(f"{path}: image config is not JSON") from exc
        if not isinstance(config, dict):
            raise UntrustedDataError(f"{path}: image config is not a JSON object")
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        self.layer_files = [str(name) for name in entry.get("Layers") or []]
        if len(diff_ids) != len(self.layer_files):
            raise UntrustedDataError(
                f"{path}: config lists {len(diff_ids)} layers, manifest {len(self.layer_files)}"
            )
        plat = "/".join(p for p in (config.get("os"), config.get("architecture")) if p)
        self.info = ImageInfo(
            reference=f"docker-archive:{path}" + (f":{ref}" if ref else ""),
            config_digest=config_digest,
            platform=plat,
            layers=tuple(
                LayerInfo(i, "", diff_ids[i], "application/vnd.docker.image.rootfs.diff.tar", 0)
                for i in range(len(diff_ids))
            ),
            repo_digests=tuple(entry.get("RepoTags") or []),
        )

    def iter_layers(self) -> Iterator[tuple[LayerInfo, Iterator[Member]]]:
        for layer, name in zip(self.info.layers, self.layer_files, strict=True):
            handle = self.archive.open(name)
            # Layers of docker save are uncompressed tars whose digest is the diff_id; newer
            # docker writes OCI blobs named by their (possibly compressed) digest instead.
            expected = parse_digest(layer.diff_id)
            if name.startswith("blobs/sha256/"):
                expected = parse_digest("sha256:" + name.rsplit("/", 1)[1])
            yield layer, _stream_layer(VerifyingReader(handle, expected), self.limits)

    def close(self) -> None:
        self.archive.close()


class DirSource(ImageSource):
    """An unpacked root filesystem, read as one layer. Symlinks are never followed."""

    def __init__(self, path: Path) -> None:
        if not path.is_dir():
            raise UsageError(f"{path} is not a directory")
        self.root = path
        self.info = ImageInfo(
            reference=f"dir:{path}",
            layers=(LayerInfo(0, "", "", "directory", 0),),
        )

    def _members(self) -> Iterator[Member]:
        root = str(self.root)
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            for name in sorted(filenames) + [
                d for d in dirnames if os.path.islink(os.path.join(dirpath, d))
            ]:
                full = os.path.join(dirpath, name)
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                try:
                    st = os.lstat(full)
                except OSError as exc:
                    yield f"{rel}: {exc}"
                    continue
                if stat.S_ISLNK(st.st_mode):
                    yield LayerMember(
                        rel, "symlink", 0, st.st_mode & 0o7777, os.readlink(full), _no_read
                    )
                elif stat.S_ISREG(st.st_mode):
                    yield LayerMember(
                        rel,
                        "file",
                        st.st_size,
                        st.st_mode & 0o7777,
                        "",
                        _file_reader(full, st.st_size),
                    )
                else:
                    yield LayerMember(rel, "special", 0, st.st_mode & 0o7777, "", _no_read)

    def iter_layers(self) -> Iterator[tuple[LayerInfo, Iterator[Member]]]:
        yield self.info.layers[0], self._members()


def _no_read(_limit: int) -> bytes | None:
    return None


def _file_reader(path: str, size: int) -> Callable[[int], bytes | None]:
    def read(limit: int) -> bytes | None:
        if size > limit:
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as fh:
            return fh.read(limit + 1)

    return read


def open_source(
    spec: str,
    *,
    platform: str | None = None,
    credentials: tuple[str, str] | None = None,
    insecure: bool | None = None,
    limits: Limits | None = None,
) -> ImageSource:
    """Open an image named by a transport-prefixed reference.

    Raises:
        UsageError: unknown transport or missing path.
        UntrustedDataError: the image's metadata is malformed or does not verify.
    """
    limits = limits or Limits()
    wanted = Platform.parse(platform) if platform else host_platform()
    transport, sep, rest = spec.partition(":")
    if sep and transport == "oci":
        path, ref = _split_path(rest)
        return OciLayoutSource(Path(path), ref, wanted, limits)
    if sep and transport == "docker-archive":
        path, ref = _split_path(rest)
        return DockerArchiveSource(Path(path), ref, limits)
    if sep and transport == "dir":
        return DirSource(Path(rest))
    if spec.startswith("docker://"):
        spec = spec[len("docker://") :]
    return RegistrySource(spec, wanted, limits, credentials, insecure)


def _split_path(rest: str) -> tuple[str, str | None]:
    """``PATH[:REF]`` or ``PATH@DIGEST`` where PATH itself may contain colons: the longest
    existing prefix wins."""
    if os.path.exists(rest):
        return rest, None
    for index in range(len(rest) - 1, 0, -1):
        sep = rest[index]
        if sep in ":@" and os.path.exists(rest[:index]):
            return rest[:index], (rest[index + 1 :] if sep == ":" else rest[index:]) or None
    raise UsageError(f"{rest.split(':')[0]!r} does not exist")
