"""Entry point of the ``sealyard`` command."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import click

from sealyard import __version__
from sealyard.cli._common import data_options, emit, open_from_ctx, output_option, settings_from
from sealyard.cli.accounts import project, robot, user
from sealyard.cli.audit import audit
from sealyard.cli.db import db
from sealyard.cli.gate import gate
from sealyard.cli.keys import key
from sealyard.cli.monitor import alerts, findings, webhook
from sealyard.cli.run import run
from sealyard.cli.sbom import sbom
from sealyard.cli.scan import scan
from sealyard.cli.sign import copy, sign, verify
from sealyard.cli.trust import trust
from sealyard.errors import SealyardError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sealyard")
def cli() -> None:
    """Sealyard: a secure-by-default container registry and supply chain."""


@cli.command()
@data_options
@click.option("--listen", help="HOST:PORT to listen on (default 127.0.0.1:5000).")
@click.option("--log-level", default="info", show_default=True)
def serve(
    data_dir: Path | None, config_file: Path | None, listen: str | None, log_level: str
) -> None:
    """Run the registry server.

    On first start an `admin` user is created with the password from
    SEALYARD_ADMIN_PASSWORD, or a random one printed once.
    """
    import uvicorn

    from sealyard.registry.app import create_app, open_registry

    settings = settings_from(data_dir, config_file, listen=listen)
    registry = open_registry(settings)
    generated = registry.accounts.bootstrap(os.environ.get("SEALYARD_ADMIN_PASSWORD"))
    if generated:
        click.echo(f"Created user 'admin' with password: {generated}", err=True)
        click.echo(
            "It is shown only this once; change it with `sealyard user passwd admin`.", err=True
        )
    click.echo(
        f"Sealyard {__version__} serving on http://{settings.listen} "
        f"(data: {settings.data_dir.resolve()})",
        err=True,
    )
    from sealyard.monitor.worker import Worker

    stop = threading.Event()
    for i in range(settings.workers):
        Worker(registry, name=f"serve-{os.getpid()}-{i}").start(stop, settings.worker_poll_seconds)
    uvicorn.run(
        create_app(registry),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=log_level == "debug",
        server_header=False,
    )
    stop.set()


@cli.command()
@data_options
@click.option("--dry-run", is_flag=True, help="Report what would be removed, remove nothing.")
@click.option(
    "--grace",
    default=None,
    type=float,
    help="Seconds an unreferenced blob or upload is kept (default from limits: 24 h).",
)
@click.option(
    "--delete-untagged",
    is_flag=True,
    help="Also delete manifests no tag, index or live subject keeps alive.",
)
@output_option
def gc(
    data_dir: Path | None,
    config_file: Path | None,
    dry_run: bool,
    grace: float | None,
    delete_untagged: bool,
    output: str,
) -> None:
    """Mark and sweep unreferenced blobs, stale uploads and (optionally) untagged manifests."""
    from sealyard.registry.gc import collect_garbage

    registry = open_from_ctx(data_dir, config_file)
    report = collect_garbage(
        registry.store,
        grace=registry.settings.limits.upload_grace_seconds if grace is None else grace,
        dry_run=dry_run,
        delete_untagged=delete_untagged,
    )
    rows = [{"what": k, "count": v} for k, v in report.as_dict().items()]
    emit(rows, ["what", "count"], output)


@cli.command("audit-log")
@data_options
@click.option("--limit", default=50, show_default=True)
@click.option("--actor")
@click.option("--action", help="push, pull, delete, login, member, user, project, robot …")
@click.option("--resource", help="Only events whose resource starts with this.")
@output_option
def audit_log(
    data_dir: Path | None,
    config_file: Path | None,
    limit: int,
    actor: str | None,
    action: str | None,
    resource: str | None,
    output: str,
) -> None:
    """Show the audit log, newest first."""
    registry = open_from_ctx(data_dir, config_file)
    rows = registry.audit.query(limit=limit, actor=actor, action=action, resource_prefix=resource)
    emit(rows, ["ts", "actor", "action", "resource", "outcome", "remote_addr"], output)


@cli.command()
@data_options
@click.option("--once", is_flag=True, help="Run the jobs that are due now, then exit.")
@click.option("--poll", type=float, default=None, help="Seconds between queue polls.")
def worker(data_dir: Path | None, config_file: Path | None, once: bool, poll: float | None) -> None:
    """Run background jobs: scan on push, re-matching after advisory imports, webhooks.

    `sealyard serve` runs this in-process by default (setting `workers`); run it separately
    to scale out, against the same database.
    """
    from sealyard.monitor.worker import Worker

    registry = open_from_ctx(data_dir, config_file)
    try:
        runner = Worker(registry, name=f"worker-{os.getpid()}")
        if once:
            count = 0
            while runner.run_once():
                count += 1
            runner.deliver()
            click.echo(
                f"ran {count} job(s): {runner.stats.scanned} scanned, "
                f"{runner.stats.alerts} alert(s), {runner.stats.retried} to retry",
                err=True,
            )
            return
        stop = threading.Event()
        try:
            runner.run(stop, poll or registry.settings.worker_poll_seconds)
        except KeyboardInterrupt:
            stop.set()
    finally:
        registry.close()


cli.add_command(user)
cli.add_command(project)
cli.add_command(robot)
cli.add_command(sbom)
cli.add_command(scan)
cli.add_command(db)
cli.add_command(key)
cli.add_command(alerts)
cli.add_command(findings)
cli.add_command(webhook)
cli.add_command(trust)
cli.add_command(gate)
cli.add_command(audit)
cli.add_command(sign)
cli.add_command(verify)
cli.add_command(copy)
cli.add_command(run)


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="sealyard", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SealyardError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
