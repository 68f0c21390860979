"""Parse and score CVSS vector strings as OSV ``severity[].score`` carries them.

Scored: CVSS v3.0 and v3.1 base, temporal and environmental scores, following the FIRST
v3.1 specification section 7 (v3.0 differences: the plain "ceil to one decimal" Roundup and
the v3.0 Modified Impact formula for a changed scope). Scores match the RedHat ``cvss``
reference library, which computes in exact decimals.

Scored: CVSS v4.0, by :mod:`sealyard.vulndb.cvss4` (specification section 8: MacroVectors,
FIRST's lookup table, severity distances). :func:`base_score` gives its CVSS-B score;
:func:`score_of` scores every metric group the vector carries, which :func:`nomenclature`
names (CVSS-B, CVSS-BT, CVSS-BE or CVSS-BTE). v4.0 has no temporal score, and its
environmental metrics are part of that one score, so :func:`temporal_score` and
:func:`environmental_score` stay v3-only.

CVSS v2 vectors (no ``CVSS:`` prefix) are rejected as an unknown format.

All functions are pure; bad vectors raise :class:`CvssError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

from sealyard.errors import UntrustedDataError
from sealyard.vulndb import cvss4
from sealyard.vulndb.cvss4 import Nomenclature

__all__ = [
    "MAX_VECTOR_LENGTH",
    "CvssError",
    "CvssVector",
    "Nomenclature",
    "Severity",
    "base_score",
    "environmental_score",
    "nomenclature",
    "parse_vector",
    "roundup_v30",
    "roundup_v31",
    "score_of",
    "severity",
    "temporal_score",
]

Severity = Literal["NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
Version = Literal["3.0", "3.1", "4.0"]

#: Longest vector accepted; a full v4.0 vector with every optional metric is ~250 characters.
MAX_VECTOR_LENGTH: Final = 512


class CvssError(UntrustedDataError):
    """A CVSS vector string is malformed: bad prefix, unknown or repeated metric, bad value."""


# --- metric tables -------------------------------------------------------------------------

_CIA: Final = ("H", "L", "N")

_V3_BASE: Final[Mapping[str, tuple[str, ...]]] = {
    "AV": ("N", "A", "L", "P"),
    "AC": ("L", "H"),
    "PR": ("N", "L", "H"),
    "UI": ("N", "R"),
    "S": ("U", "C"),
    "C": _CIA,
    "I": _CIA,
    "A": _CIA,
}
_V3_OPTIONAL: Final[Mapping[str, tuple[str, ...]]] = {
    "E": ("X", "H", "F", "P", "U"),
    "RL": ("X", "U", "W", "T", "O"),
    "RC": ("X", "C", "R", "U"),
    "CR": ("X", "H", "M", "L"),
    "IR": ("X", "H", "M", "L"),
    "AR": ("X", "H", "M", "L"),
    **{"M" + name: ("X", *values) for name, values in _V3_BASE.items()},
}

_V4_BASE: Final[Mapping[str, tuple[str, ...]]] = {
    "AV": ("N", "A", "L", "P"),
    "AC": ("L", "H"),
    "AT": ("N", "P"),
    "PR": ("N", "L", "H"),
    "UI": ("N", "P", "A"),
    "VC": _CIA,
    "VI": _CIA,
    "VA": _CIA,
    "SC": _CIA,
    "SI": _CIA,
    "SA": _CIA,
}
_V4_OPTIONAL: Final[Mapping[str, tuple[str, ...]]] = {
    "E": ("X", "A", "P", "U"),
    "CR": ("X", "H", "M", "L"),
    "IR": ("X", "H", "M", "L"),
    "AR": ("X", "H", "M", "L"),
    **{"M" + name: ("X", *values) for name, values in _V4_BASE.items()},
    # Safety (S) is a valid value only for the modified subsequent-system integrity/availability.
    "MSI": ("X", "S", *_CIA),
    "MSA": ("X", "S", *_CIA),
    "S": ("X", "N", "P"),
    "AU": ("X", "N", "Y"),
    "R": ("X", "A", "U", "I"),
    "V": ("X", "D", "C"),
    "RE": ("X", "L", "M", "H"),
    "U": ("X", "Clear", "Green", "Amber", "Red"),
}

_TABLES: Final[
    Mapping[str, tuple[Mapping[str, tuple[str, ...]], Mapping[str, tuple[str, ...]]]]
] = {
    "3.0": (_V3_BASE, _V3_OPTIONAL),
    "3.1": (_V3_BASE, _V3_OPTIONAL),
    "4.0": (_V4_BASE, _V4_OPTIONAL),
}

# v3 weights (specification v3.1 section 7.4).
_AV: Final = {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
_AC: Final = {"L": 0.77, "H": 0.44}
_PR_UNCHANGED: Final = {"N": 0.85, "L": 0.62, "H": 0.27}
_PR_CHANGED: Final = {"N": 0.85, "L": 0.68, "H": 0.5}
_UI: Final = {"N": 0.85, "R": 0.62}
_CIA_WEIGHT: Final = {"H": 0.56, "L": 0.22, "N": 0.0}
_E: Final = {"X": 1.0, "H": 1.0, "F": 0.97, "P": 0.94, "U": 0.91}
_RL: Final = {"X": 1.0, "U": 1.0, "W": 0.97, "T": 0.96, "O": 0.95}
_RC: Final = {"X": 1.0, "C": 1.0, "R": 0.96, "U": 0.92}
_REQ: Final = {"X": 1.0, "H": 1.5, "M": 1.0, "L": 0.5}


# --- model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CvssVector:
    """A validated CVSS vector.

    ``metrics`` maps every metric abbreviation present in the string to its value, in the
    order given; optional metrics that were absent are not filled in (absent means ``X``).
    """

    version: Version
    metrics: Mapping[str, str] = field(hash=False)

    def __post_init__(self) -> None:
        base, optional = _TABLES[self.version]
        _check_metrics(self.version, self.metrics, base, optional)
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))

    @property
    def vector(self) -> str:
        """The vector string, ``CVSS:<version>/`` followed by the metrics in stored order."""
        body = "/".join(f"{name}:{value}" for name, value in self.metrics.items())
        return f"CVSS:{self.version}/{body}"

    def value(self, name: str) -> str:
        """The value of metric ``name``; ``"X"`` (not defined) for an absent optional metric."""
        return self.metrics.get(name, "X")

    def __str__(self) -> str:
        return self.vector


def _check_metrics(
    version: str,
    metrics: Mapping[str, str],
    base: Mapping[str, tuple[str, ...]],
    optional: Mapping[str, tuple[str, ...]],
) -> None:
    for name, value in metrics.items():
        allowed = base.get(name) or optional.get(name)
        if allowed is None:
            raise CvssError(f"CVSS {version}: unknown metric {name!r}")
        if value not in allowed:
            raise CvssError(
                f"CVSS {version}: metric {name} has invalid value {value!r} "
                f"(expected one of {', '.join(allowed)})"
            )
    missing = [name for name in base if name not in metrics]
    if missing:
        raise CvssError(f"CVSS {version}: missing base metric(s) {', '.join(missing)}")


# --- parsing -------------------------------------------------------------------------------


def parse_vector(text: str) -> CvssVector:
    """Parse a ``CVSS:3.0/…``, ``CVSS:3.1/…`` or ``CVSS:4.0/…`` vector string.

    Metrics may appear in any order, but each at most once; every base metric is required.

    Raises:
        CvssError: the string is not a well-formed vector of a supported version.
    """
    if not isinstance(text, str):
        raise CvssError(f"CVSS vector must be a string, not {type(text).__name__}")
    if len(text) > MAX_VECTOR_LENGTH:
        raise CvssError(f"CVSS vector is longer than {MAX_VECTOR_LENGTH} characters")
    prefix, sep, body = text.partition("/")
    if not sep or not prefix.startswith("CVSS:"):
        raise CvssError(f"not a CVSS v3/v4 vector (missing 'CVSS:<version>/' prefix): {text!r}")
    version = prefix[len("CVSS:") :]
    if version not in _TABLES:
        raise CvssError(f"unsupported CVSS version {version!r}")
    metrics: dict[str, str] = {}
    for part in body.split("/"):
        name, colon, value = part.partition(":")
        if not colon or not name or not value:
            raise CvssError(f"CVSS {version}: malformed component {part!r} in {text!r}")
        if name in metrics:
            raise CvssError(f"CVSS {version}: metric {name} given more than once")
        metrics[name] = value
    return CvssVector(version=_as_version(version), metrics=metrics)


def _as_version(version: str) -> Version:
    if version == "3.0":
        return "3.0"
    if version == "3.1":
        return "3.1"
    return "4.0"


# --- rounding ------------------------------------------------------------------------------


def roundup_v31(value: float) -> float:
    """Roundup from CVSS v3.1 Appendix A: smallest one-decimal number >= ``value``.

    Works on integers scaled by 100 000 so that float noise such as ``4.000000000000001``
    rounds to ``4.0`` rather than ``4.1``.
    """
    int_input = round(value * 100_000)
    if int_input % 10_000 == 0:
        return int_input / 100_000.0
    return (math.floor(int_input / 10_000) + 1) / 10.0


def roundup_v30(value: float) -> float:
    """Roundup as CVSS v3.0 defines it: the plain ceiling to one decimal place.

    The input is first rounded to ten decimal places so binary float noise does not bump a
    mathematically exact result (``2.5 * 0.92`` is ``2.3000000000000003`` in floats, but the
    v3.0 Round up of 2.3 is 2.3). Unlike :func:`roundup_v31` no five-decimal cut-off applies.
    """
    return math.ceil(round(value * 10, 9)) / 10


# --- v3 scoring ----------------------------------------------------------------------------


def _roundup(vector: CvssVector, value: float) -> float:
    return roundup_v30(value) if vector.version == "3.0" else roundup_v31(value)


def _require_v3(vector: CvssVector) -> None:
    if vector.version not in ("3.0", "3.1"):
        raise ValueError(f"CVSS {vector.version} vectors have no v3 temporal/environmental score")


def _v3_base(vector: CvssVector) -> float:
    changed = vector.value("S") == "C"
    iss = 1 - (
        (1 - _CIA_WEIGHT[vector.value("C")])
        * (1 - _CIA_WEIGHT[vector.value("I")])
        * (1 - _CIA_WEIGHT[vector.value("A")])
    )
    impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 if changed else 6.42 * iss
    pr = (_PR_CHANGED if changed else _PR_UNCHANGED)[vector.value("PR")]
    exploitability = (
        8.22 * _AV[vector.value("AV")] * _AC[vector.value("AC")] * pr * _UI[vector.value("UI")]
    )
    if impact <= 0:
        return 0.0
    total = 1.08 * (impact + exploitability) if changed else impact + exploitability
    return _roundup(vector, min(total, 10.0))


def _temporal_factor(vector: CvssVector) -> float:
    return _E[vector.value("E")] * _RL[vector.value("RL")] * _RC[vector.value("RC")]


def _modified(vector: CvssVector, name: str) -> str:
    value = vector.value("M" + name)
    return vector.value(name) if value == "X" else value


def base_score(vector: CvssVector) -> float:
    """The CVSS base score, 0.0 to 10.0.

    For v4.0 this is the CVSS-B score: threat and environmental metrics are ignored.
    """
    if vector.version == "4.0":
        return cvss4.base_score(vector)
    return _v3_base(vector)


def nomenclature(vector: CvssVector) -> Nomenclature:
    """The v4.0 nomenclature of the score :func:`score_of` gives for ``vector``.

    Raises:
        ValueError: ``vector`` is not a v4.0 vector (programmer error).
    """
    return cvss4.nomenclature(vector)


def temporal_score(vector: CvssVector) -> float:
    """The CVSS v3 temporal score (equals the base score when no temporal metric is set).

    Raises:
        ValueError: ``vector`` is not a v3.x vector (programmer error).
    """
    _require_v3(vector)
    return _roundup(vector, _v3_base(vector) * _temporal_factor(vector))


def environmental_score(vector: CvssVector) -> float:
    """The CVSS v3 environmental score (equals the temporal score when none is set).

    Raises:
        ValueError: ``vector`` is not a v3.x vector (programmer error).
    """
    _require_v3(vector)
    changed = _modified(vector, "S") == "C"
    miss = min(
        1
        - (1 - _REQ[vector.value("CR")] * _CIA_WEIGHT[_modified(vector, "C")])
        * (1 - _REQ[vector.value("IR")] * _CIA_WEIGHT[_modified(vector, "I")])
        * (1 - _REQ[vector.value("AR")] * _CIA_WEIGHT[_modified(vector, "A")]),
        0.915,
    )
    if not changed:
        impact = 6.42 * miss
    elif vector.version == "3.0":
        impact = 7.52 * (miss - 0.029) - 3.25 * (miss - 0.02) ** 15
    else:
        impact = 7.52 * (miss - 0.029) - 3.25 * (miss * 0.9731 - 0.02) ** 13
    pr = (_PR_CHANGED if changed else _PR_UNCHANGED)[_modified(vector, "PR")]
    exploitability = (
        8.22
        * _AV[_modified(vector, "AV")]
        * _AC[_modified(vector, "AC")]
        * pr
        * _UI[_modified(vector, "UI")]
    )
    if impact <= 0:
        return 0.0
    total = 1.08 * (impact + exploitability) if changed else impact + exploitability
    return _roundup(vector, _roundup(vector, min(total, 10.0)) * _temporal_factor(vector))


# --- rating --------------------------------------------------------------------------------


def severity(score: float) -> Severity:
    """Qualitative severity rating (v3.1 section 5, same bands in v4.0).

    Raises:
        ValueError: ``score`` is outside 0.0 to 10.0 or not a number (programmer error).
    """
    if not 0.0 <= score <= 10.0:
        raise ValueError(f"CVSS score out of range: {score!r}")
    if score == 0.0:
        return "NONE"
    if score < 4.0:
        return "LOW"
    if score < 7.0:
        return "MEDIUM"
    if score < 9.0:
        return "HIGH"
    return "CRITICAL"


def score_of(text: object) -> tuple[float | None, Severity | None]:
    """Score and severity of a vector string; never raises.

    v3.x: the base score. v4.0: the score of every metric group the vector carries (threat
    and environmental metrics applied; :func:`nomenclature` says which). Returns
    ``(None, None)`` for anything that is not a valid v3.x or v4.0 vector.
    """
    if not isinstance(text, str):
        return None, None
    try:
        vector = parse_vector(text)
    except CvssError:
        return None, None
    score = cvss4.score(vector) if vector.version == "4.0" else _v3_base(vector)
    return score, severity(score)
