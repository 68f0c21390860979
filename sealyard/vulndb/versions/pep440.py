"""Python package versions: PEP 440 (OSV ecosystem ``PyPI``, purl type ``pypi``).

The order is the one of the Version specifiers specification
(https://packaging.python.org/en/latest/specifications/version-specifiers/, formerly
PEP 440), as implemented by ``packaging.version.Version``, the reference implementation
that pip uses:

* ``[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]``; the epoch ``N!`` outranks everything
  (``1!0.1 > 2.0``); release segments compare numerically with trailing zeroes ignored
  (``1.0.0 == 1.0``).
* Within a release: ``1.0.dev1 < 1.0a1.dev1 < 1.0a1 < 1.0b1 < 1.0rc1 < 1.0 < 1.0.post1.dev1
  < 1.0.post1``.
* A local version sorts after the same public version (``1.0 < 1.0+local < 1.0.post1``);
  local segments compare numerically when all digits, case-insensitively otherwise, with
  numbers above strings and a longer segment list after its prefix.
* Normalisation: case, ``v`` prefix, surrounding whitespace, alternative spellings
  (``alpha``, ``c``, ``pre``, ``preview``, ``rev``, ``r``), separators ``.``/``-``/``_``
  and implicit numbers (``1.0a`` == ``1.0a0``), implicit post releases (``1.0-1`` ==
  ``1.0.post1``).

Versions that break the grammar (legacy ``LegacyVersion`` strings such as ``1.0-foo``)
raise :class:`InvalidVersionError`, as do strings longer than 256 characters.
"""

from __future__ import annotations

from typing import Final

from packaging.version import InvalidVersion, Version

from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme

__all__ = ["MAX_VERSION_LENGTH", "Pep440VersionScheme"]

#: Longer version strings are rejected before they reach the parser.
MAX_VERSION_LENGTH: Final = 256


class Pep440VersionScheme(VersionScheme):
    """PEP 440 ordering, via ``packaging.version.Version``."""

    name = "pep440"

    def key(self, version: str) -> Version:
        """The parsed ``packaging`` version: ordered, hashable, equal for equal versions.

        Raises:
            InvalidVersionError: ``version`` breaks the PEP 440 grammar or is longer than
                :data:`MAX_VERSION_LENGTH`.
        """
        if len(version) > MAX_VERSION_LENGTH:
            raise InvalidVersionError(
                f"invalid PEP 440 version {version[:64]!r}: longer than "
                f"{MAX_VERSION_LENGTH} characters"
            )
        try:
            return Version(version)
        except InvalidVersion as exc:
            raise InvalidVersionError(f"invalid PEP 440 version {version[:64]!r}") from exc
