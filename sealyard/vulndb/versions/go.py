"""Go module and toolchain versions (OSV ecosystem ``Go``, purl type ``golang``).

Module versions follow ``golang.org/x/mod/semver`` (https://go.dev/ref/mod#versions):

* ``v`` + SemVer 2.0.0 (https://semver.org/spec/v2.0.0.html), plus the shorthands ``vMAJOR``
  and ``vMAJOR.MINOR`` (``v1`` == ``v1.0.0``, ``v1.2`` == ``v1.2.0``), which take no
  pre-release or build suffix. Precedence is SemVer's; build metadata is ignored, so the
  ``+incompatible`` suffix (https://go.dev/ref/mod#incompatible-versions) does not change
  the order.
* Pseudo-versions (https://go.dev/ref/mod#pseudo-versions) such as
  ``v0.0.0-20191109021931-daa7c04131f5``, ``v1.2.4-0.20191109021931-daa7c04131f5`` and
  ``v1.2.3-pre.0.20191109021931-daa7c04131f5`` are ordinary SemVer pre-releases: the
  14-digit UTC timestamp leads an alphanumeric identifier, so within one base they sort by
  time, and they sort before every tagged release of their base. Nothing else is special.
* OSV's Go entries (https://go.dev/doc/security/vuln/database) write the same versions
  without the ``v`` (``0.0.0-20191109021931-daa7c04131f5``, ``1.22.5``); a bare version is
  read as if it had it.

Toolchain versions, which OSV uses for the ``stdlib`` and ``toolchain`` modules, are mapped
to SemVer the way the Go vulnerability database does (``GoTagToSemver`` in
``golang.org/x/vuln``): ``go1.22.5`` -> ``1.22.5``, ``go1.20`` -> ``1.20.0``, ``go1.21rc2``
-> ``1.21.0-rc.2``, ``go1.9.2rc2`` -> ``1.9.2-rc.2``, ``go1.8beta1`` -> ``1.8.0-beta.1``,
``go1`` -> ``1.0.0`` (``go1.0`` is not a tag). Only the first whitespace-separated field of a
``go`` string counts (``go1.22.0 X:boringcrypto``, as ``runtime.Version`` prints it). The
``go`` prefix may be left out where the string is not a module version (``1.21rc2``).
Note that this is the vulnerability database's order, not ``go/version.Compare``'s (which
puts the language version ``1.21`` before ``1.21rc1``).

Input must be ASCII and at most 256 characters long.
"""

from __future__ import annotations

import re
from typing import Final

from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme
from sealyard.vulndb.versions.semver import MAX_VERSION_LENGTH, SemverKey, precedence_key

__all__ = ["GoVersionScheme", "go_tag_to_semver"]

_NUM: Final = r"(?:0|[1-9][0-9]*)"
_MODULE: Final = re.compile(
    rf"v({_NUM})(?:\.({_NUM})(?:\.({_NUM})(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?)?)?",
    re.ASCII,
)
_GO_SPACE_CHARS: Final = " \t\n\v\f\r"
_GO_SPACE: Final = re.compile(r"[ \t\n\v\f\r]+")
_LEADING_ZERO: Final = re.compile(r"0[0-9]+", re.ASCII)
# golang.org/x/vuln: `^go(\d+\.\d+)(\.\d+|)((beta|rc|-pre)(\d+))?$` (Go's \d is ASCII).
_TAG: Final = re.compile(r"go([0-9]+\.[0-9]+)(\.[0-9]+|)(?:(beta|rc|-pre)([0-9]+))?", re.ASCII)


def go_tag_to_semver(tag: str) -> str | None:
    """The ``v``-prefixed SemVer of a Go toolchain tag (``go1.21rc2`` -> ``v1.21.0-rc.2``).

    A port of ``GoTagToSemver`` from ``golang.org/x/vuln``; None where it returns "".
    """
    fields = _GO_SPACE.split(tag.strip(_GO_SPACE_CHARS))
    tag = fields[0]
    if tag == "go1":
        return "v1.0.0"
    if tag == "go1.0":
        return None
    match = _TAG.fullmatch(tag)
    if match is None:
        return None
    major_minor, patch, kind, number = match.groups()
    version = f"v{major_minor}{patch or '.0'}"
    if kind is not None:
        version += ("" if kind.startswith("-") else "-") + f"{kind}.{number}"
    return version


def _module_key(version: str) -> SemverKey | None:
    """The key of a ``v``-prefixed module version, None if x/mod/semver rejects it."""
    match = _MODULE.fullmatch(version)
    if match is None:
        return None
    major, minor, patch, pre, build = match.groups()
    identifiers = pre.split(".") if pre is not None else []
    for ident in identifiers:
        if not ident or _LEADING_ZERO.fullmatch(ident):
            return None
    if build is not None and "" in build.split("."):
        return None
    return precedence_key(int(major), int(minor or 0), int(patch or 0), identifiers)


class GoVersionScheme(VersionScheme):
    """Go module versions (x/mod/semver) and Go toolchain versions, on one SemVer scale."""

    name = "go"

    def key(self, version: str) -> SemverKey:
        """The SemVer precedence key of a module or toolchain version.

        Raises:
            InvalidVersionError: ``version`` is neither, is not ASCII, or is longer than
                256 characters.
        """
        if len(version) > MAX_VERSION_LENGTH or not version.isascii():
            raise InvalidVersionError(f"invalid Go version {version[:64]!r}: not ASCII or too long")
        key: SemverKey | None
        if version.startswith("go"):
            semver = go_tag_to_semver(version)
            key = None if semver is None else _module_key(semver)
        elif version.startswith("v"):
            key = _module_key(version)
        else:
            key = _module_key("v" + version)
            if key is None and not _GO_SPACE.search(version):
                semver = go_tag_to_semver("go" + version)
                key = None if semver is None else _module_key(semver)
        if key is None:
            raise InvalidVersionError(
                f"invalid Go version {version[:64]!r}: neither a module version (v1.2.3) "
                "nor a toolchain version (go1.2.3)"
            )
        return key
