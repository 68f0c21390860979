"""Shared CLI plumbing: opening the data directory, rendering tables and JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from sealyard.config import Settings, load_settings

if TYPE_CHECKING:  # the registry stack (SQLAlchemy, Starlette) loads only when used
    from sealyard.registry.app import Registry

__all__ = ["data_options", "emit", "fmt_time", "open_from_ctx", "parse_creds"]


def data_options(fn: Any) -> Any:
    fn = click.option(
        "--config",
        "config_file",
        type=click.Path(path_type=Path, dir_okay=False),
        help="TOML config file.",
    )(fn)
    fn = click.option(
        "--data",
        "data_dir",
        type=click.Path(path_type=Path, file_okay=False),
        help="Data directory (default ./.sealyard or $SEALYARD_DATA).",
    )(fn)
    return fn


def settings_from(data_dir: Path | None, config_file: Path | None, **extra: Any) -> Settings:
    return load_settings(config_file, data_dir=data_dir, **extra)


def open_from_ctx(data_dir: Path | None, config_file: Path | None) -> Registry:
    from sealyard.registry.app import open_registry

    return open_registry(settings_from(data_dir, config_file))


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: str) -> None:
    """Print ``rows`` as a table for humans or JSON for machines."""
    if output == "json":
        json.dump(list(rows), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    table = Table(box=None, header_style="bold")
    for col in columns:
        table.add_column(col, no_wrap=col != "resource", overflow="fold")
    for row in rows:
        cells = []
        for col in columns:
            value = row.get(col)
            if col.endswith("_at") or col == "ts":
                value = fmt_time(value)
            cells.append("" if value is None else str(value))
        table.add_row(*cells)
    Console().print(table)


output_option = click.option(
    "-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True
)


def parse_creds(value: str | None, option: str = "--creds") -> tuple[str, str] | None:
    """``USER:PASSWORD`` from a credentials option (``None`` when not given)."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep:
        raise click.BadParameter("use USER:PASSWORD", param_hint=option)
    return user, password
