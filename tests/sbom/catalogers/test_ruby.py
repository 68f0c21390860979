"""The Ruby cataloger on RubyGems specification stubs (modern, platform, legacy, default)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from sealyard.sbom.catalogers import ruby
from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.catalogers.ruby import RubyCataloger, parse_gemspec
from sealyard.sbom.model import Location

SPECS = "usr/local/bundle/specifications"
DEFAULT = "usr/local/lib/ruby/gems/3.3.0/specifications/default"

# The long conditional lines RubyGems writes into every stub.
IF_RUBYGEMS = "if s.respond_to? :required_rubygems_version="
IF_METADATA = "if s.respond_to? :metadata="

# As RubyGems 3.5 writes it for rake 13.2.1.
RAKE = f"""\
# -*- encoding: utf-8 -*-
# stub: rake 13.2.1 ruby lib

Gem::Specification.new do |s|
  s.name = "rake".freeze
  s.version = "13.2.1".freeze

  s.required_rubygems_version = Gem::Requirement.new(">= 1.3.2".freeze) {IF_RUBYGEMS}
  s.metadata = {{ "bug_tracker_uri" => "https://github.com/ruby/rake/issues" }} {IF_METADATA}
  s.require_paths = ["lib".freeze]
  s.authors = ["Hiroshi SHIBATA".freeze, "Eric Hodel".freeze, "Jim Weirich".freeze]
  s.bindir = "exe".freeze
  s.date = "2024-04-05"
  s.description = "Rake is a Make-like program.\\n  s.name = \\"evil\\"\\n".freeze
  s.email = ["hsbt@ruby-lang.org".freeze, "drbrain@segment7.net".freeze, "".freeze]
  s.executables = ["rake".freeze]
  s.files = ["exe/rake".freeze]
  s.homepage = "https://github.com/ruby/rake".freeze
  s.licenses = ["MIT".freeze]
  s.required_ruby_version = Gem::Requirement.new(">= 2.3".freeze)
  s.rubygems_version = "3.5.9".freeze
  s.summary = "Rake is a Make-like program implemented in Ruby".freeze

  s.installed_by_version = "3.5.9".freeze if s.respond_to? :installed_by_version
end
"""

# A native gem: platform in the stub line and in s.platform.
NOKOGIRI = f"""\
# -*- encoding: utf-8 -*-
# stub: nokogiri 1.16.5 x86_64-linux lib

Gem::Specification.new do |s|
  s.name = "nokogiri".freeze
  s.version = "1.16.5"
  s.platform = "x86_64-linux".freeze

  s.required_rubygems_version = Gem::Requirement.new(">= 3.3.22".freeze) {IF_RUBYGEMS}
  s.require_paths = ["lib".freeze]
  s.authors = ["Mike Dalessio".freeze, "Aaron Patterson".freeze]
  s.licenses = ["MIT".freeze]
  s.summary = "Nokogiri (\\u92F8) makes it easy to work with XML and HTML.".freeze

  s.specification_version = 4

  s.add_runtime_dependency(%q<racc>.freeze, ["~> 1.4".freeze])
end
"""

# RubyGems 1.x era: %q{} literals, no stub line, singular license, a multi-line %q description
# whose continuation lines look like assignments.
LEGACY = f"""\
# -*- encoding: utf-8 -*-

Gem::Specification.new do |s|
  s.name = %q{{texticle}}
  s.version = "1.0.4.20101015113653"

  s.required_rubygems_version = Gem::Requirement.new(">= 0") {IF_RUBYGEMS}
  s.authors = ["Aaron Patterson"]
  s.date = %q{{2010-10-15}}
  s.description = %q{{Texticle exposes full text search capabilities from PostgreSQL.
  s.version = "9.9.9"
  s.license = 'GPL'}}
  s.license = 'Apache 2.0'
  s.rubygems_version = %q{{1.3.7}}
end
"""

# A default gem shipped with Ruby, dual-licensed, block variable named "spec".
JSON_DEFAULT = """\
# -*- encoding: utf-8 -*-
# stub: json 2.7.1 ruby lib

Gem::Specification.new do |spec|
  spec.name = "json".freeze
  spec.version = "2.7.1"
  spec.require_paths = ["lib".freeze]
  spec.licenses = ["Ruby".freeze, "BSD-2-Clause".freeze]
end
"""

FAKE_SPDX = {
    "MIT": "MIT",
    "Apache 2.0": "Apache-2.0",
    "Ruby": "Ruby",
    "BSD-2-Clause": "BSD-2-Clause",
}


@pytest.fixture(autouse=True)
def spdx(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin license normalisation to a small table (``to_spdx`` semantics: text back)."""
    fake: Callable[[str], str | None] = lambda text: FAKE_SPDX.get(text, text)  # noqa: E731
    monkeypatch.setattr(ruby, "to_spdx", fake)


def rec(path: str, data: str | bytes | None, layer: int = 0) -> FileRecord:
    raw = data.encode() if isinstance(data, str) else data
    return FileRecord(path=path, layer=layer, data=raw, size=len(raw or b""))


def scan(*records: FileRecord) -> CatalogResult:
    cataloger = RubyCataloger()
    assert all(cataloger.wants(r.path) for r in records)
    return cataloger.catalog(ImageFiles(files=records))


def test_wants_installed_specifications_only() -> None:
    c = RubyCataloger()
    for path in (
        f"{SPECS}/rake-13.2.1.gemspec",
        f"{DEFAULT}/json-2.7.1.gemspec",
        "var/lib/gems/3.1.0/specifications/nokogiri-1.16.5-x86_64-linux.gemspec",
        "app/vendor/bundle/ruby/3.3.0/specifications/rack-3.0.9.gemspec",
        "specifications/x-1.gemspec",
    ):
        assert c.wants(path), path
    for path in (
        "app/myapp.gemspec",  # a source gemspec is Ruby code, not an install record
        "usr/local/bundle/gems/rake-13.2.1/rake.gemspec",
        "usr/local/bundle/bundler/gems/rails-abc123/rails.gemspec",
        f"{SPECS}/rake-13.2.1.gemspec.bak",
        f"{SPECS}/sub/dir/x.gemspec",
        f"{SPECS}/README",
    ):
        assert not c.wants(path), path


def test_modern_stub() -> None:
    path = f"{SPECS}/rake-13.2.1.gemspec"
    result = scan(rec(path, RAKE, layer=6))
    assert result.warnings == []
    [pkg] = result.packages
    assert (pkg.name, pkg.version, pkg.type, pkg.found_by) == ("rake", "13.2.1", "gem", "ruby")
    assert pkg.purl == "pkg:gem/rake@13.2.1"
    assert pkg.licenses == ("MIT",)
    assert pkg.locations == (Location(path, 6),)
    assert pkg.layer == 6
    assert pkg.introduced_layer is None
    assert pkg.metadata == {}


def test_platform_gem_purl() -> None:
    [pkg] = scan(rec(f"{SPECS}/nokogiri-1.16.5-x86_64-linux.gemspec", NOKOGIRI)).packages
    assert (pkg.name, pkg.version) == ("nokogiri", "1.16.5")
    assert pkg.purl == "pkg:gem/nokogiri@1.16.5?platform=x86_64-linux"
    assert pkg.metadata == {"platform": "x86_64-linux"}


def test_legacy_spec_first_assignment_wins() -> None:
    [pkg] = scan(rec(f"{SPECS}/texticle-1.0.4.20101015113653.gemspec", LEGACY)).packages
    assert (pkg.name, pkg.version) == ("texticle", "1.0.4.20101015113653")
    assert pkg.purl == "pkg:gem/texticle@1.0.4.20101015113653"
    assert pkg.licenses == ("Apache-2.0",)


def test_default_gem_with_two_licenses() -> None:
    path = f"{DEFAULT}/json-2.7.1.gemspec"
    [pkg] = scan(rec(path, JSON_DEFAULT)).packages
    assert pkg.purl == "pkg:gem/json@2.7.1"
    assert pkg.licenses == ("Ruby", "BSD-2-Clause")
    assert pkg.metadata == {"default_gem": True}


def test_stub_line_fills_what_assignments_lack() -> None:
    text = """\
# stub: ffi 1.16.3 java lib
Gem::Specification.new do |s|
  s.name = "ffi".freeze
  s.version = FFI::VERSION
  s.platform = Gem::Platform.new(["universal", "java", nil])
end
"""
    spec = parse_gemspec(text)
    assert (spec.name, spec.version, spec.platform) == ("ffi", "1.16.3", "java")
    [pkg] = scan(rec(f"{SPECS}/ffi-1.16.3-java.gemspec", text)).packages
    assert pkg.purl == "pkg:gem/ffi@1.16.3?platform=java"


@pytest.mark.parametrize(
    ("expression", "licenses"),
    [
        ('s.licenses = ["MIT".freeze]', ("MIT",)),
        ("s.licenses = ['MIT', 'Apache 2.0']", ("MIT", "Apache-2.0")),
        ('s.license = "MIT"', ("MIT",)),
        ("s.licenses = [%q{MIT}, %q<GPL-2.0>]", ("MIT", "GPL-2.0")),
        ('s.licenses = ["MIT".freeze, "MIT".freeze]', ("MIT",)),
        ('s.licenses = ["".freeze]', ()),
        ("s.licenses = []", ()),
        ("", ()),
    ],
)
def test_license_forms(expression: str, licenses: tuple[str, ...]) -> None:
    text = (
        f'Gem::Specification.new do |s|\n  s.name = "x"\n  s.version = "1.0"\n  {expression}\nend\n'
    )
    [pkg] = scan(rec(f"{SPECS}/x-1.0.gemspec", text)).packages
    assert pkg.licenses == licenses


def test_string_escapes() -> None:
    spec = parse_gemspec('s.name = "we\\"ird"\ns.version = \'1.0\'\n')
    assert (spec.name, spec.version) == ('we"ird', "1.0")


def test_text_is_never_evaluated() -> None:
    text = (
        "Gem::Specification.new do |s|\n"
        "  s.name = `rm -rf /`\n"
        '  s.version = File.read("/etc/shadow")\n'
        "end\n"
    )
    result = scan(rec(f"{SPECS}/evil-1.gemspec", text))
    assert result.packages == []
    [warning] = result.warnings
    assert "name and version" in warning.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "name and version"),
        (b'\x04\x08[\x0bI"\x0b1.3.0\x06:\x06ET', "name and version"),  # a Marshal blob
        ('Gem::Specification.new do |s|\n  s.version = "1.0"\nend\n', "without name"),
        ('Gem::Specification.new do |s|\n  s.name = "x"\nend\n', "without version"),
        ('s.name = "two words"\ns.version = "1.0"\n', "implausible"),
    ],
)
def test_malformed_specs_warn(data: str | bytes, message: str) -> None:
    path = f"{SPECS}/broken-1.0.gemspec"
    result = scan(rec(path, data, layer=1))
    assert result.packages == []
    [warning] = result.warnings
    assert (warning.kind, warning.source, warning.path, warning.layer) == (
        "malformed",
        "ruby",
        path,
        1,
    )
    assert message in warning.message


def test_oversized_file_is_skipped_silently() -> None:
    result = scan(rec(f"{SPECS}/x-1.gemspec", None))
    assert result.packages == []
    assert result.warnings == []


def test_output_is_deterministic() -> None:
    records = [
        rec(f"{SPECS}/rake-13.2.1.gemspec", RAKE),
        rec(f"{SPECS}/nokogiri-1.16.5-x86_64-linux.gemspec", NOKOGIRI),
        rec(f"{DEFAULT}/json-2.7.1.gemspec", JSON_DEFAULT),
        rec(f"{SPECS}/broken.gemspec", ""),
    ]
    first = scan(*records)
    shuffled = records[:]
    random.Random(11).shuffle(shuffled)
    second = scan(*shuffled)
    assert first.packages == second.packages
    assert first.warnings == second.warnings


def test_real_licenses_module_normalises(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sealyard.sbom.licenses")
    monkeypatch.undo()
    [pkg] = scan(rec(f"{SPECS}/texticle-1.0.gemspec", LEGACY)).packages
    assert pkg.licenses == ("Apache-2.0",)


@pytest.mark.parametrize(
    "hostile",
    [
        "%q{" * 200_000,
        "'" + "a" * 500_000,
        '"\\' * 200_000,
        "#" * 500_000,
        "\n s.licenses = [" * 50_000,
    ],
)
def test_hostile_text_is_read_in_linear_time(hostile: str) -> None:
    result = scan(rec(f"{SPECS}/x-1.gemspec", hostile))
    assert result.packages == []
    assert len(result.warnings) == 1
