"""The policy document: which stages must have signed an image, how many signers, how fresh.

A policy is YAML, distributed as a target signed by the project's TUF ``targets`` role::

    apiVersion: sealyard.dev/v1
    kind: Policy
    name: production
    scope:
      repositories: ["shop/*"]        # fnmatch patterns; default: every repository
    maxAge: 7d                        # default for every stage
    stages:
      ci:      {}                     # threshold from the TUF role (here 1-of-2)
      scan:
        maxAge: 24h
        failOn: CRITICAL              # the signed scan must show nothing at or above
      staging:
        threshold: 2                  # may only RAISE the role's own threshold
    allowlist:
      - id: CVE-2099-0001
        expires: 2027-01-31
        reason: not reachable, see SEC-42

Parsing is strict: unknown keys, wrong types, bad durations and allowlist entries without an
expiry or a reason are reported with the path of the offending field, because a typo in a
policy must never weaken it silently. Expired allowlist entries simply stop applying.
The model is pure data; evaluation lives in :mod:`sealyard.policy.evaluate`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import yaml

from sealyard.errors import UntrustedDataError
from sealyard.vulndb.ratings import RATINGS

__all__ = [
    "AllowlistEntry",
    "Policy",
    "PolicyError",
    "StageRule",
    "parse_allowlist",
    "parse_duration",
    "parse_policy",
]

API_VERSION = "sealyard.dev/v1"
MAX_POLICY_BYTES = 256 * 1024
_DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_VULN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")


class PolicyError(UntrustedDataError):
    """The policy document is malformed; the message names the field."""


def parse_duration(value: Any, where: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"24h"``, ``"7d"``, ``"2w"`` → timedelta (positive)."""
    if not isinstance(value, str) or not (match := _DURATION.fullmatch(value.strip())):
        raise PolicyError(f"{where}: {value!r:.40} is not a duration like 24h or 7d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise PolicyError(f"{where}: a duration must be positive")
    return timedelta(seconds=seconds)


def _fields(doc: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise PolicyError(f"{where} must be a mapping")
    unknown = sorted(str(k) for k in doc if k not in allowed)
    if unknown:
        raise PolicyError(f"{where}: unknown field(s) {', '.join(unknown)}")
    return doc


def _rating(value: Any, where: str) -> str:
    if not isinstance(value, str) or value.upper() not in RATINGS:
        raise PolicyError(f"{where}: {value!r:.40} is not one of {', '.join(RATINGS)}")
    return value.upper()


@dataclass(frozen=True)
class AllowlistEntry:
    """A vulnerability accepted until ``expires`` (exclusive), for ``reason``."""

    id: str
    expires: datetime
    reason: str

    def active(self, now: datetime) -> bool:
        return now < self.expires


@dataclass(frozen=True)
class StageRule:
    """What one stage must show.

    ``threshold`` 0 means "the TUF role's threshold"; a higher value raises it (a policy can
    never lower the number of distinct signers the trust root demands). ``max_age`` bounds
    the age of the attestation's signed timestamp. ``fail_on`` applies to scan attestations:
    a finding at or above that rating, not allowlisted, fails the stage.
    """

    name: str
    threshold: int = 0
    max_age: timedelta | None = None
    fail_on: str | None = None


@dataclass(frozen=True)
class Policy:
    name: str
    stages: tuple[StageRule, ...]
    repositories: tuple[str, ...] = ("*",)
    allowlist: tuple[AllowlistEntry, ...] = ()
    raw: bytes = b""

    def covers(self, repository: str) -> bool:
        """Whether ``repository`` (``project/name``) is in this policy's scope."""
        return any(fnmatch.fnmatchcase(repository, p) for p in self.repositories)

    def allowed_ids(self, now: datetime) -> frozenset[str]:
        return frozenset(e.id for e in self.allowlist if e.active(now))

    def stage(self, name: str) -> StageRule | None:
        return next((s for s in self.stages if s.name == name), None)


def parse_allowlist(value: Any) -> tuple[AllowlistEntry, ...]:
    """Allowlist entries (``[{id, expires, reason}, …]``) as policies and projects write them.

    Raises:
        PolicyError: an entry lacks an id, an expiry or a reason.
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PolicyError("allowlist must be a list")
    out = []
    for i, item in enumerate(value):
        where = f"allowlist[{i}]"
        entry = _fields(item, where, {"id", "expires", "reason"})
        ident = entry.get("id")
        if not isinstance(ident, str) or not _VULN_ID.fullmatch(ident):
            raise PolicyError(f"{where}.id: {ident!r:.60} is not a vulnerability id")
        reason = entry.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise PolicyError(f"{where}.reason is required: say why the risk is accepted")
        expires = entry.get("expires")
        if isinstance(expires, datetime):
            moment = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        elif isinstance(expires, date):
            moment = datetime(expires.year, expires.month, expires.day, tzinfo=UTC)
        elif isinstance(expires, str):
            try:
                moment = datetime.fromisoformat(expires.replace("Z", "+00:00"))
            except ValueError as exc:
                raise PolicyError(f"{where}.expires: {expires!r:.40} is not a date") from exc
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        else:
            raise PolicyError(f"{where}.expires is required (an allowlist entry must end)")
        out.append(AllowlistEntry(ident, moment, reason.strip()))
    return tuple(out)


def _stages(value: Any, default_age: timedelta | None) -> tuple[StageRule, ...]:
    doc = value if value is not None else {}
    if not isinstance(doc, Mapping) or not doc:
        raise PolicyError("stages must name at least one stage")
    rules = []
    for name, body in doc.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise PolicyError(f"stages: {name!r:.40} is not a stage name")
        where = f"stages.{name}"
        spec = _fields(body if body is not None else {}, where, {"threshold", "maxAge", "failOn"})
        threshold = spec.get("threshold", 0)
        if (
            not isinstance(threshold, int)
            or isinstance(threshold, bool)
            or not 0 <= threshold <= 64
        ):
            raise PolicyError(f"{where}.threshold must be an integer from 0 (the role's own) to 64")
        age = spec.get("maxAge")
        rules.append(
            StageRule(
                name=name,
                threshold=threshold,
                max_age=parse_duration(age, f"{where}.maxAge") if age is not None else default_age,
                fail_on=_rating(spec["failOn"], f"{where}.failOn") if "failOn" in spec else None,
            )
        )
    return tuple(rules)


def parse_policy(raw: bytes) -> Policy:
    """Parse and validate a policy document.

    Raises:
        PolicyError: the document is not a valid policy (the message names the field).
    """
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"policy is larger than {MAX_POLICY_BYTES} bytes")
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PolicyError(f"policy is not valid YAML: {exc}") from exc
    body = _fields(
        doc, "policy", {"apiVersion", "kind", "name", "scope", "maxAge", "stages", "allowlist"}
    )
    if body.get("apiVersion") != API_VERSION or body.get("kind") != "Policy":
        raise PolicyError(f"policy must declare apiVersion: {API_VERSION} and kind: Policy")
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PolicyError(f"name: {name!r:.40} is not a policy name")
    scope = _fields(body.get("scope") or {}, "scope", {"repositories"})
    patterns = scope.get("repositories", ["*"])
    if (
        not isinstance(patterns, list)
        or not patterns
        or not all(isinstance(p, str) and p for p in patterns)
    ):
        raise PolicyError("scope.repositories must be a non-empty list of patterns")
    default_age = parse_duration(body["maxAge"], "maxAge") if "maxAge" in body else None
    return Policy(
        name=name,
        stages=_stages(body.get("stages"), default_age),
        repositories=tuple(patterns),
        allowlist=parse_allowlist(body.get("allowlist")),
        raw=raw,
    )
