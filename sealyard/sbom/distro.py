"""Identify the operating system release of an image from its files.

``etc/os-release`` (or ``usr/lib/os-release``, which it usually links to) is the source of
truth; see os-release(5). Its values follow shell quoting rules: unquoted, ``"double"``
(backslash escapes ``\\"``, ``\\\\``, ``\\$`` and ``\\``` only) or ``'single'`` (literal).

When neither os-release file exists (very old or stripped images), two release files are
used as fallbacks, in this order:

* ``etc/alpine-release`` (``3.19.1``) gives ``Distro(id="alpine", version_id="3.19.1")``;
* ``etc/debian_version`` (``12.11``) gives ``Distro(id="debian", version_id="12")`` — the
  major version, as Debian's os-release writes it; a testing/unstable value such as
  ``trixie/sid`` gives ``version_codename="trixie"`` and no ``version_id``. Ubuntu also ships
  this file (with ``bookworm/sid``-style content), so without os-release an Ubuntu image is
  reported as Debian: the fallback is a best effort, not a guarantee.

Everything here is pure: it parses bytes handed over by the caller.
"""

from __future__ import annotations

from collections.abc import Callable

from sealyard.sbom.model import Distro

__all__ = [
    "ALL_DISTRO_PATHS",
    "DISTRO_PATHS",
    "FALLBACK_DISTRO_PATHS",
    "detect_distro",
    "parse_alpine_release",
    "parse_debian_version",
    "parse_os_release",
]

#: os-release locations, highest priority first (``etc`` overrides ``usr/lib``).
DISTRO_PATHS = ("etc/os-release", "usr/lib/os-release")
#: Release files consulted only when no os-release file parses, in this order.
FALLBACK_DISTRO_PATHS = ("etc/alpine-release", "etc/debian_version")
#: Every path :func:`detect_distro` may read, for a layer walker's path filter.
ALL_DISTRO_PATHS = DISTRO_PATHS + FALLBACK_DISTRO_PATHS

# Characters a backslash escapes inside double quotes (POSIX shell rules, os-release(5)).
_DQUOTE_ESCAPABLE = frozenset('"\\$`')


def _decode(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return text.removeprefix("\ufeff")


def _shell_value(raw: str) -> str | None:
    """Unquote one shell word (``a"b c"'d'``); ``None`` if a quote is left open."""
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if ch == "'":
            end = raw.find("'", i + 1)
            if end < 0:
                return None
            out.append(raw[i + 1 : end])
            i = end + 1
        elif ch == '"':
            i += 1
            while True:
                if i >= n:
                    return None
                ch = raw[i]
                if ch == '"':
                    i += 1
                    break
                if ch == "\\" and i + 1 < n and raw[i + 1] in _DQUOTE_ESCAPABLE:
                    out.append(raw[i + 1])
                    i += 2
                    continue
                out.append(ch)
                i += 1
        elif ch == "\\" and i + 1 < n:
            out.append(raw[i + 1])
            i += 2
        elif ch.isspace():
            # An unquoted blank ends the word; anything after it (e.g. a comment) is ignored.
            break
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _os_release_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, raw = line.partition("=")
        key = key.strip()
        if not sep or not key or not (key.replace("_", "").isalnum() and key.isascii()):
            continue
        value = _shell_value(raw.strip())
        if value is not None:
            fields[key] = value
    return fields


def parse_os_release(data: bytes) -> Distro | None:
    """Parse an os-release file.

    Returns ``None`` when the data holds no ``KEY=value`` assignment at all. A file without
    ``ID`` gets ``id="linux"``, the default os-release(5) prescribes. ``ID`` and ``ID_LIKE``
    are lower-cased (they are specified lower-case; a few derivatives get it wrong).
    """
    fields = _os_release_fields(_decode(data))
    if not fields:
        return None
    return Distro(
        id=(fields.get("ID") or "linux").strip().lower(),
        version_id=fields.get("VERSION_ID", "").strip(),
        version_codename=fields.get("VERSION_CODENAME", "").strip(),
        name=fields.get("NAME", "").strip(),
        pretty_name=fields.get("PRETTY_NAME", "").strip(),
        id_like=tuple(fields.get("ID_LIKE", "").lower().split()),
    )


def _first_line(data: bytes) -> str:
    text = _decode(data).strip()
    return text.split("\n", 1)[0].strip() if text else ""


def parse_alpine_release(data: bytes) -> Distro | None:
    """``etc/alpine-release``: a single version line such as ``3.19.1``."""
    version = _first_line(data)
    if not version:
        return None
    return Distro(
        id="alpine",
        version_id=version,
        name="Alpine Linux",
        pretty_name=f"Alpine Linux v{version}",
    )


def parse_debian_version(data: bytes) -> Distro | None:
    """``etc/debian_version``: ``12.11`` (a point release) or ``trixie/sid`` (testing)."""
    value = _first_line(data)
    if not value:
        return None
    pretty = f"Debian GNU/Linux {value}"
    major = value.split(".", 1)[0]
    if major.isdigit():
        return Distro(id="debian", version_id=major, name="Debian GNU/Linux", pretty_name=pretty)
    codename = value.split("/", 1)[0].strip().lower()
    if not codename.isalnum():
        codename = ""
    return Distro(
        id="debian", version_codename=codename, name="Debian GNU/Linux", pretty_name=pretty
    )


_FALLBACK_PARSERS: tuple[tuple[str, Callable[[bytes], Distro | None]], ...] = (
    ("etc/alpine-release", parse_alpine_release),
    ("etc/debian_version", parse_debian_version),
)


def detect_distro(read: Callable[[str], bytes | None]) -> Distro | None:
    """The image's distro, given ``read(path)`` returning a file's content or ``None``.

    Tries :data:`DISTRO_PATHS` in order (the first that parses wins), then the fallbacks of
    :data:`FALLBACK_DISTRO_PATHS`. ``read`` is called only with paths of
    :data:`ALL_DISTRO_PATHS`.
    """
    for path in DISTRO_PATHS:
        data = read(path)
        if data is not None:
            distro = parse_os_release(data)
            if distro is not None:
                return distro
    for path, parse in _FALLBACK_PARSERS:
        data = read(path)
        if data is not None:
            distro = parse(data)
            if distro is not None:
                return distro
    return None
