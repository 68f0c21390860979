"""Per-project registry settings: what a pull must satisfy, and whether pushes are scanned.

Stored as JSON in ``Project.settings``; this module is the only reader and writer of its
meaning::

    {"policy": "production",            # a policy of the project's TUF trust root, or null
     "prevent_vulnerable": "HIGH",      # CRITICAL | HIGH | MEDIUM | LOW, or null
     "allowlist": [{"id": "CVE-2099-0001", "expires": "2027-01-31", "reason": "…"}],
     "scan_on_push": true}

Parsing is strict — unknown keys, wrong types, bad ratings and allowlist entries without an
expiry or a reason are refused with the offending field named — because a typo in a security
setting must never weaken it silently. Allowlist entries have exactly the shape and meaning of
a policy's ``allowlist`` (:class:`~sealyard.policy.model.AllowlistEntry`): an entry applies
until, not including, its ``expires`` moment, then simply stops applying.

The model is pure data; :func:`scan_on_push` is the one helper that reads the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select

from sealyard.db.engine import Database
from sealyard.db.models import Project
from sealyard.errors import UsageError
from sealyard.policy.model import AllowlistEntry, PolicyError, parse_allowlist
from sealyard.vulndb.ratings import rating_rank

__all__ = [
    "ENFORCING_KEYS",
    "PREVENT_RATINGS",
    "SETTINGS_KEYS",
    "ProjectSettings",
    "SettingsError",
    "is_enforcing",
    "scan_on_push",
]

SETTINGS_KEYS = ("policy", "prevent_vulnerable", "allowlist", "scan_on_push")
#: Keys whose presence makes the pull gate look at a project at all.
ENFORCING_KEYS = ("policy", "prevent_vulnerable")
#: Thresholds ``prevent_vulnerable`` accepts (a finding rated at or above it blocks pulls).
PREVENT_RATINGS = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
MAX_ALLOWLIST = 1000
# The names TrustRepository accepts for policies (sealyard.trust.root).
_POLICY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class SettingsError(UsageError):
    """Project settings are malformed; the message names the field."""


def _expires_text(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    if moment.time() == time(0, 0):
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ProjectSettings:
    """The validated settings of one project (defaults: nothing enforced, scan on push)."""

    policy: str | None = None
    prevent_vulnerable: str | None = None
    allowlist: tuple[AllowlistEntry, ...] = ()
    scan_on_push: bool = True

    def __post_init__(self) -> None:
        if self.policy is not None and (
            not isinstance(self.policy, str) or not _POLICY_NAME.fullmatch(self.policy)
        ):
            raise SettingsError(
                f"policy: {self.policy!r:.70} is not a policy name (1-63 lowercase letters, "
                "digits, '-' or '_'), or null for no signature enforcement"
            )
        if self.prevent_vulnerable is not None and self.prevent_vulnerable not in PREVENT_RATINGS:
            raise SettingsError(
                f"prevent_vulnerable: {self.prevent_vulnerable!r:.40} is not one of "
                f"{', '.join(PREVENT_RATINGS)}, or null"
            )
        if not isinstance(self.scan_on_push, bool):
            raise SettingsError("scan_on_push must be true or false")
        if len(self.allowlist) > MAX_ALLOWLIST:
            raise SettingsError(f"allowlist: at most {MAX_ALLOWLIST} entries")
        seen: set[str] = set()
        for i, entry in enumerate(self.allowlist):
            if entry.id in seen:
                raise SettingsError(f"allowlist[{i}].id: {entry.id} is listed twice")
            seen.add(entry.id)

    @property
    def enforcing(self) -> bool:
        """Whether pulls of the project's images are judged at all."""
        return self.policy is not None or self.prevent_vulnerable is not None

    def allowed_ids(self, now: datetime) -> frozenset[str]:
        """Vulnerability ids whose allowlist entry applies at ``now``."""
        return frozenset(e.id for e in self.allowlist if e.active(now))

    def blocks(self, rating: str) -> bool:
        """Whether a finding rated ``rating`` blocks pulls (before the allowlist)."""
        return self.prevent_vulnerable is not None and rating_rank(rating) >= rating_rank(
            self.prevent_vulnerable
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProjectSettings:
        """Parse settings as stored or sent to the API (missing keys take their defaults).

        Raises:
            SettingsError: unknown key or invalid value (the message names the field).
        """
        if not isinstance(data, Mapping):
            raise SettingsError("settings must be an object")
        unknown = sorted(str(k) for k in data if k not in SETTINGS_KEYS)
        if unknown:
            raise SettingsError(
                f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(SETTINGS_KEYS)}"
            )
        policy = data.get("policy")
        if policy is not None and not isinstance(policy, str):
            raise SettingsError("policy must be a string (a policy name) or null")
        prevent = data.get("prevent_vulnerable")
        if prevent is not None:
            if not isinstance(prevent, str):
                raise SettingsError("prevent_vulnerable must be a rating or null")
            prevent = prevent.strip().upper()
        scan = data.get("scan_on_push", True)
        if not isinstance(scan, bool):
            raise SettingsError("scan_on_push must be true or false")
        try:
            allowlist = parse_allowlist(data.get("allowlist"))
        except PolicyError as exc:
            raise SettingsError(str(exc)) from exc
        return cls(
            policy=policy, prevent_vulnerable=prevent, allowlist=allowlist, scan_on_push=scan
        )

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> ProjectSettings:
        """Parse ``Project.settings`` as stored: keys that are not settings (written by older
        versions) are ignored, every setting is checked strictly.

        Raises:
            SettingsError: a stored setting is invalid.
        """
        known = {k: v for k, v in (stored or {}).items() if k in SETTINGS_KEYS}
        return cls.from_dict(known)

    def to_dict(self) -> dict[str, Any]:
        """Every setting, JSON-ready (what is stored and what the API shows)."""
        return {
            "policy": self.policy,
            "prevent_vulnerable": self.prevent_vulnerable,
            "allowlist": [
                {"id": e.id, "expires": _expires_text(e.expires), "reason": e.reason}
                for e in self.allowlist
            ],
            "scan_on_push": self.scan_on_push,
        }

    def updated(self, changes: Mapping[str, Any]) -> ProjectSettings:
        """These settings with ``changes`` applied (a key given replaces that setting).

        Raises:
            SettingsError: a change names an unknown setting or has an invalid value.
        """
        return ProjectSettings.from_dict({**self.to_dict(), **changes})


def is_enforcing(stored: Mapping[str, Any]) -> bool:
    """Cheap test on the raw stored JSON: could the pull gate have anything to check?

    Anything but an absent or null ``policy`` and ``prevent_vulnerable`` counts — a malformed
    value must lead to a (failing) strict parse, never to "not enforced".
    """
    return any(stored.get(key) is not None for key in ENFORCING_KEYS)


def scan_on_push(db: Database, project: str) -> bool:
    """Whether images pushed to ``project`` are scanned in the background.

    True unless the project's settings turn it off explicitly (also for an unknown project, or
    malformed settings: scanning is the safe default).
    """
    with db.session() as s:
        stored = s.scalar(select(Project.settings).where(Project.name == project))
    return not (isinstance(stored, Mapping) and stored.get("scan_on_push") is False)
