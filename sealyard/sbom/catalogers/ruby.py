"""Installed Ruby gems: the specification stubs RubyGems writes at install time.

``<GEM_HOME>/specifications/<name>-<version>[-<platform>].gemspec`` (and
``specifications/default/`` for gems that ship with Ruby) is generated Ruby source::

    # stub: nokogiri 1.16.0 x86_64-linux lib
    Gem::Specification.new do |s|
      s.name = "nokogiri".freeze
      s.version = "1.16.0"
      s.platform = "x86_64-linux".freeze
      s.licenses = ["MIT".freeze]

It is parsed with regular expressions and never evaluated. Older RubyGems wrote ``%q{…}``
literals and no stub line; both forms are understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sealyard.sbom.catalogers.interface import (
    Cataloger,
    CatalogResult,
    FileRecord,
    ImageFiles,
    warn,
)
from sealyard.sbom.licenses import to_spdx
from sealyard.sbom.model import Location, Package
from sealyard.sbom.purl import purl

__all__ = ["GemSpec", "RubyCataloger", "parse_gemspec"]

_NAME = "ruby"

# One pass over the text, left to right. String literals and comments are consumed whole, so
# text inside them never looks like an assignment; an unterminated literal runs to the end
# (possessive loops), which keeps the scan linear on hostile input.
_TOKENS = re.compile(
    r"""(?P<assign>^[ \t]*+(?P<var>[A-Za-z_]\w*)\."""
    r"""(?P<attr>name|version|platform|licenses|license)[ \t]*=(?![=~])[ \t]*)"""
    r"""|"(?P<dq>(?:[^"\\]|\\.?)*+)(?:"|\Z)"""
    r"""|'(?P<sq>(?:[^'\\]|\\.?)*+)(?:'|\Z)"""
    r"""|%[qQ]?(?:\{(?P<brace>[^}]*+)(?:\}|\Z)|<(?P<angle>[^>]*+)(?:>|\Z)"""
    r"""|\((?P<paren>[^)]*+)(?:\)|\Z)|\[(?P<bracket>[^\]]*+)(?:\]|\Z))"""
    r"""|\#[^\n]*+""",
    re.MULTILINE | re.DOTALL,
)
_BLOCK = re.compile(r"Gem::Specification\.new\s+do\s*\|\s*(\w+)\s*\|")
_STUB = re.compile(r"^#\s*stub:\s*(\S+)\s+(\S+)\s+(\S+)", re.MULTILINE)
_ESCAPES = {"n": "\n", "t": "\t", "s": " ", "0": "\0"}
_SCALARS = frozenset({"name", "version", "platform"})


def _to_spdx(text: str) -> str | None:
    """The SPDX expression for a declared license name, or ``None`` if none is known."""
    return to_spdx(text)


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body, flags=re.DOTALL)


def _literal(match: re.Match[str]) -> str | None:
    if match.group("dq") is not None:
        return _unescape(match.group("dq"))
    if match.group("sq") is not None:
        return re.sub(r"\\([\\'])", r"\1", match.group("sq"))
    for group in ("brace", "angle", "paren", "bracket"):
        if match.group(group) is not None:
            return match.group(group)
    return None  # a comment


@dataclass(frozen=True)
class GemSpec:
    """What a specification stub declares (empty strings where it says nothing)."""

    name: str
    version: str
    platform: str
    licenses: tuple[str, ...]


def parse_gemspec(text: str) -> GemSpec:
    """Read ``name``, ``version``, ``platform`` and licenses from a gemspec without running it.

    Only literal values count: ``s.version = "1.0"`` or ``s.licenses = ["MIT".freeze]``, not
    ``s.version = Foo::VERSION``. The first assignment of each attribute wins; the
    ``# stub:`` line fills in what the assignments lack.
    """
    block = _BLOCK.search(text)
    var = block.group(1) if block else None
    found: dict[str, list[str]] = {}
    attribute: str | None = None  # the assignment whose value is being read
    line_end = expect_at = -1
    for match in _TOKENS.finditer(text):
        if match.group("assign") is not None:
            attribute = match.group("attr")
            if (var is not None and match.group("var") != var) or attribute in found:
                attribute = None
                continue
            found[attribute] = []
            line_end = text.find("\n", match.end())
            line_end = len(text) if line_end < 0 else line_end
            # a scalar's literal must come straight after "=", a list's after "["
            expect_at = match.end()
            if attribute not in _SCALARS and text.startswith("[", expect_at):
                expect_at = -1
            continue
        if attribute is None or match.start() > line_end:
            attribute = None
            continue
        value = _literal(match)
        if value is None:
            continue
        if expect_at >= 0 and match.start() != expect_at:
            attribute = None
            continue
        found[attribute].append(value.strip())
        if attribute in _SCALARS:
            attribute = None
    stub = _STUB.search(text)

    def scalar(name: str, stub_group: int) -> str:
        values = found.get(name) or []
        if values and values[0]:
            return values[0]
        return stub.group(stub_group) if stub else ""

    licenses = found.get("licenses") or found.get("license") or []
    return GemSpec(
        name=scalar("name", 1),
        version=scalar("version", 2),
        platform=scalar("platform", 3),
        licenses=tuple(dict.fromkeys(lic for lic in licenses if lic)),
    )


class RubyCataloger(Cataloger):
    """Gems installed by RubyGems or Bundler (``specifications/*.gemspec``)."""

    name = _NAME

    def wants(self, path: str) -> bool:
        if not path.endswith(".gemspec"):
            return False
        directory, _, _ = path.rpartition("/")
        return directory in ("specifications", "specifications/default") or directory.endswith(
            ("/specifications", "/specifications/default")
        )

    def catalog(self, image: ImageFiles) -> CatalogResult:
        result = CatalogResult()
        for record in sorted(image.files, key=lambda r: r.path):
            if record.data is not None:
                self._read(record, result)
        return result

    def _read(self, record: FileRecord, result: CatalogResult) -> None:
        assert record.data is not None

        def problem(message: str) -> None:
            result.warnings.append(warn(_NAME, "malformed", message, record.path, record.layer))

        spec = parse_gemspec(record.data.decode("utf-8", errors="replace"))
        missing = [f for f in ("name", "version") if not getattr(spec, f)]
        if missing:
            problem(f"gemspec without {' and '.join(missing)}")
            return
        if any(c.isspace() for c in spec.name + spec.version):
            problem(f"implausible gem name or version {spec.name!r} {spec.version!r}")
            return
        platform = spec.platform if spec.platform not in ("", "ruby") else None
        try:
            package_url = purl("gem", spec.name, spec.version, qualifiers={"platform": platform})
        except ValueError as exc:
            problem(f"no package URL for {spec.name!r}: {exc}")
            return
        metadata: dict[str, object] = {}
        if platform:
            metadata["platform"] = platform
        if "/specifications/default/" in f"/{record.path}":
            metadata["default_gem"] = True
        result.packages.append(
            Package(
                name=spec.name,
                version=spec.version,
                type="gem",
                purl=package_url,
                found_by=_NAME,
                locations=(Location(record.path, record.layer),),
                licenses=tuple(dict.fromkeys((_to_spdx(x) or x) for x in spec.licenses)),
                metadata=metadata,
                layer=record.layer,
            )
        )
