"""``sealyard db``: import advisory snapshots and show what the advisory database holds."""

from __future__ import annotations

from pathlib import Path

import click

from sealyard.cli._common import data_options, emit, fmt_time, open_from_ctx, output_option

__all__ = ["db"]

_PROBLEMS_SHOWN = 20


@click.group()
def db() -> None:
    """Advisory database: import OSV snapshots, show their status."""


@db.command("import")
@data_options
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--source-name",
    help="Name the records are filed under (default: each SOURCE's file or directory name).",
)
@output_option
def import_(
    data_dir: Path | None,
    config_file: Path | None,
    sources: tuple[Path, ...],
    source_name: str | None,
    output: str,
) -> None:
    """Import advisories: OSV (directories searched recursively, .zip, .json/.yaml files) or
    the Debian security tracker's DSA/DLA lists (a `list` file, or a tracker checkout with
    data/DSA/list and data/DLA/list).

    Only records newer than the stored copy are written; withdrawn records are retired.
    """
    from sealyard.vulndb.sources import DebianListSource, OsvSource
    from sealyard.vulndb.store import AdvisoryStore

    def is_debian_list(path: Path) -> bool:
        if path.is_file():
            return path.name == "list"
        return any(
            (path / sub).is_file()
            for sub in ("data/DSA/list", "data/DLA/list", "DSA/list", "DLA/list", "list")
        )

    registry = open_from_ctx(data_dir, config_file)
    try:
        store = AdvisoryStore(registry.db)
        rows = []
        for path in sources:
            if is_debian_list(path):
                debian = DebianListSource.for_path(path)
                name = source_name or debian.name
                report = store.import_records(name, debian.records(path))
            else:
                name = source_name or (path.stem if path.is_file() else path.resolve().name)
                report = store.import_records(name, OsvSource().records(path))
            rows.append({"source": name, "path": str(path), **report.as_dict()})
            for problem in report.problems[:_PROBLEMS_SHOWN]:
                click.echo(f"{name}: skipped {problem.path}: {problem.reason}", err=True)
            if report.invalid > _PROBLEMS_SHOWN:
                click.echo(
                    f"{name}: … and {report.invalid - _PROBLEMS_SHOWN} more invalid documents",
                    err=True,
                )
    finally:
        registry.close()
    emit(
        rows,
        ["source", "path", "added", "updated", "unchanged", "withdrawn", "invalid"],
        output,
    )


@db.command()
@data_options
@output_option
def status(data_dir: Path | None, config_file: Path | None, output: str) -> None:
    """Show each advisory source: records held, newest record, last import."""
    from sealyard.vulndb.store import AdvisoryStore

    registry = open_from_ctx(data_dir, config_file)
    try:
        rows = AdvisoryStore(registry.db).status()
    finally:
        registry.close()
    if output != "json":
        rows = [
            {
                **row,
                "newest_modified": fmt_time(row["newest_modified"]),
                "last_import": fmt_time(row["last_import"]),
            }
            for row in rows
        ]
    emit(rows, ["name", "records", "newest_modified", "last_import"], output)
