"""Settings and security limits, each with a documented default.

Limits live in one frozen dataclass (like python-tuf's ``UpdaterConfig``) so every reader of
untrusted input takes its bounds from the same place.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealyard.errors import UsageError

__all__ = ["Limits", "Settings", "load_settings"]


@dataclass(frozen=True)
class Limits:
    """Bounds on untrusted input.

    Attributes:
        max_manifest_bytes: largest manifest accepted (OCI asks registries to take at least 4 MiB).
        max_blob_bytes: largest single blob accepted by an upload.
        max_tags_page: largest ``n`` honoured for tag and catalog pagination.
        max_name_length: longest repository name (distribution spec: 255 with the host).
        upload_grace_seconds: how long GC leaves untouched uploads and unreferenced blobs alone.
        token_ttl_seconds: lifetime of a registry bearer token.
        max_json_depth: deepest nesting accepted when parsing manifests.
        auth_cache_seconds: how long a verified credential, a principal's roles and a project's
            settings are cached per process; changes made elsewhere show after this delay.
        max_layer_uncompressed_bytes: the most a layer may expand to while scanning
            (decompression bombs stop there, with a warning).
        login_failures_per_minute: failed logins allowed per client address and account
            within a minute before further attempts get ``429 TOOMANYREQUESTS`` (0: no limit).
    """

    max_manifest_bytes: int = 4 * 1024 * 1024
    max_blob_bytes: int = 64 * 1024**3
    max_tags_page: int = 10_000
    max_name_length: int = 255
    upload_grace_seconds: int = 24 * 3600
    token_ttl_seconds: int = 300
    max_json_depth: int = 64
    auth_cache_seconds: float = 10.0
    login_failures_per_minute: int = 10
    max_layer_uncompressed_bytes: int = 64 * 1024**3


@dataclass(frozen=True)
class Settings:
    """Where Sealyard keeps its state and how it listens.

    ``database_url`` defaults to an SQLite file inside ``data_dir``; any SQLAlchemy URL
    (``postgresql+psycopg://…``) works.
    """

    data_dir: Path = Path(".sealyard")
    listen: str = "127.0.0.1:5000"
    database_url: str | None = None
    public_url: str | None = None
    service: str = "sealyard"
    #: Background worker threads inside ``sealyard serve`` (scan on push, re-matching,
    #: webhooks). 0 leaves the queue to separate ``sealyard worker`` processes.
    workers: int = 1
    worker_poll_seconds: float = 0.5
    limits: Limits = field(default_factory=Limits)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'sealyard.db').resolve()}"

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        try:
            return int(self.listen.rsplit(":", 1)[1])
        except (IndexError, ValueError) as exc:
            raise UsageError(f"listen address {self.listen!r} is not HOST:PORT") from exc

    def with_overrides(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, then a TOML config file, then environment, then overrides.

    Raises:
        UsageError: the config file is unreadable or names unknown keys.
    """
    values: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if config_file is not None:
        try:
            doc = tomllib.loads(config_file.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"cannot read config file {config_file}: {exc}") from exc
        section = doc.get("sealyard", doc)
        limits = dict(section.pop("limits", {}))
        values.update(section)
    env_map = {
        "SEALYARD_DATA": "data_dir",
        "SEALYARD_LISTEN": "listen",
        "SEALYARD_DATABASE_URL": "database_url",
        "SEALYARD_PUBLIC_URL": "public_url",
        "SEALYARD_WORKERS": "workers",
    }
    for var, key in env_map.items():
        if os.environ.get(var):
            values[key] = os.environ[var]
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(Settings)} - {"limits"}
    unknown = set(values) - known
    if unknown:
        raise UsageError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    known_limits = {f.name for f in dataclasses.fields(Limits)}
    if set(limits) - known_limits:
        raise UsageError(f"unknown limit(s): {', '.join(sorted(set(limits) - known_limits))}")
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"])
    for key, kind in (("workers", int), ("worker_poll_seconds", float)):
        if key in values:
            try:
                values[key] = kind(values[key])
            except (TypeError, ValueError) as exc:
                raise UsageError(f"setting {key} must be a number, not {values[key]!r}") from exc
    return Settings(**values, limits=Limits(**limits))
