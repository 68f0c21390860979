"""Normalise declared license names to SPDX license expressions.

Package databases declare licenses in their own dialects: Debian's DEP-5 short names
(``GPL-2+``, ``Expat``, ``BSD-3-clause``, ``GPL-1+ or Artistic``, ``GPL-2+ with Autoconf
exception``), Alpine's space-separated lists (``MIT BSD GPL2+``), free-form names
(``Apache 2.0``, ``MIT/X11``). :func:`to_spdx` turns one such declaration into an SPDX
expression when every license in it is recognised, and otherwise hands back the declared
text unchanged: an SBOM must not invent a license.

Recognition, for each license term (case-insensitive, blanks collapsed):

1. :data:`ALIASES`, the documented table of non-SPDX names;
2. :data:`SPDX_IDS`, common SPDX identifiers, which get their canonical spelling
   (``bsd-3-clause`` → ``BSD-3-Clause``); ``LicenseRef-…`` passes through;
3. the GNU families by pattern: ``GPL``/``LGPL``/``AGPL``/``GFDL``/``GFDL-NIV`` with a
   version written ``2``, ``2.0``, ``v2``, ``-2``, ``v2.1`` and an optional ``+``,
   ``-or-later`` or ``-only``; a ``+`` means "or later", no suffix means "only" (as DEP-5
   defines it). Unversioned ``GPL``/``LGPL`` are *not* guessed.

Expressions: ``and``/``or``/``with`` in any case, parentheses, and DEP-5's comma, which
binds loosest (``A or B, and C`` is ``(A OR B) AND C``). ``with`` takes an exception from
:data:`EXCEPTIONS` (``Autoconf exception`` → ``Autoconf-exception-2.0`` or ``-3.0``
following the GPL version), or an SPDX exception id.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["ALIASES", "EXCEPTIONS", "SPDX_IDS", "spdx_expression", "to_spdx", "try_spdx"]

#: Common SPDX license identifiers, canonical spelling (recognised case-insensitively).
SPDX_IDS: frozenset[str] = frozenset(
    """
    0BSD AAL AFL-1.1 AFL-1.2 AFL-2.0 AFL-2.1 AFL-3.0 AGPL-1.0-only AGPL-1.0-or-later
    AGPL-3.0-only AGPL-3.0-or-later Apache-1.0 Apache-1.1 Apache-2.0 APSL-2.0 Artistic-1.0
    Artistic-1.0-Perl Artistic-1.0-cl8 Artistic-2.0 Beerware BlueOak-1.0.0 BSD-1-Clause
    BSD-2-Clause BSD-2-Clause-Patent BSD-3-Clause BSD-3-Clause-Clear BSD-3-Clause-LBNL
    BSD-3-Clause-No-Nuclear-License BSD-4-Clause BSD-4-Clause-UC BSD-Source-Code BSL-1.0
    bzip2-1.0.6 CC-BY-1.0 CC-BY-2.0 CC-BY-2.5 CC-BY-3.0 CC-BY-4.0 CC-BY-SA-1.0 CC-BY-SA-2.0
    CC-BY-SA-2.5 CC-BY-SA-3.0 CC-BY-SA-4.0 CC-BY-NC-4.0 CC-BY-ND-4.0 CC-BY-NC-SA-4.0 CC0-1.0
    CDDL-1.0 CDDL-1.1 CECILL-2.0 CECILL-2.1 CECILL-B CECILL-C CPL-1.0 curl ECL-2.0 EFL-2.0
    EPL-1.0 EPL-2.0 EUPL-1.1 EUPL-1.2 FSFAP FSFUL FSFULLR FTL GFDL-1.1-only
    GFDL-1.1-or-later GFDL-1.2-only GFDL-1.2-or-later GFDL-1.3-only GFDL-1.3-or-later
    GFDL-1.2-no-invariants-only GFDL-1.2-no-invariants-or-later GFDL-1.3-no-invariants-only
    GFDL-1.3-no-invariants-or-later GPL-1.0-only GPL-1.0-or-later GPL-2.0-only
    GPL-2.0-or-later GPL-3.0-only GPL-3.0-or-later HPND HPND-sell-variant ICU IJG Info-ZIP
    IPA ISC JSON LGPL-2.0-only LGPL-2.0-or-later LGPL-2.1-only LGPL-2.1-or-later
    LGPL-3.0-only LGPL-3.0-or-later Libpng libpng-2.0 libtiff LPPL-1.3c MirOS MIT MIT-0
    MIT-CMU MIT-Modern-Variant MPL-1.0 MPL-1.1 MPL-2.0 MPL-2.0-no-copyleft-exception MS-PL
    MS-RL MulanPSL-2.0 NCSA NTP OFL-1.0 OFL-1.1 OLDAP-2.8 OpenSSL OSL-3.0 PHP-3.0 PHP-3.01
    PostgreSQL PSF-2.0 Python-2.0 Python-2.0.1 Ruby SGI-B-2.0 Sleepycat SMLNJ SSPL-1.0 TCL
    Unicode-3.0 Unicode-DFS-2015 Unicode-DFS-2016 Unlicense UPL-1.0 Vim W3C W3C-20150513
    WTFPL X11 XFree86-1.1 Zlib zlib-acknowledgement ZPL-2.0 ZPL-2.1
    """.split()  # noqa: SIM905
)

#: Non-SPDX names seen in package databases (lower-case, blanks collapsed) → SPDX id or
#: expression. Debian DEP-5 short names first (copyright-format/1.0 §"License
#: specification"), then common free-form spellings. Deliberately absent because they are
#: ambiguous: ``BSD`` (which clauses?), bare ``GPL``/``LGPL`` (which version?),
#: ``public-domain`` (not a license SPDX can name), ``other``, ``permissive``.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        # DEP-5 short names
        "apache-1": "Apache-1.0",
        "apache-1.1": "Apache-1.1",
        "apache-2": "Apache-2.0",
        # Debian's /usr/share/common-licenses/Artistic is the Perl Artistic License.
        "artistic": "Artistic-1.0-Perl",
        "artistic-1": "Artistic-1.0",
        "artistic-2": "Artistic-2.0",
        "bsd-2-clause-freebsd": "BSD-2-Clause",
        "bsd-2": "BSD-2-Clause",
        "bsd-3": "BSD-3-Clause",
        "bsd-4": "BSD-4-Clause",
        "cc0": "CC0-1.0",
        "expat": "MIT",
        "mpl-1": "MPL-1.0",
        "mpl-2": "MPL-2.0",
        "openldap-2.8": "OLDAP-2.8",
        "boost": "BSL-1.0",
        "boost-1.0": "BSL-1.0",
        "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later",
        "psf-2": "PSF-2.0",
        "tcl": "TCL",
        "zope-2.1": "ZPL-2.1",
        # free-form spellings
        "artistic 2.0": "Artistic-2.0",
        "asl 1.1": "Apache-1.1",
        "asl 2": "Apache-2.0",
        "gpl+": "GPL-1.0-or-later",  # Fedora's legacy name for "any GPL version"
        "mpl 2.0": "MPL-2.0",
        "mplv1.1": "MPL-1.1",
        "mplv2.0": "MPL-2.0",
        "apache 2": "Apache-2.0",
        "apache 2.0": "Apache-2.0",
        "apache v2": "Apache-2.0",
        "apache-v2": "Apache-2.0",
        "apache2": "Apache-2.0",
        "apache-2.0 license": "Apache-2.0",
        "apache license 2.0": "Apache-2.0",
        "apache license, version 2.0": "Apache-2.0",
        "apache software license 2.0": "Apache-2.0",
        "asl 2.0": "Apache-2.0",
        "bsd 2-clause": "BSD-2-Clause",
        "bsd 3-clause": "BSD-3-Clause",
        "bsd-2-clause license": "BSD-2-Clause",
        "bsd-3-clause license": "BSD-3-Clause",
        "2-clause bsd": "BSD-2-Clause",
        "3-clause bsd": "BSD-3-Clause",
        "new bsd": "BSD-3-Clause",
        "simplified bsd": "BSD-2-Clause",
        "cc0 1.0": "CC0-1.0",
        "mit license": "MIT",
        "mit/x": "MIT",
        "mit/x11": "MIT",
        "mit/expat": "MIT",
        "isc license": "ISC",
        "mozilla public license 2.0": "MPL-2.0",
        "public domain (cc0)": "CC0-1.0",
        "zlib/libpng": "Zlib",
        "openssl license": "OpenSSL",
    }
)

#: Exception names as DEP-5 writes them after ``with`` (lower-case, without the trailing word
#: ``exception``) → SPDX exception id. A tuple means (GPL-2 variant, GPL-3 variant).
EXCEPTIONS: Mapping[str, str | tuple[str, str]] = MappingProxyType(
    {
        "autoconf": ("Autoconf-exception-2.0", "Autoconf-exception-3.0"),
        "bison": "Bison-exception-2.2",
        "classpath": "Classpath-exception-2.0",
        "font": "Font-exception-2.0",
        "gcc": ("GCC-exception-2.0", "GCC-exception-3.1"),
        "gcc runtime library": ("GCC-exception-2.0", "GCC-exception-3.1"),
        "libtool": "Libtool-exception",
        "linux-syscall-note": "Linux-syscall-note",
        "llvm": "LLVM-exception",
        "openjdk assembly": "OpenJDK-assembly-exception-1.0",
    }
)

_SPDX_EXCEPTION_IDS: frozenset[str] = frozenset(
    """
    Autoconf-exception-2.0 Autoconf-exception-3.0 Bison-exception-2.2
    Classpath-exception-2.0 Font-exception-2.0 GCC-exception-2.0 GCC-exception-3.1
    Libtool-exception Linux-syscall-note LLVM-exception OpenJDK-assembly-exception-1.0
    Qt-GPL-exception-1.0 Qt-LGPL-exception-1.1 u-boot-exception-2.0 WxWindows-exception-3.1
    """.split()  # noqa: SIM905
)

_BY_LOWER: Mapping[str, str] = MappingProxyType({i.lower(): i for i in SPDX_IDS})
_EXC_BY_LOWER: Mapping[str, str] = MappingProxyType({i.lower(): i for i in _SPDX_EXCEPTION_IDS})

_GNU = re.compile(
    r"^(?P<fam>agpl|lgpl|gpl|gfdl-niv|gfdl)[-_ ]?(?:v(?:ersion)?[-_ ]?)?"
    r"(?P<major>\d)(?:\.(?P<minor>\d))?(?:\.0)?"
    r"(?P<suffix>\+|-or-later| or later|-only)?$"
)
_GNU_VERSIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "gpl": frozenset({"1.0", "2.0", "3.0"}),
        "lgpl": frozenset({"2.0", "2.1", "3.0"}),
        "agpl": frozenset({"1.0", "3.0"}),
        "gfdl": frozenset({"1.1", "1.2", "1.3"}),
        "gfdl-niv": frozenset({"1.2", "1.3"}),
    }
)

_OPERATORS = frozenset({"and", "or", "with"})
_TOKEN = re.compile(r"\(|\)|,|[^\s(),]+")


def _gnu(term: str) -> str | None:
    m = _GNU.match(term)
    if m is None:
        return None
    family = m["fam"]
    version = f"{m['major']}.{m['minor'] or '0'}"
    if version not in _GNU_VERSIONS[family]:
        return None
    later = "-or-later" if m["suffix"] not in (None, "-only") else "-only"
    if family == "gfdl-niv":
        return f"GFDL-{version}-no-invariants{later}"
    return f"{family.upper()}-{version}{later}"


def _license_id(term: str) -> str | None:
    """One license name → SPDX id (or alias expression), ``None`` if not recognised."""
    key = " ".join(term.split()).lower()
    if key in ALIASES:
        return ALIASES[key]
    if key in _BY_LOWER:
        return _BY_LOWER[key]
    if key.startswith("licenseref-") and len(key) > len("licenseref-") and " " not in key:
        return term.strip()
    # Deprecated SPDX spellings GPL-2.0 / GPL-2.0+ are handled by the GNU pattern.
    return _gnu(key)


def _exception_id(phrase: str, license_id: str) -> str | None:
    key = " ".join(phrase.split()).lower()
    if key in _EXC_BY_LOWER:
        return _EXC_BY_LOWER[key]
    key = key.removesuffix(" exception").removesuffix("-exception")
    found = EXCEPTIONS.get(key)
    if found is None:
        return None
    if isinstance(found, tuple):
        return found[1] if license_id.startswith(("GPL-3", "LGPL-3", "AGPL-3")) else found[0]
    return found


# A tiny expression tree: ("id", text) | ("with", text) | ("and"|"or", children).
@dataclass(frozen=True)
class _Node:
    op: str
    text: str = ""
    children: tuple[_Node, ...] = ()


class _Unrecognised(Exception):
    pass


class _Parser:
    """Recursive descent over DEP-5/SPDX license expressions (see module docstring)."""

    def __init__(self, text: str) -> None:
        self.tokens = _TOKEN.findall(text)
        self.pos = 0

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _is_op(self, token: str | None, *ops: str) -> bool:
        return token is not None and token.lower() in ops

    def parse(self) -> _Node:
        node = self._comma()
        if self._peek() is not None:
            raise _Unrecognised
        return node

    def _comma(self) -> _Node:
        node = self._binary("or")
        while self._peek() == ",":
            self.pos += 1
            op = self._peek()
            if not self._is_op(op, "and", "or"):
                raise _Unrecognised  # "MIT, BSD": DEP-5 does not define a bare comma
            assert op is not None
            self.pos += 1
            node = _combine(op.lower(), node, self._binary("or"))
        return node

    def _binary(self, op: str) -> _Node:
        lower = self._with if op == "and" else lambda: self._binary("and")
        node = lower()
        while self._is_op(self._peek(), op):
            self.pos += 1
            node = _combine(op, node, lower())
        return node

    def _words(self) -> str:
        words: list[str] = []
        while True:
            token = self._peek()
            if token is None or token in ("(", ")", ","):
                break
            if self._is_op(token, *_OPERATORS):
                break
            words.append(token)
            self.pos += 1
        if not words:
            raise _Unrecognised
        return " ".join(words)

    def _with(self) -> _Node:
        node = self._primary()
        if self._is_op(self._peek(), "with"):
            self.pos += 1
            if node.op != "id":
                raise _Unrecognised
            exception = _exception_id(self._words(), node.text)
            if exception is None:
                raise _Unrecognised
            return _Node("with", f"{node.text} WITH {exception}")
        return node

    def _primary(self) -> _Node:
        if self._peek() == "(":
            self.pos += 1
            node = self._comma()
            if self._peek() != ")":
                raise _Unrecognised
            self.pos += 1
            return node
        found = _license_id(self._words())
        if found is None:
            raise _Unrecognised
        if " " in found:  # an alias that is itself an expression ("perl")
            return _Parser(found).parse()
        return _Node("id", found)


def _combine(op: str, left: _Node, right: _Node) -> _Node:
    children: list[_Node] = []
    for side in (left, right):
        children.extend(side.children if side.op == op else (side,))
    return _Node(op, children=tuple(children))


def _render(node: _Node) -> str:
    if node.op in ("id", "with"):
        return node.text
    parts = [f"({_render(c)})" if c.op in ("and", "or") else _render(c) for c in node.children]
    return f" {node.op.upper()} ".join(_dedupe(parts))


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


@functools.lru_cache(maxsize=4096)
def try_spdx(text: str | None) -> str | None:
    """The SPDX expression for ``text`` if every license in it is recognised, else ``None``."""
    if text is None:
        return None
    text = " ".join(text.split())
    if not text:
        return None
    whole = _license_id(text)  # names with commas/operators inside ("Apache License, Version 2.0")
    if whole is not None:
        return _render(_Parser(whole).parse()) if " " in whole else whole
    # DEP-5 files also use "_or_" in names such as "LGPLv3+_or_GPLv2+".
    text = re.sub(r"_(or|and)_", r" \1 ", text, flags=re.IGNORECASE)
    try:
        return _render(_Parser(text).parse())
    except _Unrecognised:
        return None


def to_spdx(text: str | None) -> str | None:
    """Normalise one declared license to an SPDX expression.

    ``None`` for missing or blank input; the SPDX expression when every license in it is
    recognised (``"GPL-2+"`` → ``"GPL-2.0-or-later"``, ``"GPL-1+ or Artistic"`` →
    ``"GPL-1.0-or-later OR Artistic-1.0-Perl"``); otherwise the declared text, stripped.
    """
    if text is None or not text.strip():
        return None
    return try_spdx(text) or text.strip()


def _fully_parenthesised(expr: str) -> bool:
    if not (expr.startswith("(") and expr.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(expr):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i < len(expr) - 1:
            return False
    return True


def spdx_expression(ids: Iterable[str]) -> str:
    """Conjoin licenses (ids or expressions) with ``AND``: ``["MIT", "A OR B"]`` →
    ``"MIT AND (A OR B)"``. Blank and repeated entries are dropped, order is kept; a single
    entry comes back as is, no entries give ``""``. Entries are not normalised: pass them
    through :func:`to_spdx` first."""
    items = _dedupe(i.strip() for i in ids if i and i.strip())
    if len(items) == 1:
        return items[0]
    parts: list[str] = []
    for item in items:
        simple = len(item.split()) == 1 or re.fullmatch(r"\S+ WITH \S+", item) is not None
        parts.append(item if simple or _fully_parenthesised(item) else f"({item})")
    return " AND ".join(parts)
