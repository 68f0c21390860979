"""One version comparator per ecosystem, behind one small interface.

OSV ranges (``introduced``/``fixed``/``last_affected``/``limit``) and distro trackers are only
as good as the comparison of version strings. Every ecosystem has its own rules (dpkg's ``~``
sorting before the empty string, rpm's ``^``, PEP 440's local versions, Maven's qualifiers…);
each scheme implements them exactly and is tested on the hard cases.

A scheme turns a version string into a *key*: a value ordered exactly as the ecosystem orders
versions, so ``key(a) < key(b)`` is the comparison and keys can be sorted and cached.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sealyard.errors import UntrustedDataError

__all__ = ["InvalidVersionError", "VersionScheme"]


class InvalidVersionError(UntrustedDataError):
    """A version string does not follow its ecosystem's grammar."""


class VersionScheme(ABC):
    """The ordering of one ecosystem's versions."""

    #: Short identifier: "dpkg", "apk", "rpm", "pep440", "semver", "go", "maven".
    name: str = ""

    @abstractmethod
    def key(self, version: str) -> Any:
        """A totally ordered key of ``version``. Raises InvalidVersionError."""

    def cached_key(self, version: str) -> Any:
        """:meth:`key`, memoised per scheme instance (advisory bounds repeat endlessly).

        Bounded: the memo is dropped when it exceeds 500,000 entries. Errors are not cached.
        """
        memo: dict[str, Any] = self.__dict__.setdefault("_memo", {})
        try:
            return memo[version]
        except KeyError:
            pass
        value = self.key(version)
        if len(memo) > 500_000:
            memo.clear()
        memo[version] = value
        return value

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as ``a`` sorts before, equal to, or after ``b``."""
        ka, kb = self.key(a), self.key(b)
        return int((ka > kb) - (ka < kb))

    def is_valid(self, version: str) -> bool:
        try:
            self.key(version)
        except InvalidVersionError:
            return False
        return True
