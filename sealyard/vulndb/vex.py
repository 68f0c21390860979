"""VEX documents: OpenVEX and CycloneDX VEX, one model, and who says what about a finding.

A VEX statement tells a scanner's user that a vulnerability does or does not affect a
product. Both formats parse into :class:`VexDocument` holding :class:`VexStatement` objects
whose ``status`` uses OpenVEX's four labels; CycloneDX analysis states map onto them and keep
their own label in ``label``:

================== ====================================================================
OpenVEX status     CycloneDX ``analysis.state``
================== ====================================================================
``not_affected``   ``not_affected``, ``false_positive``
``fixed``          ``resolved``, ``resolved_with_pedigree``
``affected``       ``exploitable``
``under_investigation`` ``in_triage``
================== ====================================================================

Matching (:meth:`VexSet.decide`) follows the OpenVEX reference implementation (go-vex):

* **vulnerability**: the statement's name, ``@id`` or any alias equals any identifier of the
  finding (its id, aliases and merged records), compared case-insensitively;
* **product**: a purl in ``@id`` or ``identifiers.purl`` matches the package purl when type,
  namespace and name are equal, the version is equal or absent from the statement (a
  versionless purl means every version), every qualifier the statement gives is present with
  the same value (qualifiers it leaves out are unconstrained: ``pkg:deb/debian/openssl``
  covers ``…?arch=amd64``) and a subpath, if given, is equal;
* a product naming the **image** (a ``pkg:oci`` purl matching the image's purl, or whose
  version or ``sha-256`` hash is the image's manifest digest) covers its ``subcomponents``
  only, or every package of the image when it lists none;
* a CycloneDX ``affects[].ref`` is resolved to the component of the VEX document that has
  that ``bom-ref`` (and its purl), else taken as a purl, else compared with the finding's
  package ``bom-ref`` in Sealyard's own CycloneDX SBOM (also in BOM-Link form
  ``urn:cdx:…#ref``).

When several statements match, the latest wins: ordered by timestamp (a statement's own
timestamp overrides its document's), then by document order on the command line, then by
position in the document. The model is pure; :func:`load_vex` is the only I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from packageurl import PackageURL

from sealyard.errors import SizeLimitError, UntrustedDataError, UsageError

__all__ = [
    "CYCLONEDX_JUSTIFICATIONS",
    "MAX_VEX_BYTES",
    "OPENVEX_JUSTIFICATIONS",
    "Component",
    "Product",
    "Status",
    "Target",
    "VexDocument",
    "VexError",
    "VexMatch",
    "VexSet",
    "VexStatement",
    "load_vex",
    "parse_vex",
    "purl_matches",
]

#: Largest VEX file :func:`load_vex` reads.
MAX_VEX_BYTES: Final = 32 * 1024 * 1024
#: Most statements (OpenVEX) or vulnerabilities (CycloneDX) one document may hold.
MAX_STATEMENTS: Final = 100_000

Status = Literal["not_affected", "affected", "fixed", "under_investigation"]
STATUSES: Final[tuple[Status, ...]] = ("not_affected", "affected", "fixed", "under_investigation")
_STATUS_BY_LABEL: Final[Mapping[str, Status]] = {s: s for s in STATUSES}

OPENVEX_JUSTIFICATIONS: Final = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)
CYCLONEDX_JUSTIFICATIONS: Final = (
    "code_not_present",
    "code_not_reachable",
    "requires_configuration",
    "requires_dependency",
    "requires_environment",
    "protected_by_compiler",
    "protected_at_runtime",
    "protected_at_perimeter",
    "protected_by_mitigating_control",
)
_CDX_STATES: Final[Mapping[str, Status]] = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "resolved": "fixed",
    "resolved_with_pedigree": "fixed",
    "exploitable": "affected",
    "in_triage": "under_investigation",
}
_CDX_RESPONSES: Final = (
    "can_not_fix",
    "will_not_fix",
    "update",
    "rollback",
    "workaround_available",
)
_OPENVEX_CONTEXT: Final = "https://openvex.dev/ns"
_EARLIEST: Final = datetime.min.replace(tzinfo=UTC)


class VexError(UntrustedDataError):
    """A VEX document is malformed or not a VEX document at all."""


# --- model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """Something a statement names: identifiers (IRIs, purls, bom-refs) and hashes.

    ``hashes`` hold ``algorithm:value`` strings with OpenVEX's algorithm names
    (``sha-256:ab12…``).
    """

    identifiers: tuple[str, ...] = ()
    hashes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.identifiers and not self.hashes:
            raise VexError("a product or subcomponent needs an identifier or a hash")


@dataclass(frozen=True)
class Product(Component):
    """A statement's product; ``subcomponents`` narrow it to parts (packages of an image)."""

    subcomponents: tuple[Component, ...] = ()


@dataclass(frozen=True)
class VexStatement:
    """One assertion: ``status`` of ``vulnerability`` in ``products`` at ``timestamp``.

    ``label`` is the status as the document wrote it (a CycloneDX state such as
    ``false_positive``); ``ref`` names the statement in its document (its ``@id``, or
    ``statements[3]`` / ``vulnerabilities[0]``).
    """

    vulnerability: str
    status: Status
    products: tuple[Product, ...]
    aliases: tuple[str, ...] = ()
    label: str = ""
    justification: str = ""
    impact_statement: str = ""
    action_statement: str = ""
    timestamp: datetime | None = None
    ref: str = ""

    def __post_init__(self) -> None:
        if not self.vulnerability:
            raise VexError(f"{self.ref or 'statement'}: no vulnerability")
        if self.status not in STATUSES:
            raise VexError(f"{self.ref or 'statement'}: unknown status {self.status!r}")
        if not self.products:
            raise VexError(f"{self.ref or 'statement'}: names no product")

    @property
    def names(self) -> frozenset[str]:
        """Every identifier of the vulnerability, case-folded."""
        return frozenset(n.casefold() for n in (self.vulnerability, *self.aliases) if n)

    @property
    def suppresses(self) -> bool:
        """Whether the statement says there is nothing to act on (not affected, or fixed)."""
        return self.status in ("not_affected", "fixed")


@dataclass(frozen=True)
class VexDocument:
    """A parsed VEX document; ``source`` says where it came from (a path) for reports."""

    format: Literal["openvex", "cyclonedx"]
    id: str
    statements: tuple[VexStatement, ...]
    source: str = ""
    author: str = ""
    timestamp: datetime | None = None

    @property
    def name(self) -> str:
        """How reports name the document: its id, else its source."""
        return self.id or self.source or "(unnamed VEX document)"


@dataclass(frozen=True)
class Target:
    """A finding's package as VEX documents can name it.

    Attributes:
        purl: the package's purl.
        bom_ref: the package's ``bom-ref`` in Sealyard's CycloneDX SBOM, if known.
        image_purl: the image's ``pkg:oci`` purl, if derivable.
        image_digests: the image's manifest digest and repository digests.
    """

    purl: str
    bom_ref: str = ""
    image_purl: str = ""
    image_digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class VexMatch:
    """The statement that decides a finding, with the document it came from."""

    document: VexDocument
    statement: VexStatement

    @property
    def timestamp(self) -> datetime | None:
        return self.statement.timestamp or self.document.timestamp


# --- matching ------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def _parse_purl(text: str) -> PackageURL | None:
    if not text.startswith("pkg:"):
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _qualifiers(p: PackageURL) -> Mapping[str, str]:
    q = p.qualifiers
    return q if isinstance(q, Mapping) else {}


def purl_matches(general: str, specific: str) -> bool:
    """Whether the purl ``general`` (from a VEX document) covers the purl ``specific``.

    Type, namespace and name must be equal; a version in ``general`` must equal
    ``specific``'s; every qualifier of ``general`` must be in ``specific`` with the same value
    (``specific`` may have more); a subpath in ``general`` must be equal. Unparseable purls
    match nothing.
    """
    g, s = _parse_purl(general), _parse_purl(specific)
    if g is None or s is None:
        return False
    if (g.type, g.namespace or "", g.name) != (s.type, s.namespace or "", s.name):
        return False
    if g.version and g.version != s.version:
        return False
    have = _qualifiers(s)
    if any(have.get(k) != v for k, v in _qualifiers(g).items()):
        return False
    return not g.subpath or g.subpath == s.subpath


def _fragment(ref: str) -> str:
    """The bom-ref inside a BOM-Link (``urn:cdx:serial/version#ref``), else ``ref``."""
    if ref.startswith("urn:cdx:") and "#" in ref:
        return ref.split("#", 1)[1]
    return ref


def _names_package(component: Component, target: Target) -> bool:
    for ident in component.identifiers:
        if ident.startswith("pkg:"):
            if purl_matches(ident, target.purl):
                return True
        elif target.bom_ref and _fragment(ident) == target.bom_ref:
            return True
    return False


def _names_image(component: Component, target: Target) -> bool:
    digests = {d.rsplit("@", 1)[-1] for d in target.image_digests if d}
    for ident in component.identifiers:
        parsed = _parse_purl(ident)
        if parsed is None or parsed.type != "oci":
            continue
        if parsed.version and parsed.version in digests:
            return True
        if target.image_purl and purl_matches(ident, target.image_purl):
            return True
    hexes = {d.split(":", 1)[1] for d in digests if d.startswith("sha256:")}
    return any(
        h.split(":", 1)[0] == "sha-256" and h.split(":", 1)[1].lower() in hexes
        for h in component.hashes
    )


def _covers(product: Product, target: Target) -> bool:
    if _names_package(product, target):
        return True
    if not _names_image(product, target):
        return False
    return not product.subcomponents or any(
        _names_package(sub, target) for sub in product.subcomponents
    )


@dataclass(frozen=True)
class VexSet:
    """The VEX documents of one scan, in the order they were given."""

    documents: tuple[VexDocument, ...] = ()
    _by_name: Mapping[str, tuple[tuple[int, int], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        index: dict[str, list[tuple[int, int]]] = {}
        for d, doc in enumerate(self.documents):
            for s, stmt in enumerate(doc.statements):
                for name in stmt.names:
                    index.setdefault(name, []).append((d, s))
        object.__setattr__(self, "_by_name", {k: tuple(v) for k, v in index.items()})

    def decide(self, identifiers: Iterable[str], target: Target) -> VexMatch | None:
        """The latest statement about any of ``identifiers`` that covers ``target``."""
        positions = sorted(
            {pos for i in identifiers if i for pos in self._by_name.get(i.casefold(), ())}
        )
        best: tuple[tuple[datetime, int, int], VexMatch] | None = None
        for d, s in positions:
            doc = self.documents[d]
            stmt = doc.statements[s]
            if not any(_covers(p, target) for p in stmt.products):
                continue
            match = VexMatch(doc, stmt)
            key = (match.timestamp or _EARLIEST, d, s)
            if best is None or key > best[0]:
                best = (key, match)
        return None if best is None else best[1]


# --- parsing helpers -----------------------------------------------------------------------


def _str(value: Any, where: str, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise VexError(f"{where} is required")
        return ""
    if not isinstance(value, str):
        raise VexError(f"{where} must be a string")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise VexError(f"{where} must be a list")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise VexError(f"{where} must be an object")
    return value


def _time(value: Any, where: str) -> datetime | None:
    text = _str(value, where)
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise VexError(f"{where}: {text!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise VexError(f"{where}: {text!r} has no time zone")
    return parsed


def _count(items: Sequence[Any], where: str) -> None:
    if len(items) > MAX_STATEMENTS:
        raise VexError(f"{where}: more than {MAX_STATEMENTS} entries")


# --- OpenVEX -------------------------------------------------------------------------------


def _openvex_component(value: Any, where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if isinstance(value, str):  # v0.0.1 listed products as plain identifiers
        return (_str(value, where, required=True),), ()
    obj = _object(value, where)
    idents = [_str(obj.get("@id"), f"{where}.@id")]
    identifiers = obj.get("identifiers")
    if identifiers is not None:
        for kind, ident in _object(identifiers, f"{where}.identifiers").items():
            idents.append(_str(ident, f"{where}.identifiers.{kind}"))
    hashes = obj.get("hashes")
    digests: list[str] = []
    if hashes is not None:
        for alg, digest in _object(hashes, f"{where}.hashes").items():
            digests.append(f"{alg.lower()}:{_str(digest, f'{where}.hashes.{alg}')}")
    found = tuple(i for i in idents if i)
    if not found and not digests:
        raise VexError(f"{where} needs an @id, identifiers or hashes")
    return found, tuple(digests)


def _openvex_product(value: Any, where: str) -> Product:
    idents, hashes = _openvex_component(value, where)
    subs: list[Component] = []
    if isinstance(value, Mapping):
        for i, sub in enumerate(_list(value.get("subcomponents"), f"{where}.subcomponents")):
            s_idents, s_hashes = _openvex_component(sub, f"{where}.subcomponents[{i}]")
            subs.append(Component(s_idents, s_hashes))
    return Product(idents, hashes, tuple(subs))


def _openvex_vulnerability(value: Any, where: str) -> tuple[str, tuple[str, ...]]:
    if isinstance(value, str):  # v0.0.1: the vulnerability was a plain id
        return _str(value, where, required=True), ()
    obj = _object(value, where)
    name = _str(obj.get("name"), f"{where}.name", required=True)
    aliases = [
        _str(a, f"{where}.aliases[{i}]")
        for i, a in enumerate(_list(obj.get("aliases"), f"{where}.aliases"))
    ]
    iri = _str(obj.get("@id"), f"{where}.@id")
    return name, tuple(a for a in (*aliases, iri) if a)


def _openvex_statement(value: Any, where: str) -> VexStatement:
    obj = _object(value, where)
    vuln, aliases = _openvex_vulnerability(obj.get("vulnerability"), f"{where}.vulnerability")
    label = _str(obj.get("status"), f"{where}.status", required=True)
    status = _STATUS_BY_LABEL.get(label)
    if status is None:
        raise VexError(f"{where}.status: {label!r} is not one of {', '.join(STATUSES)}")
    justification = _str(obj.get("justification"), f"{where}.justification")
    if justification and justification not in OPENVEX_JUSTIFICATIONS:
        raise VexError(f"{where}.justification: {justification!r} is not an OpenVEX label")
    impact = _str(obj.get("impact_statement"), f"{where}.impact_statement")
    if status == "not_affected" and not justification and not impact:
        raise VexError(f"{where}: not_affected needs a justification or an impact_statement")
    products = [
        _openvex_product(p, f"{where}.products[{i}]")
        for i, p in enumerate(_list(obj.get("products"), f"{where}.products"))
    ]
    if obj.get("subcomponents") is not None:
        # OpenVEX v0.0.1 kept subcomponents beside the products; they apply to each product.
        subs = tuple(
            Component(*_openvex_component(s, f"{where}.subcomponents[{i}]"))
            for i, s in enumerate(_list(obj.get("subcomponents"), f"{where}.subcomponents"))
        )
        products = [Product(p.identifiers, p.hashes, p.subcomponents + subs) for p in products]
    if not products:
        raise VexError(f"{where}: names no product")
    return VexStatement(
        vulnerability=vuln,
        aliases=aliases,
        status=status,
        label=label,
        products=tuple(products),
        justification=justification,
        impact_statement=impact,
        action_statement=_str(obj.get("action_statement"), f"{where}.action_statement"),
        timestamp=_time(obj.get("timestamp"), f"{where}.timestamp"),
        ref=_str(obj.get("@id"), f"{where}.@id") or where,
    )


def _parse_openvex(doc: Mapping[str, Any], source: str) -> VexDocument:
    timestamp = _time(doc.get("timestamp"), "timestamp")
    raw = _list(doc.get("statements"), "statements")
    _count(raw, "statements")
    statements = tuple(_openvex_statement(s, f"statements[{i}]") for i, s in enumerate(raw))
    for stmt in statements:
        if stmt.timestamp is None and timestamp is None:
            raise VexError(f"{stmt.ref}: no timestamp, and the document has none")
    return VexDocument(
        format="openvex",
        id=_str(doc.get("@id"), "@id"),
        statements=statements,
        source=source,
        author=_str(doc.get("author"), "author"),
        timestamp=timestamp,
    )


# --- CycloneDX VEX -------------------------------------------------------------------------


def _cdx_components(doc: Mapping[str, Any]) -> dict[str, str]:
    """``bom-ref`` → purl of every component (nested ones included) that has both."""
    refs: dict[str, str] = {}
    metadata = doc.get("metadata")
    stack: list[Any] = list(_list(doc.get("components"), "components"))
    if isinstance(metadata, Mapping) and isinstance(metadata.get("component"), Mapping):
        stack.append(metadata["component"])
    seen = 0
    while stack:
        comp = stack.pop()
        seen += 1
        if seen > MAX_STATEMENTS:
            raise VexError(f"components: more than {MAX_STATEMENTS} entries")
        if not isinstance(comp, Mapping):
            raise VexError("components must hold objects")
        ref, purl = comp.get("bom-ref"), comp.get("purl")
        if isinstance(ref, str) and isinstance(purl, str) and ref and purl:
            refs[ref] = purl
        stack.extend(_list(comp.get("components"), "components[].components"))
    return refs


def _cdx_statement(value: Any, where: str, components: Mapping[str, str]) -> VexStatement | None:
    obj = _object(value, where)
    vuln = _str(obj.get("id"), f"{where}.id", required=True)
    analysis = obj.get("analysis")
    if analysis is None:
        return None  # no analysis: the document says nothing about exploitability
    analysis = _object(analysis, f"{where}.analysis")
    state = _str(analysis.get("state"), f"{where}.analysis.state")
    if not state:
        return None
    if state not in _CDX_STATES:
        raise VexError(f"{where}.analysis.state: {state!r} is not a CycloneDX state")
    justification = _str(analysis.get("justification"), f"{where}.analysis.justification")
    if justification and justification not in CYCLONEDX_JUSTIFICATIONS:
        raise VexError(
            f"{where}.analysis.justification: {justification!r} is not a CycloneDX label"
        )
    responses = [
        _str(r, f"{where}.analysis.response[{i}]")
        for i, r in enumerate(_list(analysis.get("response"), f"{where}.analysis.response"))
    ]
    for r in responses:
        if r not in _CDX_RESPONSES:
            raise VexError(f"{where}.analysis.response: {r!r} is not a CycloneDX response")
    detail = _str(analysis.get("detail"), f"{where}.analysis.detail")
    aliases = []
    for i, ref in enumerate(_list(obj.get("references"), f"{where}.references")):
        aliases.append(
            _str(_object(ref, f"{where}.references[{i}]").get("id"), f"{where}.references[{i}].id")
        )
    products = []
    for i, affected in enumerate(_list(obj.get("affects"), f"{where}.affects")):
        ref = _str(
            _object(affected, f"{where}.affects[{i}]").get("ref"),
            f"{where}.affects[{i}].ref",
            required=True,
        )
        resolved = components.get(ref) or components.get(_fragment(ref))
        products.append(Product(tuple(dict.fromkeys(x for x in (resolved, ref) if x))))
    if not products:
        raise VexError(f"{where}: affects names no component")
    status = _CDX_STATES[state]
    action = detail if status == "affected" else ""
    if status == "affected" and responses:
        action = "; ".join(filter(None, [", ".join(responses), detail]))
    timestamp = (
        _time(analysis.get("lastUpdated"), f"{where}.analysis.lastUpdated")
        or _time(analysis.get("firstIssued"), f"{where}.analysis.firstIssued")
        or _time(obj.get("updated"), f"{where}.updated")
        or _time(obj.get("published"), f"{where}.published")
    )
    return VexStatement(
        vulnerability=vuln,
        aliases=tuple(a for a in aliases if a),
        status=status,
        label=state,
        products=tuple(products),
        justification=justification,
        impact_statement=detail if status != "affected" else "",
        action_statement=action,
        timestamp=timestamp,
        ref=_str(obj.get("bom-ref"), f"{where}.bom-ref") or where,
    )


def _parse_cyclonedx(doc: Mapping[str, Any], source: str) -> VexDocument:
    metadata = doc.get("metadata")
    timestamp = None
    if metadata is not None:
        timestamp = _time(_object(metadata, "metadata").get("timestamp"), "metadata.timestamp")
    components = _cdx_components(doc)
    raw = _list(doc.get("vulnerabilities"), "vulnerabilities")
    _count(raw, "vulnerabilities")
    statements = [_cdx_statement(v, f"vulnerabilities[{i}]", components) for i, v in enumerate(raw)]
    serial = _str(doc.get("serialNumber"), "serialNumber")
    version = doc.get("version")
    ident = f"{serial}/{version}" if serial and isinstance(version, int) else serial
    return VexDocument(
        format="cyclonedx",
        id=ident,
        statements=tuple(s for s in statements if s is not None),
        source=source,
        timestamp=timestamp,
    )


# --- entry points --------------------------------------------------------------------------


def parse_vex(doc: Any, *, source: str = "") -> VexDocument:
    """Parse an OpenVEX or CycloneDX VEX document given as JSON data.

    Raises:
        VexError: it is neither format, or violates the format in a way that would make a
            suppression wrong (unknown status, ``not_affected`` without justification,
            statement without product or timestamp, malformed time).
    """
    try:
        if not isinstance(doc, Mapping):
            raise VexError("a VEX document must be a JSON object")
        context = doc.get("@context")
        if isinstance(context, str) and context.startswith(_OPENVEX_CONTEXT):
            return _parse_openvex(doc, source)
        if doc.get("bomFormat") == "CycloneDX":
            return _parse_cyclonedx(doc, source)
        raise VexError("not an OpenVEX document (@context) nor a CycloneDX BOM (bomFormat)")
    except VexError as exc:
        raise VexError(f"{source}: {exc}" if source else str(exc)) from None


def load_vex(path: Path, *, max_bytes: int = MAX_VEX_BYTES) -> VexDocument:
    """Read and parse the VEX document at ``path`` (JSON, at most ``max_bytes``).

    Raises:
        UsageError: the file cannot be read.
        SizeLimitError: the file is larger than ``max_bytes``.
        VexError: the content is not a valid VEX document.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"cannot read VEX file {path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise SizeLimitError(f"{path}: VEX file larger than {max_bytes} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise VexError(f"{path}: not valid JSON: {str(exc).splitlines()[0]}") from None
    return parse_vex(doc, source=str(path))
