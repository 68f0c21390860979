"""CVSS v4.0 scores, following section 8 of FIRST's v4.0 specification.

A v4.0 score is not a formula over metric weights. The vector falls into one *MacroVector*,
its six equivalence-set levels EQ1 to EQ6, and FIRST's table (:mod:`._cvss4_table`) gives
the MacroVector's score, which is the score of its highest severity vectors. The vector's
score is that value lowered by the mean, over the EQs that have a next lower MacroVector, of

    (MacroVector score - next lower MacroVector score) * severity distance / depth

where the severity distance is how far the vector lies below a highest severity vector of
its MacroVector in the EQ's metrics and the depth is the EQ level's largest such distance plus
one (both in steps of 0.1). The result is clamped to 0.0..10.0 and rounded half up to one
decimal. A vector without any impact (all of VC, VI, VA, SC, SI, SA are None) scores 0.0.

Threat and environmental metrics take part exactly as the specification says: a modified
base metric (``MAV`` ... ``MSA``) replaces its base metric unless it is ``X``, ``MSI:S`` and
``MSA:S`` (Safety) are the most severe subsequent-system values, ``E:X`` counts as ``E:A`` and
``CR/IR/AR:X`` count as ``H``. Supplemental metrics do not change the score. Which groups a
vector carries is its :func:`nomenclature` (CVSS-B, CVSS-BT, CVSS-BE or CVSS-BTE).

The arithmetic is exact, in integers: table scores and distances are whole numbers of
tenths and depths are small integers, so no binary rounding error can push a value across a
rounding boundary. FIRST's calculator computes in binary floats and adds 1e-6 before
rounding to the same effect; both give identical scores (tests compare with RedHat's ``cvss``
library on every base vector and on random threat/environmental vectors).

Functions take a validated :class:`~sealyard.vulndb.cvss.CvssVector`; use
:func:`sealyard.vulndb.cvss.parse_vector` on untrusted text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal

from sealyard.vulndb import _cvss4_table as table

if TYPE_CHECKING:
    from sealyard.vulndb.cvss import CvssVector

__all__ = [
    "Nomenclature",
    "base_score",
    "macro_vector",
    "nomenclature",
    "score",
]

Nomenclature = Literal["CVSS-B", "CVSS-BT", "CVSS-BE", "CVSS-BTE"]

_BASE: Final = ("AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA")
_IMPACT: Final = ("VC", "VI", "VA", "SC", "SI", "SA")
_REQUIREMENTS: Final = ("CR", "IR", "AR")
_REQUIREMENT_OF: Final = (("CR", "VC"), ("IR", "VI"), ("AR", "VA"))
_THREAT: Final = ("E",)
_ENVIRONMENTAL: Final = (*_REQUIREMENTS, *("M" + name for name in _BASE))

_EQ5: Final[Mapping[str, int]] = {"A": 0, "P": 1, "U": 2}

# Next lower MacroVectors of a combined (EQ3, EQ6) level; from (0, 0) there are two and the
# higher scoring one counts. (2, 1) has none: EQ3 = 2 only exists with EQ6 = 1.
_EQ3_EQ6_LOWER: Final[Mapping[tuple[int, int], tuple[tuple[int, int], ...]]] = {
    (0, 0): ((0, 1), (1, 0)),
    (0, 1): ((1, 1),),
    (1, 0): ((1, 1),),
    (1, 1): ((2, 1),),
    (2, 1): (),
}


_MaxVector = tuple[tuple[str, int], ...]  # (metric, severity level) pairs


def _parse_max(text: str) -> _MaxVector:
    parts = (part.partition(":") for part in text.split("/"))
    return tuple((name, table.SEVERITY_LEVELS[name][value]) for name, _, value in parts)


def _parsed(
    vectors: Mapping[int, tuple[str, ...]] | Mapping[tuple[int, int], tuple[str, ...]],
) -> dict[object, tuple[_MaxVector, ...]]:
    return {level: tuple(_parse_max(text) for text in texts) for level, texts in vectors.items()}


_TENTHS: Final = {key: round(value * 10) for key, value in table.MACROVECTOR_SCORES.items()}
_DEPTH_LCM: Final = math.lcm(
    *table.EQ1_DEPTH.values(),
    *table.EQ2_DEPTH.values(),
    *table.EQ3_EQ6_DEPTH.values(),
    *table.EQ4_DEPTH.values(),
    *table.EQ5_DEPTH.values(),
)

_MAX_VECTORS: Final = (
    _parsed(table.EQ1_MAX_VECTORS),
    _parsed(table.EQ2_MAX_VECTORS),
    _parsed(table.EQ3_EQ6_MAX_VECTORS),
    _parsed(table.EQ4_MAX_VECTORS),
    _parsed(table.EQ5_MAX_VECTORS),
)


# --- metric values in effect ---------------------------------------------------------------


def _require_v4(vector: CvssVector) -> None:
    if vector.version != "4.0":
        raise ValueError(f"CVSS {vector.version} vectors have no CVSS v4.0 score")


def _effective(vector: CvssVector, *, base_only: bool) -> dict[str, str]:
    """The value in effect of every metric the score depends on."""
    _require_v4(vector)
    values = {name: vector.metrics[name] for name in _BASE}
    if base_only:
        values.update(E="A", CR="H", IR="H", AR="H")
        return values
    for name in _BASE:
        modified = vector.value("M" + name)
        if modified != "X":
            values[name] = modified
    exploit = vector.value("E")
    values["E"] = "A" if exploit == "X" else exploit
    for name in _REQUIREMENTS:
        requirement = vector.value(name)
        values[name] = "H" if requirement == "X" else requirement
    return values


# --- MacroVector ---------------------------------------------------------------------------


def _levels(v: Mapping[str, str]) -> tuple[int, int, int, int, int, int]:
    """EQ1..EQ6 levels: the equivalence sets of the specification's section 8."""
    av, pr, ui = v["AV"], v["PR"], v["UI"]
    if av == "N" and pr == "N" and ui == "N":
        eq1 = 0
    elif av != "P" and "N" in (av, pr, ui):
        eq1 = 1
    else:
        eq1 = 2
    eq2 = 0 if v["AC"] == "L" and v["AT"] == "N" else 1
    if v["VC"] == "H" and v["VI"] == "H":
        eq3 = 0
    elif "H" in (v["VC"], v["VI"], v["VA"]):
        eq3 = 1
    else:
        eq3 = 2
    if v["SI"] == "S" or v["SA"] == "S":
        eq4 = 0
    elif "H" in (v["SC"], v["SI"], v["SA"]):
        eq4 = 1
    else:
        eq4 = 2
    eq5 = _EQ5[v["E"]]
    eq6 = 0 if any(v[req] == "H" and v[impact] == "H" for req, impact in _REQUIREMENT_OF) else 1
    return eq1, eq2, eq3, eq4, eq5, eq6


def _key(levels: tuple[int, ...]) -> str:
    return "".join(str(level) for level in levels)


def _table_score(levels: tuple[int, ...]) -> int | None:
    """The MacroVector's score in tenths; ``None`` if no such MacroVector exists."""
    return _TENTHS.get(_key(levels))


# --- interpolation -------------------------------------------------------------------------


def _lower_scores(levels: tuple[int, int, int, int, int, int]) -> list[int | None]:
    """Scores of the next lower MacroVector for EQ1, EQ2, EQ3+EQ6, EQ4 and EQ5."""
    eq1, eq2, eq3, eq4, eq5, eq6 = levels
    combined = [
        score
        for lower3, lower6 in _EQ3_EQ6_LOWER[(eq3, eq6)]
        if (score := _table_score((eq1, eq2, lower3, eq4, eq5, lower6))) is not None
    ]
    return [
        _table_score((eq1 + 1, eq2, eq3, eq4, eq5, eq6)),
        _table_score((eq1, eq2 + 1, eq3, eq4, eq5, eq6)),
        max(combined, default=None),
        _table_score((eq1, eq2, eq3, eq4 + 1, eq5, eq6)),
        _table_score((eq1, eq2, eq3, eq4, eq5 + 1, eq6)),
    ]


def _severity_distance(v: Mapping[str, str], candidates: tuple[_MaxVector, ...]) -> int:
    """Steps from the first highest severity vector that is at least as severe in every metric."""
    levels = table.SEVERITY_LEVELS
    for candidate in candidates:
        steps = [levels[name][v[name]] - level for name, level in candidate]
        if min(steps) >= 0:
            return sum(steps)
    # The tables guarantee a match; tests check every combination of metric values.
    raise RuntimeError(f"CVSS 4.0: no highest severity vector above {dict(v)}")  # pragma: no cover


def _score(v: Mapping[str, str]) -> float:
    if all(v[name] == "N" for name in _IMPACT):
        return 0.0
    levels = _levels(v)
    value = _table_score(levels)
    if value is None:  # pragma: no cover - every reachable MacroVector is in the table
        raise RuntimeError(f"CVSS 4.0: MacroVector {_key(levels)} missing from the table")
    eq1, eq2, eq3, eq4, eq5, eq6 = levels
    keys: tuple[object, ...] = (eq1, eq2, (eq3, eq6), eq4, eq5)
    depths = (
        table.EQ1_DEPTH[eq1],
        table.EQ2_DEPTH[eq2],
        table.EQ3_EQ6_DEPTH[(eq3, eq6)],
        table.EQ4_DEPTH[eq4],
        table.EQ5_DEPTH[eq5],
    )
    # In tenths, the score is value - (sum of (value - lower) * distance / depth) / count;
    # everything is scaled by _DEPTH_LCM * count so that it stays in integers.
    shift = count = 0
    for lower, key, maxes, depth in zip(
        _lower_scores(levels), keys, _MAX_VECTORS, depths, strict=True
    ):
        if lower is None:
            continue  # no lower MacroVector: this EQ does not take part in the mean
        distance = _severity_distance(v, maxes[key])
        shift += (value - lower) * distance * (_DEPTH_LCM // depth)
        count += 1
    scale = _DEPTH_LCM * max(count, 1)
    scaled = min(max(value * scale - shift, 0), 100 * scale)
    return (2 * scaled + scale) // (2 * scale) / 10  # half up to a whole number of tenths


# --- public --------------------------------------------------------------------------------


def macro_vector(vector: CvssVector) -> str:
    """The six EQ levels of ``vector``'s MacroVector, e.g. ``"000200"``, all metrics applied.

    Raises:
        ValueError: ``vector`` is not a v4.0 vector (programmer error).
    """
    return _key(_levels(_effective(vector, base_only=False)))


def score(vector: CvssVector) -> float:
    """The v4.0 score of every metric group ``vector`` carries (see :func:`nomenclature`).

    Raises:
        ValueError: ``vector`` is not a v4.0 vector (programmer error).
    """
    return _score(_effective(vector, base_only=False))


def base_score(vector: CvssVector) -> float:
    """The CVSS-B score: base metrics only, threat and environmental metrics ignored.

    Raises:
        ValueError: ``vector`` is not a v4.0 vector (programmer error).
    """
    return _score(_effective(vector, base_only=True))


def nomenclature(vector: CvssVector) -> Nomenclature:
    """Which metric groups :func:`score` used: ``CVSS-B``, ``-BT``, ``-BE`` or ``-BTE``.

    A group counts when at least one of its metrics has a value other than ``X`` (Not
    Defined); supplemental metrics never count.

    Raises:
        ValueError: ``vector`` is not a v4.0 vector (programmer error).
    """
    _require_v4(vector)
    threat = any(vector.value(name) != "X" for name in _THREAT)
    environmental = any(vector.value(name) != "X" for name in _ENVIRONMENTAL)
    if threat and environmental:
        return "CVSS-BTE"
    if threat:
        return "CVSS-BT"
    if environmental:
        return "CVSS-BE"
    return "CVSS-B"
