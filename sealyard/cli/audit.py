"""``sealyard audit``: container configurations, Dockerfiles and the host's isolation.

Exit status: 0 when nothing at or above ``--fail-on`` was found, 1 when something was,
2 when an input could not be read or was rejected.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import click

from sealyard.errors import SealyardError

__all__ = ["audit"]

_FORMATS = ["table", "json", "sarif"]
_SEVERITIES = ["info", "low", "medium", "high", "critical"]
_STANDARDS = ["all", "cis", "pss-baseline", "pss-restricted", "sealyard"]
_SUBCOMMANDS = ("config", "dockerfile", "host")


class _InputError(click.ClickException):
    exit_code = 2


class _AuditGroup(click.Group):
    """``sealyard audit FILE…`` means ``sealyard audit config FILE…``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["config", *args]
        return super().parse_args(ctx, args)


def _width() -> int:
    return max(shutil.get_terminal_size((160, 24)).columns, 80)


def _write(text: str, output_file: Path | None) -> None:
    if output_file is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    tmp = output_file.with_name(f".{output_file.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, output_file)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _InputError(f"cannot write {output_file}: {exc.strerror or exc}") from None


def _gate(report: Any, fail_on: str | None) -> None:
    from sealyard.runtime.audit.interface import Severity

    if fail_on is None:
        return
    failing = report.at_or_above(Severity.parse(fail_on))
    if failing:
        click.echo(f"{len(failing)} finding(s) rated {fail_on.lower()} or higher", err=True)
        raise SystemExit(1)


_output = click.option(
    "-o", "--output", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True
)
_output_file = click.option(
    "--output-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report here (atomically) instead of stdout.",
)
_fail_on = click.option(
    "--fail-on",
    type=click.Choice(_SEVERITIES, case_sensitive=False),
    help="Exit 1 when a finding is rated this or higher (info < low < medium < high < critical).",
)


@click.group(cls=_AuditGroup)
def audit() -> None:
    """Audit container configurations, Dockerfiles, or this host's isolation.

    `sealyard audit FILE…` audits `docker inspect` output, compose files, Kubernetes
    manifests and OCI runtime config.json files (the format is detected from the content).
    """


@audit.command("config")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@_output
@_output_file
@click.option(
    "--standard",
    type=click.Choice(_STANDARDS),
    default="all",
    show_default=True,
    help="CIS Docker Benchmark 1.6.0, Pod Security Standards (restricted includes baseline), "
    "Sealyard's runtime defaults, or all of them.",
)
@_fail_on
def config_command(
    files: tuple[Path, ...],
    fmt: str,
    output_file: Path | None,
    standard: str,
    fail_on: str | None,
) -> None:
    """Audit container configurations (the default subcommand)."""
    from sealyard.runtime.audit import audit_files
    from sealyard.runtime.audit.report import render

    try:
        report = audit_files(files, standard)
    except SealyardError as exc:
        raise _InputError(str(exc)) from None
    _write(render(report, fmt, width=_width()), output_file)
    _gate(report, fail_on)


@audit.command("dockerfile")
@click.argument("file", type=click.Path(path_type=Path))
@_output
@_output_file
@_fail_on
def dockerfile_command(file: Path, fmt: str, output_file: Path | None, fail_on: str | None) -> None:
    """Audit a Dockerfile: pinned bases and packages, checksummed ADD, USER, secrets,
    curl | sh."""
    from sealyard.runtime.audit.dockerfile import audit_dockerfile_path
    from sealyard.runtime.audit.report import render

    try:
        report = audit_dockerfile_path(file)
    except SealyardError as exc:
        raise _InputError(str(exc)) from None
    _write(render(report, fmt, width=_width()), output_file)
    _gate(report, fail_on)


@audit.command("host")
@click.option(
    "-o", "--output", "fmt", type=click.Choice(["table", "json"]), default="table",
    show_default=True,
)  # fmt: skip
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/"),
    show_default=True,
    help="Read /proc and /sys under this directory (for inspecting a copied tree).",
)
def host_command(fmt: str, root: Path) -> None:
    """Show the kernel isolation this host offers and what `sealyard run` uses of it."""
    from sealyard.runtime.audit.host import audit_host
    from sealyard.runtime.audit.report import render_host

    click.echo(render_host(audit_host(root), fmt, width=_width()), nl=False)
