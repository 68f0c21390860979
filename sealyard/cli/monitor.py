"""``sealyard alerts`` and ``sealyard webhook``: read alerts, manage and run their delivery.

Like the account commands these work directly on the data directory; webhook changes are
written to the audit log as done by ``cli:<os user>``. Secrets are printed once, at creation.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from sealyard.cli._common import data_options, emit, fmt_time, open_from_ctx, output_option
from sealyard.cli.accounts import _audit
from sealyard.monitor.alerts import KINDS, RATINGS, list_alerts
from sealyard.monitor.webhooks import WebhookService

__all__ = ["alerts", "webhook"]

_RATING = click.Choice(list(RATINGS), case_sensitive=False)
_KIND = click.Choice(list(KINDS))


@click.command()
@data_options
@click.option(
    "--since-id", type=click.IntRange(min=0), help="Only alerts after this id, oldest first."
)
@click.option("--project", help="Only alerts of this project.")
@click.option("--repository", help="Only alerts of this repository (PROJECT/NAME).")
@click.option("--kind", type=_KIND, help="Only new, changed or resolved findings.")
@click.option("--min-rating", type=_RATING, help="Only alerts rated at least this.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@output_option
def alerts(
    data_dir: Path | None,
    config_file: Path | None,
    since_id: int | None,
    project: str | None,
    repository: str | None,
    kind: str | None,
    min_rating: str | None,
    limit: int,
    output: str,
) -> None:
    """List alerts: new, changed and resolved findings of stored images.

    Without --since-id the newest alerts are shown; with it, the ones after that id (pass the
    last id seen to page forward). Ratings rank UNKNOWN < NONE < LOW < MEDIUM < HIGH < CRITICAL.
    """
    registry = open_from_ctx(data_dir, config_file)
    rows = list_alerts(
        registry.db,
        since_id=since_id,
        project=project,
        repository=repository,
        kind=kind,
        min_rating=min_rating,
        limit=limit,
    )
    if output == "json":
        emit(rows, [], output)
        return
    table = [
        {
            **row,
            "time": row["ts"][:19].replace("T", " "),
            "package": f"{row['package'].get('name', '?')} {row['package'].get('version', '')}",
            "digest": row["digest"][:19],
            "fixed": ", ".join(row["fixed"]),
        }
        for row in rows
    ]
    columns = ["id", "time", "kind", "rating", "vulnerability", "package", "fixed", "repository"]
    emit(table, [*columns, "digest"], output)


@click.command()
@data_options
@click.argument("image")
@output_option
def findings(data_dir: Path | None, config_file: Path | None, image: str, output: str) -> None:
    """Current findings of a stored image (PROJECT/REPO:TAG or PROJECT/REPO@DIGEST).

    What scan on push found, kept current as advisories are imported — no rescan.
    """
    from sealyard.errors import NotFoundError
    from sealyard.monitor.inventory import Inventory

    repository, _, digest = image.partition("@")
    tag = "latest"
    if not digest and ":" in image:
        repository, _, tag = image.rpartition(":")
    registry = open_from_ctx(data_dir, config_file)
    try:
        record = registry.store.resolve(repository, digest or tag)
        if record is None:
            raise NotFoundError(f"no image {image} in the registry")
        inventory = Inventory(registry.db)
        scan = inventory.scan(repository, record.digest)
        rows = inventory.findings(repository, record.digest)
    finally:
        registry.close()
    if scan is None:
        click.echo(f"{repository}@{record.digest} has not been scanned yet", err=True)
    elif scan["status"] != "ok":
        click.echo(f"the scan of {repository}@{record.digest} failed: {scan['error']}", err=True)
    if output == "json":
        click.echo(json.dumps({"digest": record.digest, "scan": scan, "findings": rows}, indent=2))
        return
    emit(
        [
            {
                "vulnerability": f["vulnerability"],
                "rating": f["rating"],
                "package": f"{f['package']['name']} {f['package']['version']}",
                "fixed": ", ".join(f["fixedVersions"]) or f["fixState"],
            }
            for f in rows
        ],
        ["vulnerability", "rating", "package", "fixed"],
        output,
    )


@click.group()
def webhook() -> None:
    """Manage webhooks that receive alerts (signed JSON POSTs)."""


@webhook.command("add")
@data_options
@click.argument("name")
@click.argument("url")
@click.option(
    "--secret-env",
    metavar="VAR",
    help="Take the signing secret from this environment variable (default: generate one).",
)
@click.option("--project", help="Only alerts of this project.")
@click.option("--min-rating", type=_RATING, default="UNKNOWN", show_default=True)
@click.option(
    "--kind",
    "kinds",
    type=_KIND,
    multiple=True,
    help="Alert kind to send (repeatable; default: all).",
)
@click.option(
    "--since-id",
    type=click.IntRange(min=0),
    help="Deliver alerts after this id (0: every stored alert; default: only future ones).",
)
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
def webhook_add(
    data_dir: Path | None,
    config_file: Path | None,
    name: str,
    url: str,
    secret_env: str | None,
    project: str | None,
    min_rating: str,
    kinds: tuple[str, ...],
    since_id: int | None,
    output: str,
) -> None:
    """Add a webhook; its signing secret is printed once."""
    secret: str | None = None
    if secret_env is not None:
        secret = os.environ.get(secret_env)
        if not secret:
            raise click.BadParameter(
                f"environment variable {secret_env} is not set or empty", param_hint="--secret-env"
            )
    registry = open_from_ctx(data_dir, config_file)
    info, secret = WebhookService(registry.db).add(
        name,
        url,
        secret=secret,
        project=project,
        min_rating=min_rating,
        kinds=kinds or KINDS,
        since_id=since_id,
    )
    _audit(registry, "webhook.create", f"webhook:{name}", url=url, project=project)
    generated = secret_env is None
    if output == "json":
        click.echo(json.dumps({**info.to_dict(), **({"secret": secret} if generated else {})}))
        return
    click.echo(f"name:    {info.name}")
    click.echo(f"url:     {info.url}")
    click.echo(f"secret:  {secret if generated else f'from ${secret_env}'}")
    click.echo(f"starts after alert {info.cursor}")
    if generated:
        click.echo(
            "The secret is shown only now; give it to the receiver to verify signatures.",
            err=True,
        )


@webhook.command("list")
@data_options
@output_option
def webhook_list(data_dir: Path | None, config_file: Path | None, output: str) -> None:
    """List webhooks and their delivery state (never their secrets)."""
    registry = open_from_ctx(data_dir, config_file)
    rows = [w.to_dict() for w in WebhookService(registry.db).list()]
    if output == "table":
        rows = [
            {
                **r,
                "filter": _filter_text(r),
                "next_attempt": "now" if not r["next_attempt"] else fmt_time(r["next_attempt"]),
                "last_delivery": fmt_time(r["last_delivery"]),
            }
            for r in rows
        ]
    columns = ["name", "url", "enabled", "filter", "cursor", "pending", "failures"]
    emit(rows, [*columns, "next_attempt", "last_delivery", "last_error"], output)


def _filter_text(row: dict[str, Any]) -> str:
    parts = [f"project={row['project']}"] if row["project"] else []
    if row["min_rating"] != RATINGS[0]:
        parts.append(f">={row['min_rating']}")
    if tuple(row["kinds"]) != KINDS:
        parts.append(",".join(row["kinds"]))
    return " ".join(parts) or "all"


@webhook.command("remove")
@data_options
@click.argument("name")
def webhook_remove(data_dir: Path | None, config_file: Path | None, name: str) -> None:
    """Remove a webhook (its undelivered alerts stay listed by `sealyard alerts`)."""
    registry = open_from_ctx(data_dir, config_file)
    WebhookService(registry.db).remove(name)
    _audit(registry, "webhook.delete", f"webhook:{name}")
    click.echo(f"removed webhook {name}")


@webhook.command("enable")
@data_options
@click.argument("name")
def webhook_enable(data_dir: Path | None, config_file: Path | None, name: str) -> None:
    """Resume deliveries now (a pending retry delay is dropped)."""
    registry = open_from_ctx(data_dir, config_file)
    WebhookService(registry.db).enable(name)
    _audit(registry, "webhook.update", f"webhook:{name}", enabled=True)
    click.echo(f"enabled webhook {name}")


@webhook.command("disable")
@data_options
@click.argument("name")
def webhook_disable(data_dir: Path | None, config_file: Path | None, name: str) -> None:
    """Pause deliveries; alerts keep queueing and are sent once re-enabled."""
    registry = open_from_ctx(data_dir, config_file)
    WebhookService(registry.db).disable(name)
    _audit(registry, "webhook.update", f"webhook:{name}", enabled=False)
    click.echo(f"disabled webhook {name}")


@webhook.command("reset")
@data_options
@click.argument("name")
@click.option(
    "--cursor",
    type=click.IntRange(min=0),
    help="Continue after this alert id (0 replays every stored alert).",
)
def webhook_reset(
    data_dir: Path | None, config_file: Path | None, name: str, cursor: int | None
) -> None:
    """Clear failures so the next delivery retries now; optionally move the cursor."""
    registry = open_from_ctx(data_dir, config_file)
    WebhookService(registry.db).reset(name, cursor=cursor)
    _audit(registry, "webhook.update", f"webhook:{name}", reset=True, cursor=cursor)
    click.echo(f"reset webhook {name}" + ("" if cursor is None else f" to cursor {cursor}"))


@webhook.command("deliver")
@data_options
@click.option("--batch", type=click.IntRange(1, 1000), default=100, show_default=True)
@output_option
def webhook_deliver(
    data_dir: Path | None, config_file: Path | None, batch: int, output: str
) -> None:
    """Run one delivery pass now for every due webhook; exit 1 if a delivery failed."""
    registry = open_from_ctx(data_dir, config_file)
    report = WebhookService(registry.db).deliver_pending(batch=batch)
    rows = [o.to_dict() for o in report.outcomes]
    emit(rows, ["name", "delivered", "skipped", "requests", "cursor", "error"], output)
    if report.failed:
        sys.exit(1)
