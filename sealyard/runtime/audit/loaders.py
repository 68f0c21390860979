"""Detect what a configuration file is and normalise it into workloads.

Understood inputs, told apart by content (never by file name):

* ``docker inspect CONTAINER…`` output — a JSON array of container objects (or one object);
* compose files — YAML (or JSON) with a top-level ``services`` mapping;
* Kubernetes manifests — YAML or JSON objects with ``apiVersion`` and ``kind``, several
  per file (``---``), ``List`` kinds, ``Pod`` and every kind that templates pods;
* OCI runtime ``config.json`` — JSON with ``ociVersion``.

Parsing is bounded (see :class:`~sealyard.runtime.audit._parse.ParseLimits`); anything
malformed or hostile is rejected with :class:`~sealyard.errors.UntrustedDataError`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sealyard.errors import SizeLimitError, UntrustedDataError, UsageError
from sealyard.runtime.audit._compose import is_compose, workloads_from_compose
from sealyard.runtime.audit._docker import (
    is_container_inspect,
    is_image_inspect,
    workload_from_inspect,
)
from sealyard.runtime.audit._kube import is_kubernetes, workloads_from_object
from sealyard.runtime.audit._oci import is_oci_config, workload_from_oci
from sealyard.runtime.audit._parse import (
    DEFAULT_LIMITS,
    ParsedDocument,
    ParseLimits,
    decode,
    parse_json,
    parse_yaml,
)
from sealyard.runtime.audit._values import Value
from sealyard.runtime.audit.model import Workload

__all__ = ["LoadResult", "ParseLimits", "detect_format", "load_bytes", "load_path", "load_paths"]


@dataclass(frozen=True)
class LoadResult:
    """The workloads in one file, and notes on what was skipped or not followed."""

    source: str
    formats: tuple[str, ...]
    workloads: tuple[Workload, ...]
    notes: tuple[str, ...] = ()


_UNRECOGNISED = (
    "not a recognised container configuration: expected `docker inspect` output, a compose "
    "file, a Kubernetes manifest or an OCI runtime config.json"
)


def detect_format(value: Any) -> str | None:
    """``docker-inspect``, ``compose``, ``kubernetes``, ``oci`` or ``None`` for one value."""
    if isinstance(value, list):
        if value and all(is_container_inspect(v) for v in value):
            return "docker-inspect"
        if value and all(is_kubernetes(v) for v in value):
            return "kubernetes"
        return None
    if is_container_inspect(value):
        return "docker-inspect"
    if is_oci_config(value):
        return "oci"
    if is_kubernetes(value):
        return "kubernetes"
    if is_compose(value):
        return "compose"
    return None


def _documents(text: str, source: str, limits: ParseLimits) -> list[ParsedDocument]:
    if text.lstrip()[:1] in ("{", "["):
        try:
            return [ParsedDocument(parse_json(text, source, limits), 0, {})]
        except SizeLimitError:
            raise
        except UntrustedDataError as json_error:
            try:  # a YAML flow mapping also starts with "{"
                return list(parse_yaml(text, source, limits))
            except UntrustedDataError:
                raise json_error from None
    return list(parse_yaml(text, source, limits))


def _explain(value: Any, source: str, index: int, many: bool) -> UntrustedDataError:
    where = f"{source}: document {index + 1}" if many else source
    if is_image_inspect(value) or (
        isinstance(value, list) and value and all(is_image_inspect(v) for v in value)
    ):
        return UntrustedDataError(
            f"{where}: this is `docker inspect` output of an image, not of a container; "
            "audit a container (`docker inspect CONTAINER`) or the Dockerfile "
            "(`sealyard audit dockerfile`)"
        )
    if isinstance(value, dict) and "kind" in value and "apiVersion" not in value:
        return UntrustedDataError(f"{where}: a Kubernetes object needs apiVersion and kind")
    return UntrustedDataError(f"{where}: {_UNRECOGNISED}")


def load_bytes(
    data: bytes, source: str, *, limits: ParseLimits = DEFAULT_LIMITS, bundle_name: str = ""
) -> LoadResult:
    """Detect and normalise the configuration in ``data``.

    Args:
        data: the file's bytes.
        source: how findings name the file.
        limits: parsing limits.
        bundle_name: the name OCI bundles get (default: derived from ``source``).

    Raises:
        UntrustedDataError: malformed, hostile or unrecognised input.
        SizeLimitError: over a parsing limit.
    """
    text = decode(data, source, limits)
    if not text.strip():
        raise UntrustedDataError(f"{source}: the file is empty")
    documents = _documents(text, source, limits)
    if not documents:
        raise UntrustedDataError(f"{source}: no documents in the file")
    many = len(documents) > 1
    workloads: list[Workload] = []
    notes: list[str] = []
    formats: list[str] = []
    skipped: Counter[str] = Counter()
    for doc in documents:
        fmt = detect_format(doc.value)
        if fmt is None:
            raise _explain(doc.value, source, doc.index, many)
        if fmt not in formats:
            formats.append(fmt)
        index = doc.index if many else None
        root = Value(doc.value, "", source)
        lines = dict(doc.lines)
        if fmt == "docker-inspect":
            items = root.entries() if isinstance(doc.value, list) else [root]
            for i, item in enumerate(items):
                workloads.append(
                    workload_from_inspect(item, i if isinstance(doc.value, list) else None, source)
                )
        elif fmt == "oci":
            name = bundle_name or _bundle_name(source)
            workloads.append(workload_from_oci(root, source, name))
        elif fmt == "compose":
            w, n = workloads_from_compose(root, source, index)
            workloads += [_with_lines(x, lines) for x in w]
            notes += n
        else:
            objects = root.entries() if isinstance(doc.value, list) else [root]
            for obj in objects:
                w, kinds = workloads_from_object(obj, source, index, lines)
                workloads += w
                skipped.update(kinds)
    if skipped:
        listed = ", ".join(f"{n} {k}" if n > 1 else k for k, n in sorted(skipped.items()))
        notes.append(f"{source}: skipped objects that run no containers ({listed})")
    if not workloads:
        notes.append(f"{source}: no containers to audit")
    return LoadResult(source, tuple(formats), tuple(workloads), tuple(notes))


def _with_lines(workload: Workload, lines: dict[str, int]) -> Workload:
    return replace(workload, lines=lines) if lines else workload


def _bundle_name(source: str) -> str:
    path = Path(source)
    if path.name == "config.json" and path.parent.name not in ("", "."):
        return path.parent.name
    return path.stem or "bundle"


def load_path(path: Path, *, limits: ParseLimits = DEFAULT_LIMITS) -> LoadResult:
    """Read ``path`` (at most ``limits.max_bytes``) and normalise it.

    Raises:
        UsageError: the file cannot be read.
        UntrustedDataError: malformed, hostile or unrecognised input.
        SizeLimitError: over a parsing limit.
    """
    source = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except IsADirectoryError:
        raise UsageError(f"{source}: is a directory; name the configuration file") from None
    except OSError as exc:
        raise UsageError(f"{source}: cannot read: {exc.strerror or exc}") from None
    return load_bytes(data, source, limits=limits)


def load_paths(paths: Iterable[Path], *, limits: ParseLimits = DEFAULT_LIMITS) -> list[LoadResult]:
    """:func:`load_path` for each of ``paths``, in order."""
    return [load_path(p, limits=limits) for p in paths]
