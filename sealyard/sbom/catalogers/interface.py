"""The cataloger interface.

A cataloger declares, cheaply, which paths it needs (:meth:`Cataloger.wants`); the layer
walker reads only those members, keeps their *final* state after all layers (whiteouts
applied) and hands them over as :class:`FileRecord` objects. The cataloger parses them and
returns packages. It never opens files itself and never does I/O.

Rules every cataloger follows:

* Parse defensively: bad input becomes a :class:`~sealyard.sbom.model.ScanWarning` in the
  result, never an exception escaping for one bad file (the scanner also catches
  exceptions per cataloger and records them, but a cataloger should lose as little as
  possible: one bad file, not the whole cataloger).
* Deterministic: the output order does not matter (the scanner sorts), but content must not
  depend on dict/set iteration order.
* ``found_by`` is the cataloger's ``name``; every package has ``locations`` (the files that
  are its evidence, with their layer index) and a correct purl.
* OS package managers report the files their packages own (``owned_files``) so language
  catalogers' packages under those paths are dropped (a Debian ``python3-yaml`` is not also
  reported as PyPI ``PyYAML``).
"""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sealyard.sbom.model import Distro, Package, ScanWarning

__all__ = ["CatalogResult", "Cataloger", "FileRecord", "ImageFiles"]


@dataclass(frozen=True)
class FileRecord:
    """A regular file of the image in its final state.

    ``path`` is normalised: relative to the image root, no leading ``/`` or ``./``, no
    ``..`` components (e.g. ``var/lib/dpkg/status``). ``layer`` is the index of the layer that
    wrote this version. ``data`` is the content (``None`` only if it exceeded the
    cataloger's ``max_file_size``; a warning was then recorded). ``history`` lists, oldest
    first, ``(layer, data)`` of earlier versions of the same path in the run of layers where it
    existed without interruption — only for catalogers with ``track_history``; catalogers
    may ignore it.
    """

    path: str
    layer: int
    data: bytes | None
    size: int
    mode: int = 0o644
    history: tuple[tuple[int, bytes | None], ...] = ()

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def directory(self) -> str:
        return posixpath.dirname(self.path)


@dataclass(frozen=True)
class ImageFiles:
    """What a cataloger receives: the files it wanted plus a little context."""

    files: tuple[FileRecord, ...]
    distro: Distro | None = None
    # Resolves a path inside the image root (following symlinks safely) to its record, if
    # the path was wanted by *some* cataloger. Used e.g. to read a sibling file.
    lookup: Callable[[str], FileRecord | None] = field(default=lambda _p: None)

    def by_name(self) -> Mapping[str, FileRecord]:
        return {f.path: f for f in self.files}


@dataclass
class CatalogResult:
    packages: list[Package] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)
    owned_files: set[str] = field(default_factory=set)  # normalised paths, OS catalogers only

    def extend(self, other: CatalogResult) -> None:
        self.packages.extend(other.packages)
        self.warnings.extend(other.warnings)
        self.owned_files |= other.owned_files


class Cataloger(ABC):
    """Finds packages of one ecosystem."""

    #: Short stable identifier, recorded as ``found_by`` (e.g. ``"dpkg"``).
    name: str = ""
    #: Largest file content handed over; bigger files arrive with ``data=None`` + a warning.
    max_file_size: int = 64 * 1024 * 1024
    #: Keep earlier versions of wanted files (for "introduced in layer" of database files).
    track_history: bool = False

    @abstractmethod
    def wants(self, path: str) -> bool:
        """Whether the walker should read ``path`` (normalised). Must be cheap: it is called
        for every member of every layer."""

    @abstractmethod
    def catalog(self, image: ImageFiles) -> CatalogResult:
        """Turn the wanted files into packages."""


def warn(
    source: str,
    kind: str,
    message: str,
    path: str = "",
    layer: int | None = None,
) -> ScanWarning:
    return ScanWarning(kind=kind, message=message, path=path, layer=layer, source=source)


def decode_text(record: FileRecord, source: str, warnings: list[ScanWarning]) -> str | None:
    """A text file's content as UTF-8; invalid bytes are replaced and reported once.

    ``None`` when the walker did not read the file (over ``max_file_size``; it warned then).
    """
    if record.data is None:
        return None
    try:
        return record.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        warnings.append(
            warn(
                source,
                "encoding",
                f"not valid UTF-8 ({exc.reason} at byte {exc.start}); undecodable bytes replaced",
                record.path,
                record.layer,
            )
        )
        return record.data.decode("utf-8", errors="replace")


def first_layer(records: Iterable[FileRecord]) -> int | None:
    layers = [r.layer for r in records]
    return min(layers) if layers else None
