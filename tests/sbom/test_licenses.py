"""License normalisation: DEP-5 short names, Alpine lists and free-form names to SPDX."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from sealyard.sbom.licenses import (
    ALIASES,
    EXCEPTIONS,
    SPDX_IDS,
    spdx_expression,
    to_spdx,
    try_spdx,
)

# Declared names as they appear in the License: fields of /usr/share/doc/*/copyright on
# Debian 12, in Alpine's L: fields and in RPM headers, with the expression we expect.
RECOGNISED = [
    ("GPL-2+", "GPL-2.0-or-later"),
    ("GPL-2", "GPL-2.0-only"),
    ("GPL-2.0+", "GPL-2.0-or-later"),
    ("GPL-2.0", "GPL-2.0-only"),
    ("GPLv3+", "GPL-3.0-or-later"),
    ("GPL2+", "GPL-2.0-or-later"),
    ("GPL-3.0-or-later", "GPL-3.0-or-later"),
    ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("LGPLv2.1+", "LGPL-2.1-or-later"),
    ("LGPL-2", "LGPL-2.0-only"),
    ("LGPL-3.0", "LGPL-3.0-only"),
    ("AGPL-3+", "AGPL-3.0-or-later"),
    ("GFDL-1.3+", "GFDL-1.3-or-later"),
    ("GFDL-NIV-1.3+", "GFDL-1.3-no-invariants-or-later"),
    ("Expat", "MIT"),
    ("MIT/X11", "MIT"),
    ("mit", "MIT"),
    ("BSD-3-clause", "BSD-3-Clause"),
    ("  BSD-3-Clause", "BSD-3-Clause"),
    ("BSD-2-clause", "BSD-2-Clause"),
    ("ZLIB", "Zlib"),
    ("zlib", "Zlib"),
    ("Apache 2.0", "Apache-2.0"),
    ("Apache-2", "Apache-2.0"),
    ("Apache License, Version 2.0", "Apache-2.0"),
    ("ASL 2.0", "Apache-2.0"),
    ("OpenLDAP-2.8", "OLDAP-2.8"),
    ("CC0", "CC0-1.0"),
    ("public domain (CC0)", "CC0-1.0"),
    ("Artistic", "Artistic-1.0-Perl"),
    ("curl", "curl"),
    ("LicenseRef-Proprietary", "LicenseRef-Proprietary"),
    # expressions
    ("GPL-1+ or Artistic", "GPL-1.0-or-later OR Artistic-1.0-Perl"),
    ("Artistic or GPL-1+", "Artistic-1.0-Perl OR GPL-1.0-or-later"),
    ("LGPL-2+ and LGPL-2.1+", "LGPL-2.0-or-later AND LGPL-2.1-or-later"),
    ("BSL-1.0 and MIT", "BSL-1.0 AND MIT"),
    ("libpng OR Apache-2.0 OR BSD-3-clause", "Libpng OR Apache-2.0 OR BSD-3-Clause"),
    ("LGPLv3+_or_GPLv2+", "LGPL-3.0-or-later OR GPL-2.0-or-later"),
    ("GPLv2+ and BSD-3-Clause", "GPL-2.0-or-later AND BSD-3-Clause"),
    ("MIT AND BSD-2-Clause", "MIT AND BSD-2-Clause"),
    ("(MIT OR Apache-2.0) AND BSD-3-Clause", "(MIT OR Apache-2.0) AND BSD-3-Clause"),
    ("MIT OR Apache-2.0 AND BSD-3-Clause", "MIT OR (Apache-2.0 AND BSD-3-Clause)"),
    ("MIT and MIT", "MIT"),
    # DEP-5: the comma binds loosest
    ("GPL-1+ or Artistic, and Expat", "(GPL-1.0-or-later OR Artistic-1.0-Perl) AND MIT"),
    (
        "GPL-1+ or Artistic or Artistic-2, and Zlib",
        "(GPL-1.0-or-later OR Artistic-1.0-Perl OR Artistic-2.0) AND Zlib",
    ),
    # exceptions
    ("GPL-2+ with Autoconf exception", "GPL-2.0-or-later WITH Autoconf-exception-2.0"),
    ("GPL-3+ with Autoconf exception", "GPL-3.0-or-later WITH Autoconf-exception-3.0"),
    ("GPL-3+ with Bison exception", "GPL-3.0-or-later WITH Bison-exception-2.2"),
    ("GPL-2+ with Libtool exception", "GPL-2.0-or-later WITH Libtool-exception"),
    ("GPL-2 with Linux-syscall-note exception", "GPL-2.0-only WITH Linux-syscall-note"),
    ("Apache-2.0 with LLVM exception", "Apache-2.0 WITH LLVM-exception"),
    ("GPL-2.0-only WITH Classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"),
    ("GPL-3+ with GCC exception", "GPL-3.0-or-later WITH GCC-exception-3.1"),
]

# Seen in real copyright files and package databases; no SPDX equivalent is certain.
UNRECOGNISED = [
    "public-domain",
    "BSD",  # which clauses?
    "GPL",  # which version?
    "LGPL",
    "permissive",
    "other",
    "BSL-1.0 and Jam",
    "GPL-2+ or AFL-2.1, and Expat and Tcl-BSDish",
    "LGPL-2.1+ with OpenSSL exception",
    "GPL with Classpath exception",
    "MIT BSD GPL2+",  # Alpine's space-separated list: split by the apk cataloger, not here
    "MIT, BSD-3-clause",  # a bare comma is not DEP-5 syntax
    "GPL-7+",
    "LGPL-2.2",
    "MIT (",
    "(MIT",
    "MIT OR",
    "with Autoconf exception",
    "Permission to use, copy, modify, and distribute this software and its",
]


@pytest.mark.parametrize(("declared", "expected"), RECOGNISED)
def test_recognised_names_become_spdx(declared: str, expected: str) -> None:
    assert to_spdx(declared) == expected
    assert try_spdx(declared) == expected


@pytest.mark.parametrize("declared", UNRECOGNISED)
def test_unrecognised_text_is_returned_unchanged(declared: str) -> None:
    assert try_spdx(declared) is None
    assert to_spdx(f"  {declared}\t") == declared


@pytest.mark.parametrize("blank", [None, "", "   ", "\n\t"])
def test_blank_declarations_give_none(blank: str | None) -> None:
    assert to_spdx(blank) is None
    assert try_spdx(blank) is None


def test_operators_are_case_insensitive_and_blanks_collapse() -> None:
    assert to_spdx("GPL-2+  OR\n BSD-3-clause") == "GPL-2.0-or-later OR BSD-3-Clause"
    assert to_spdx("mit And isc") == "MIT AND ISC"


def test_autoconf_exception_follows_the_gpl_version() -> None:
    assert EXCEPTIONS["autoconf"] == ("Autoconf-exception-2.0", "Autoconf-exception-3.0")
    assert to_spdx("GPL-2 with Autoconf exception") == "GPL-2.0-only WITH Autoconf-exception-2.0"
    assert to_spdx("GPL-3 with autoconf exception") == "GPL-3.0-only WITH Autoconf-exception-3.0"


def test_with_needs_a_single_license_on_its_left() -> None:
    assert try_spdx("(MIT OR GPL-2) with Autoconf exception") is None


def test_spdx_expression_conjoins_and_parenthesises() -> None:
    assert spdx_expression(["MIT", "BSD-2-Clause"]) == "MIT AND BSD-2-Clause"
    assert (
        spdx_expression(["MIT", "GPL-1.0-or-later OR Artistic-1.0-Perl"])
        == "MIT AND (GPL-1.0-or-later OR Artistic-1.0-Perl)"
    )
    assert (
        spdx_expression(["GPL-2.0-only WITH Linux-syscall-note", "MIT"])
        == "GPL-2.0-only WITH Linux-syscall-note AND MIT"
    )
    assert spdx_expression(["(A OR B)", "C"]) == "(A OR B) AND C"
    assert spdx_expression(["(A) AND (B)", "C"]) == "((A) AND (B)) AND C"


def test_spdx_expression_drops_blanks_and_repeats_keeps_order() -> None:
    assert spdx_expression(["ISC", "", "MIT", "ISC", "  "]) == "ISC AND MIT"
    assert spdx_expression(["A OR B"]) == "A OR B"
    assert spdx_expression([]) == ""
    assert spdx_expression(iter(["Zlib"])) == "Zlib"


def _spdx_list() -> set[str]:
    """The SPDX license and exception ids shipped with cyclonedx-python-lib (a dev dep)."""
    pytest.importorskip("cyclonedx")
    res = resources.files("cyclonedx.schema._res").joinpath("spdx.SNAPSHOT.schema.json")
    return set(json.loads(res.read_text(encoding="utf-8"))["enum"])


def _ids_in(expression: str) -> list[str]:
    words = expression.replace("(", " ").replace(")", " ").split()
    return [w for w in words if w not in ("AND", "OR", "WITH")]


def test_every_table_entry_is_a_real_spdx_id() -> None:
    known = _spdx_list()
    produced = set(SPDX_IDS)
    for target in ALIASES.values():
        produced.update(_ids_in(target))
    for exc in EXCEPTIONS.values():
        produced.update(exc if isinstance(exc, tuple) else (exc,))
    assert sorted(produced - known) == []


def test_recognised_results_are_valid_spdx_expressions() -> None:
    known = _spdx_list()
    for _declared, expected in RECOGNISED:
        unknown = [i for i in _ids_in(expected) if i not in known]
        assert unknown in ([], ["LicenseRef-Proprietary"]), expected


def test_recognised_results_parse_with_license_expression() -> None:
    license_expression = pytest.importorskip("license_expression")
    licensing = license_expression.get_spdx_licensing()
    for _declared, expected in RECOGNISED:
        if expected.startswith("LicenseRef-"):
            continue  # valid SPDX, but not a key license-expression knows
        info = licensing.validate(expected)
        assert info.errors == [], (expected, info.errors)
