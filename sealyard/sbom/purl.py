"""Package URLs, built with ``packageurl-python`` (canonical encoding and qualifier order)."""

from __future__ import annotations

from collections.abc import Mapping

from packageurl import PackageURL

__all__ = ["purl"]


def purl(
    type_: str,
    name: str,
    version: str | None = None,
    *,
    namespace: str | None = None,
    qualifiers: Mapping[str, str | None] | None = None,
    subpath: str | None = None,
) -> str:
    """``pkg:type/namespace/name@version?qualifiers#subpath``; empty qualifiers are dropped."""
    quals = {k: v for k, v in (qualifiers or {}).items() if v}
    return str(
        PackageURL(
            type=type_,
            namespace=namespace or None,
            name=name,
            version=version or None,
            qualifiers=quals or None,
            subpath=subpath or None,
        ).to_string()
    )
