"""The Python cataloger on real core-metadata layouts (dist-info, egg-info dir and file)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from sealyard.sbom.catalogers import python
from sealyard.sbom.catalogers.interface import CatalogResult, FileRecord, ImageFiles
from sealyard.sbom.catalogers.python import PythonCataloger, canonical_name, classifier_license
from sealyard.sbom.model import Location

SITE = "usr/local/lib/python3.12/site-packages"

# Trimmed from PyYAML 6.0.2's wheel: License plus classifiers, a description body.
PYYAML_METADATA = """\
Metadata-Version: 2.1
Name: PyYAML
Version: 6.0.2
Summary: YAML parser and emitter for Python
Home-page: https://pyyaml.org/
Author: Kirill Simonov
Author-email: xi@resolvent.net
License: MIT
Platform: Any
Classifier: Development Status :: 5 - Production/Stable
Classifier: License :: OSI Approved :: MIT License
Classifier: Programming Language :: Python :: 3
Requires-Python: >=3.8
License-File: LICENSE

YAML is a data serialization format designed for human readability.
Name: not-a-header
"""

PYYAML_RECORD = """\
_yaml/__init__.py,sha256=04Ae_5osxahpJHa3XBZUAf4wi6XX32gR8D6X6p64GEA,1402
PyYAML-6.0.2.dist-info/INSTALLER,sha256=zuuue4knoyJ-UwPPXg8fezS7VCrXJQrAP7zeNuwvFQg,4
PyYAML-6.0.2.dist-info/METADATA,sha256=rVLKNHpO3NDU4QtRzS5ucQeEIxP6EMkganDORO1lp2A,2303
PyYAML-6.0.2.dist-info/RECORD,,
"yaml/odd,name.py",sha256=abc,10
yaml/__init__.py,sha256=sSM3fvHN4Q6J1Cw3ftPOm5Hb2ZYIxKW3a6L6jyBpWc4,12311
../../../bin/yaml-tool,sha256=def,100
../../../../../../../etc/escape,sha256=ghi,1

"""

# PEP 639 metadata (Metadata-Version 2.4) as written by current build backends.
ATTRS_METADATA = """\
Metadata-Version: 2.4
Name: attrs
Version: 25.3.0
Summary: Classes Without Boilerplate
License-Expression: MIT
License-File: LICENSE
Classifier: License :: OSI Approved :: Apache Software License
"""

# Debian's single-file egg-info (python3-criu ships crit-3.17.1-py3.11.egg-info).
CRIT_EGG_INFO = """\
Metadata-Version: 1.0
Name: crit
Version: 3.17.1
Summary: CRiu Image Tool
Home-page: https://github.com/checkpoint-restore/criu
Author: CRIU team
Author-email: criu@openvz.org
License: GPLv2
Description: UNKNOWN
Platform: UNKNOWN
"""

SIX_PKG_INFO = """\
Metadata-Version: 2.1
Name: six
Version: 1.16.0
Summary: Python 2 and 3 compatibility utilities
License: MIT
Platform: UNKNOWN
Classifier: License :: OSI Approved :: MIT License
Requires-Python: >=2.7, !=3.0.*, !=3.1.*, !=3.2.*
"""

FAKE_SPDX = {
    "MIT": "MIT",
    "MIT License": "MIT",
    "GPLv2": "GPL-2.0-only",
    "Apache 2.0": "Apache-2.0",
    "BSD-3-Clause OR Apache-2.0": "BSD-3-Clause OR Apache-2.0",
}


@pytest.fixture(autouse=True)
def spdx(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin license normalisation to a small table (``to_spdx`` semantics: text back)."""
    fake: Callable[[str], str | None] = lambda text: FAKE_SPDX.get(text, text)  # noqa: E731
    monkeypatch.setattr(python, "to_spdx", fake)


def rec(path: str, data: str | bytes | None, layer: int = 0) -> FileRecord:
    raw = data.encode() if isinstance(data, str) else data
    return FileRecord(path=path, layer=layer, data=raw, size=len(raw or b""))


def scan(*records: FileRecord) -> CatalogResult:
    cataloger = PythonCataloger()
    assert all(cataloger.wants(r.path) for r in records)
    return cataloger.catalog(ImageFiles(files=records))


def test_wants_only_metadata_files() -> None:
    c = PythonCataloger()
    for path in (
        f"{SITE}/PyYAML-6.0.2.dist-info/METADATA",
        f"{SITE}/PyYAML-6.0.2.dist-info/RECORD",
        "usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO",
        "usr/lib/python3/dist-packages/six-1.16.0.egg-info/installed-files.txt",
        "usr/lib/python3/dist-packages/crit-3.17.1-py3.11.egg-info",
    ):
        assert c.wants(path), path
    for path in (
        f"{SITE}/PyYAML-6.0.2.dist-info/top_level.txt",
        f"{SITE}/PyYAML-6.0.2.dist-info/WHEEL",
        "usr/lib/python3/dist-packages/six-1.16.0.egg-info/top_level.txt",
        f"{SITE}/yaml/METADATA",
        f"{SITE}/RECORD",
        "PKG-INFO",
        "src/PKG-INFO",
    ):
        assert not c.wants(path), path


def test_dist_info_with_record() -> None:
    result = scan(
        rec(f"{SITE}/PyYAML-6.0.2.dist-info/METADATA", PYYAML_METADATA, layer=3),
        rec(f"{SITE}/PyYAML-6.0.2.dist-info/RECORD", PYYAML_RECORD, layer=3),
    )
    assert result.warnings == []
    assert result.owned_files == set()  # language packages never claim files
    [pkg] = result.packages
    assert (pkg.name, pkg.version, pkg.type) == ("PyYAML", "6.0.2", "pypi")
    assert pkg.purl == "pkg:pypi/pyyaml@6.0.2"
    assert pkg.found_by == "python"
    assert pkg.licenses == ("MIT",)
    assert pkg.locations == (Location(f"{SITE}/PyYAML-6.0.2.dist-info/METADATA", 3),)
    assert pkg.layer == 3
    assert pkg.introduced_layer is None  # the scanner fills it from the path's first layer
    assert pkg.metadata["files"] == sorted(
        [
            f"{SITE}/_yaml/__init__.py",
            f"{SITE}/PyYAML-6.0.2.dist-info/INSTALLER",
            f"{SITE}/PyYAML-6.0.2.dist-info/METADATA",
            f"{SITE}/PyYAML-6.0.2.dist-info/RECORD",
            f"{SITE}/yaml/odd,name.py",
            f"{SITE}/yaml/__init__.py",
            "usr/local/bin/yaml-tool",
        ]
    )


def test_dist_info_without_record_has_no_file_list() -> None:
    [pkg] = scan(rec(f"{SITE}/attrs-25.3.0.dist-info/METADATA", ATTRS_METADATA)).packages
    assert "files" not in pkg.metadata


def test_record_absolute_entries_are_image_paths() -> None:
    record = "/usr/share/man/man1/tool.1,,\n../../../../../../..,,\nbad\0name.py,,\n"
    result = scan(
        rec(f"{SITE}/tool-1.0.dist-info/METADATA", "Name: tool\nVersion: 1.0\n"),
        rec(f"{SITE}/tool-1.0.dist-info/RECORD", record),
    )
    assert result.packages[0].metadata["files"] == ["usr/share/man/man1/tool.1"]


def test_unreadable_record_warns_but_keeps_package() -> None:
    result = scan(
        rec(f"{SITE}/tool-1.0.dist-info/METADATA", "Name: tool\nVersion: 1.0\n"),
        rec(f"{SITE}/tool-1.0.dist-info/RECORD", b'a.py,,1\n"b"c.py,,2\n'),
    )
    [pkg] = result.packages
    assert "files" not in pkg.metadata
    [warning] = result.warnings
    assert (warning.kind, warning.source) == ("malformed", "python")
    assert warning.path.endswith("RECORD")


def test_record_without_metadata_is_ignored() -> None:
    result = scan(rec(f"{SITE}/gone-1.0.dist-info/RECORD", "gone/__init__.py,,\n"))
    assert result.packages == []
    assert result.warnings == []


def test_license_expression_wins() -> None:
    [pkg] = scan(rec(f"{SITE}/attrs-25.3.0.dist-info/METADATA", ATTRS_METADATA)).packages
    assert pkg.licenses == ("MIT",)


def test_license_field_is_normalised() -> None:
    meta = (
        "Name: x\nVersion: 1\nLicense: Apache 2.0\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
    )
    [pkg] = scan(rec(f"{SITE}/x-1.dist-info/METADATA", meta)).packages
    assert pkg.licenses == ("Apache-2.0",)


@pytest.mark.parametrize(
    "license_header",
    [
        "",
        "License: UNKNOWN\n",
        "License: \n",
        # setuptools folds a multi-line license text into continuation lines
        "License: Copyright (c) 2004 Holger Krekel\n"
        "        Permission is hereby granted, free of charge, to any person\n",
        "License: " + "x" * 300 + "\n",
    ],
)
def test_classifiers_when_license_field_is_unusable(license_header: str) -> None:
    meta = (
        "Metadata-Version: 2.1\nName: x\nVersion: 1\n"
        + license_header
        + "Classifier: License :: OSI Approved :: MIT License\n"
        "Classifier: License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)\n"
        "Classifier: License :: OSI Approved\n"
        "Classifier: Programming Language :: Python\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
    )
    [pkg] = scan(rec(f"{SITE}/x-1.dist-info/METADATA", meta)).packages
    assert pkg.licenses == ("MIT", "GPL-2.0-or-later")


def test_no_license_at_all() -> None:
    [pkg] = scan(rec(f"{SITE}/x-1.dist-info/METADATA", "Name: x\nVersion: 1\n")).packages
    assert pkg.licenses == ()


@pytest.mark.parametrize(
    ("classifier", "expected"),
    [
        ("License :: OSI Approved :: MIT License", "MIT"),
        ("License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
        ("License :: OSI Approved :: GNU General Public License v3 (GPLv3)", "GPL-3.0-only"),
        ("License :: OSI Approved :: Python Software Foundation License", "PSF-2.0"),
        ("License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication", "CC0-1.0"),
        # ambiguous: handed to to_spdx (here: back unchanged)
        ("License :: OSI Approved :: BSD License", "BSD License"),
        ("License :: OSI Approved :: Apache Software License", "Apache Software License"),
        ("License :: Public Domain", "Public Domain"),
        ("License :: OSI Approved", None),
        ("Topic :: Software Development", None),
        ("License", None),
    ],
)
def test_classifier_license(classifier: str, expected: str | None) -> None:
    assert classifier_license(classifier) == expected


@pytest.mark.parametrize(
    ("name", "canonical", "purl"),
    [
        ("PyYAML", "pyyaml", "pkg:pypi/pyyaml@1.0"),
        ("zope.interface", "zope-interface", "pkg:pypi/zope.interface@1.0"),
        ("typing_extensions", "typing-extensions", "pkg:pypi/typing-extensions@1.0"),
        ("ruamel.yaml.clib", "ruamel-yaml-clib", "pkg:pypi/ruamel.yaml.clib@1.0"),
        ("Foo__Bar-.baz", "foo-bar-baz", "pkg:pypi/foo--bar-.baz@1.0"),
    ],
)
def test_purl_spec_names(name: str, canonical: str, purl: str) -> None:
    assert canonical_name(name) == canonical
    [pkg] = scan(
        rec(f"{SITE}/{name}-1.0.dist-info/METADATA", f"Name: {name}\nVersion: 1.0\n")
    ).packages
    assert pkg.name == name  # the declared spelling is kept
    assert pkg.purl == purl


def test_local_version_is_encoded_in_purl() -> None:
    meta = "Name: torch\nVersion: 2.3.1+cpu\n"
    [pkg] = scan(rec(f"{SITE}/torch-2.3.1+cpu.dist-info/METADATA", meta)).packages
    assert pkg.version == "2.3.1+cpu"
    assert pkg.purl == "pkg:pypi/torch@2.3.1%2Bcpu"


def test_egg_info_directory_with_installed_files() -> None:
    base = "usr/lib/python3/dist-packages/six-1.16.0.egg-info"
    result = scan(
        rec(f"{base}/PKG-INFO", SIX_PKG_INFO, layer=1),
        rec(
            f"{base}/installed-files.txt",
            "../six.py\n../__pycache__/six.cpython-311.pyc\nPKG-INFO\n\n",
        ),
    )
    [pkg] = result.packages
    assert pkg.purl == "pkg:pypi/six@1.16.0"
    assert pkg.licenses == ("MIT",)
    assert pkg.locations == (Location(f"{base}/PKG-INFO", 1),)
    assert pkg.metadata["files"] == [
        "usr/lib/python3/dist-packages/__pycache__/six.cpython-311.pyc",
        f"{base}/PKG-INFO",
        "usr/lib/python3/dist-packages/six.py",
    ]


def test_egg_info_single_file() -> None:
    path = "usr/lib/python3/dist-packages/crit-3.17.1-py3.11.egg-info"
    [pkg] = scan(rec(path, CRIT_EGG_INFO, layer=2)).packages
    assert (pkg.name, pkg.version, pkg.purl) == ("crit", "3.17.1", "pkg:pypi/crit@3.17.1")
    assert pkg.licenses == ("GPL-2.0-only",)
    assert pkg.locations == (Location(path, 2),)
    assert pkg.metadata == {}


def test_latin1_metadata_1_0() -> None:
    data = "Metadata-Version: 1.0\nName: caf\nVersion: 0.1\nAuthor: Jos\xe9\n".encode("latin-1")
    [pkg] = scan(rec("usr/lib/python2.7/dist-packages/caf-0.1.egg-info", data)).packages
    assert (pkg.name, pkg.version) == ("caf", "0.1")


def test_folded_headers_are_unfolded() -> None:
    meta = "Name: x\nVersion:\n  1.2\nLicense-Expression: BSD-3-Clause\n  OR Apache-2.0\n"
    [pkg] = scan(rec(f"{SITE}/x.dist-info/METADATA", meta)).packages
    assert pkg.version == "1.2"
    assert pkg.licenses == ("BSD-3-Clause OR Apache-2.0",)


@pytest.mark.parametrize(
    ("data", "missing"),
    [
        ("Metadata-Version: 2.1\nVersion: 1.0\n", "Name"),
        ("Metadata-Version: 2.1\nName: x\n", "Version"),
        ("", "Name and Version"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "Name and Version"),
        ("this is not a header block\nName: x\nVersion: 1\n", "Name and Version"),
        ("Name:   \nVersion: 1\n", "Name"),
    ],
)
def test_malformed_metadata_warns(data: str | bytes, missing: str) -> None:
    path = f"{SITE}/x-1.0.dist-info/METADATA"
    result = scan(rec(path, data, layer=4))
    assert result.packages == []
    [warning] = result.warnings
    assert (warning.kind, warning.source, warning.path, warning.layer) == (
        "malformed",
        "python",
        path,
        4,
    )
    assert missing in warning.message


def test_oversized_file_is_skipped_silently() -> None:
    # data=None: the walker has already recorded the member-too-large warning
    result = scan(rec(f"{SITE}/x-1.0.dist-info/METADATA", None))
    assert result.packages == []
    assert result.warnings == []


def test_one_bad_file_loses_only_itself() -> None:
    result = scan(
        rec(f"{SITE}/bad-1.0.dist-info/METADATA", "garbage"),
        rec(f"{SITE}/six-1.16.0.dist-info/METADATA", SIX_PKG_INFO),
    )
    assert [p.name for p in result.packages] == ["six"]
    assert len(result.warnings) == 1


def test_output_is_deterministic() -> None:
    records = [
        rec(f"{SITE}/PyYAML-6.0.2.dist-info/METADATA", PYYAML_METADATA),
        rec(f"{SITE}/PyYAML-6.0.2.dist-info/RECORD", PYYAML_RECORD),
        rec(f"{SITE}/attrs-25.3.0.dist-info/METADATA", ATTRS_METADATA),
        rec("usr/lib/python3/dist-packages/crit-3.17.1-py3.11.egg-info", CRIT_EGG_INFO),
        rec(f"{SITE}/bad.dist-info/METADATA", ""),
    ]
    first = scan(*records)
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    second = scan(*shuffled)
    assert first.packages == second.packages
    assert first.warnings == second.warnings


def test_record_found_through_lookup() -> None:
    meta = rec(f"{SITE}/tool-1.0.dist-info/METADATA", "Name: tool\nVersion: 1.0\n")
    record = rec(f"{SITE}/tool-1.0.dist-info/RECORD", "tool.py,,\n")
    image = ImageFiles(files=(meta,), lookup=lambda p: record if p == record.path else None)
    [pkg] = PythonCataloger().catalog(image).packages
    assert pkg.metadata["files"] == [f"{SITE}/tool.py"]


def test_real_licenses_module_normalises(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("sealyard.sbom.licenses")
    monkeypatch.undo()
    meta = "Name: x\nVersion: 1\nLicense: Apache 2.0\n"
    [pkg] = scan(rec(f"{SITE}/x-1.dist-info/METADATA", meta)).packages
    assert pkg.licenses == ("Apache-2.0",)
