"""``sealyard sbom IMAGE``: the bill of materials of an image."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from sealyard.cli._common import parse_creds
from sealyard.sbom.model import LayerInfo

__all__ = ["sbom"]

FORMATS = ["table", "cyclonedx-json", "spdx-json", "json"]


@click.command()
@click.argument("image")
@click.option(
    "-o", "--output", "fmt", type=click.Choice(FORMATS), default="table", show_default=True
)
@click.option(
    "--output-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the document here (atomically) instead of stdout.",
)
@click.option(
    "--platform",
    help="os/arch[/variant] to pick from a multi-platform index (default: this host's).",
)
@click.option("--creds", help="USER:PASSWORD for a registry (else docker/containers auth files).")
@click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Plain HTTP to the registry (default only for loopback hosts).",
)
@click.option(
    "--deterministic",
    is_flag=True,
    help="Derive document ids from the image digest (reproducible output).",
)
def sbom(
    image: str,
    fmt: str,
    output_file: Path | None,
    platform: str | None,
    creds: str | None,
    insecure: bool | None,
    deterministic: bool,
) -> None:
    """Catalog every package in IMAGE and print its SBOM.

    IMAGE: oci:DIR[:TAG], docker-archive:FILE[:NAME:TAG], dir:PATH, or
    [docker://]REGISTRY/REPO[:TAG|@DIGEST].
    """
    from sealyard.sbom.formats import render
    from sealyard.sbom.scan import scan_image
    from sealyard.sbom.source import open_source

    with open_source(
        image, platform=platform, credentials=parse_creds(creds), insecure=insecure
    ) as source:
        total = len(source.info.layers)
        if sys.stderr.isatty():
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("reading layers", total=total)

                def advance(_layer: LayerInfo, _members: int) -> None:
                    bar.advance(task)

                result = scan_image(source, progress=advance)
        else:
            result = scan_image(source)
    text = render(result, fmt, deterministic=deterministic)
    if output_file is None:
        click.echo(text, nl=not text.endswith("\n"))
        return
    tmp = output_file.with_name(f".{output_file.name}.tmp{os.getpid()}")
    tmp.write_text(text if text.endswith("\n") else text + "\n")
    os.replace(tmp, output_file)
    click.echo(f"wrote {len(result.packages)} packages to {output_file}", err=True)
