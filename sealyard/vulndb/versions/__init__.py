"""Version schemes by name; :func:`scheme` gives one (cached)."""

from __future__ import annotations

import functools
import importlib

from sealyard.vulndb.versions.interface import InvalidVersionError, VersionScheme

__all__ = ["SCHEMES", "InvalidVersionError", "VersionScheme", "scheme"]

#: scheme name -> module:class
SCHEMES = {
    "dpkg": "dpkg:DpkgVersionScheme",
    "apk": "apk:ApkVersionScheme",
    "rpm": "rpm:RpmVersionScheme",
    "pep440": "pep440:Pep440VersionScheme",
    "semver": "semver:SemverVersionScheme",
    "go": "go:GoVersionScheme",
    "maven": "maven:MavenVersionScheme",
}


@functools.cache
def scheme(name: str) -> VersionScheme:
    """The version scheme called ``name``. Raises KeyError for an unknown name."""
    module_name, _, class_name = SCHEMES[name].partition(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    instance: VersionScheme = getattr(module, class_name)()
    return instance
