"""``sealyard scan IMAGE``: SBOM plus findings from the local advisory database."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sealyard.cli._common import data_options, emit, open_from_ctx
from sealyard.cli.sbom import _creds

__all__ = ["scan"]


@click.command()
@data_options
@click.argument("image")
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option("--platform", help="os/arch[/variant] to pick from a multi-platform index.")
@click.option("--creds", help="USER:PASSWORD for a registry.")
@click.option("--insecure", is_flag=True, default=None, help="Plain HTTP to the registry.")
@click.option(
    "--fail-on-findings",
    is_flag=True,
    help="Exit 1 when any finding is reported (severity thresholds come later).",
)
def scan(
    data_dir: Path | None,
    config_file: Path | None,
    image: str,
    fmt: str,
    platform: str | None,
    creds: str | None,
    insecure: bool | None,
    fail_on_findings: bool,
) -> None:
    """Catalog IMAGE and match its packages against the advisories in --data.

    Import advisories first with `sealyard db import`. Works without a server.
    """
    from sealyard.sbom.scan import scan_image
    from sealyard.sbom.source import open_source
    from sealyard.vulndb.matcher import match_sbom
    from sealyard.vulndb.store import AdvisoryStore

    registry = open_from_ctx(data_dir, config_file)
    with open_source(
        image, platform=platform, credentials=_creds(creds), insecure=insecure
    ) as source:
        sbom = scan_image(source)
    result = match_sbom(sbom, AdvisoryStore(registry.db))
    if fmt == "json":
        json.dump(
            {
                "image": sbom.image.reference,
                "packages": len(sbom.packages),
                "findings": [f.to_dict() for f in result.findings],
                "skipped": [{"purl": p, "reason": r} for p, r in result.skipped],
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        rows = [
            {
                "package": f.package.name,
                "version": f.package.version,
                "vulnerability": f.vulnerability,
                "severity": f"{f.score[1] or '?'} {f.score[0] if f.score[0] is not None else ''}",
                "aliases": ",".join(a for a in f.aliases if a.startswith("CVE-")),
                "fixed": ", ".join(f.fixed) or "(none)",
            }
            for f in result.findings
        ]
        emit(rows, ["package", "version", "vulnerability", "severity", "aliases", "fixed"], fmt)
        click.echo(
            f"{len(result.findings)} findings in {len(sbom.packages)} packages "
            f"({len(result.skipped)} packages could not be matched)",
            err=True,
        )
    if fail_on_findings and result.findings:
        sys.exit(1)
