"""``sealyard sign``, ``sealyard verify`` and ``sealyard copy``: stage attestations end to end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from sealyard.cli._common import parse_creds

__all__ = ["copy", "sign", "verify"]

_CREDS = click.option(
    "--creds", help="USER:PASSWORD for the registry (else docker/containers auth files)."
)
_INSECURE = click.option(
    "--insecure",
    is_flag=True,
    default=None,
    help="Plain HTTP to the registry (default only for loopback hosts).",
)


@click.command()
@click.argument("image")
@click.option("--stage", required=True, help="The pipeline stage this signature attests.")
@click.option(
    "--key",
    "keys",
    multiple=True,
    required=True,
    help="Key name, PEM file or signer URI (hsm:…, gcpkms:…); repeat for several signers.",
)
@click.option(
    "--keys-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where named keys live (default $SEALYARD_KEYS or ~/.sealyard/keys).",
)
@click.option(
    "--predicate",
    "predicate_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Predicate JSON: SLSA provenance, or the file `sealyard scan --attest` wrote.",
)
@click.option("--predicate-type", help="The type of a bare predicate file.")
@click.option("--approver", help="Who approves (approval records; default $USER).")
@click.option("--comment", default="", help="A note kept in the approval record.")
@_CREDS
@_INSECURE
def sign(
    image: str,
    stage: str,
    keys: tuple[str, ...],
    keys_dir: Path | None,
    predicate_file: Path | None,
    predicate_type: str | None,
    approver: str | None,
    comment: str,
    creds: str | None,
    insecure: bool | None,
) -> None:
    """Attest that STAGE passed for IMAGE: sign an in-toto statement about the image's
    manifest digest and attach it to the image as an OCI referrer.

    The tag is resolved once; the signature is about the digest. Registries without the
    referrers API get the OCI tag-schema fallback.
    """
    from sealyard.client.registry import RegistryClient
    from sealyard.oci.reference import parse_reference
    from sealyard.trust.attach import resolve
    from sealyard.trust.keys import default_keys_dir, load_signer, secret_for
    from sealyard.trust.sign import build_predicate, sign_image

    kind, predicate = build_predicate(
        stage,
        predicate_file=predicate_file,
        predicate_type=predicate_type,
        approver=approver or os.environ.get("USER", ""),
        comment=comment,
    )
    directory = keys_dir or default_keys_dir()
    signers = [load_signer(ref, keys_dir=directory, passphrase=secret_for(ref)) for ref in keys]
    ref = parse_reference(image.removeprefix("docker://"))
    client = RegistryClient(ref.registry, credentials=parse_creds(creds), insecure=insecure)
    try:
        digest = resolve(client, ref)
        result = sign_image(
            client,
            ref.repository,
            digest,
            stage=stage,
            predicate_type=kind,
            predicate=predicate,
            signers=signers,
        )
    finally:
        client.close()
    how = "referrers tag" if result.used_tag_fallback else "referrers API"
    click.echo(
        f"signed {stage} for {ref.registry}/{ref.repository}@{digest} with "
        f"{len(signers)} key(s): attestation {result.descriptor.digest} ({how})"
    )


@click.command()
@click.argument("image")
@click.option("--policy", required=True, help="Name of a policy in the project's trust root.")
@click.option(
    "--trust",
    "--trust-bundle",
    "trust",
    help="Trust metadata: a URL, an exported bundle (.tar) or a directory "
    "(default: the registry's /trust/PROJECT).",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Pinned root metadata (root.json), obtained out of band. Needed on first use.",
)
@click.option("--offline", is_flag=True, help="Use no network for trust metadata.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
@_CREDS
@_INSECURE
def verify(
    image: str,
    policy: str,
    trust: str | None,
    root: Path | None,
    offline: bool,
    output: str,
    creds: str | None,
    insecure: bool | None,
) -> None:
    """Verify IMAGE against a signed policy; exit 0 when allowed, 1 when not.

    IMAGE is a registry reference or an OCI layout made by `sealyard copy` (oci:DIR:TAG).
    The decision explains itself: per stage, the trusted signers found, the threshold, ages
    and conditions.
    """
    from sealyard.policy.verify import verify_image

    decision, _ = verify_image(
        image,
        policy=policy,
        trust=trust,
        root=root,
        credentials=parse_creds(creds),
        insecure=insecure,
        offline=offline,
    )
    if output == "json":
        click.echo(json.dumps(decision.to_dict(), indent=2))
    else:
        click.echo("\n".join(decision.explain()))
    raise SystemExit(0 if decision.allowed else 1)


@click.command()
@click.argument("source")
@click.argument("destination")
@click.option("--src-creds", help="USER:PASSWORD for the source registry.")
@click.option("--dest-creds", help="USER:PASSWORD for the destination registry.")
@click.option("--src-insecure", is_flag=True, default=None, help="Plain HTTP to the source.")
@click.option("--dest-insecure", is_flag=True, default=None, help="Plain HTTP to the destination.")
@click.option(
    "--repository",
    help="Repository an oci: layout stands for (default: the source's).",
)
def copy(
    source: str,
    destination: str,
    src_creds: str | None,
    dest_creds: str | None,
    src_insecure: bool | None,
    dest_insecure: bool | None,
    repository: str | None,
) -> None:
    """Copy an image with its attestations, SBOMs and signatures (all its referrers).

    SOURCE and DESTINATION are registry references or OCI layouts (oci:DIR[:TAG]). Digests
    are preserved, so signatures stay valid; a layout remembers the source repository so it
    can be verified offline.
    """
    from sealyard.client.copy import copy_image, open_endpoint

    src = open_endpoint(source, credentials=parse_creds(src_creds), insecure=src_insecure)
    try:
        dst = open_endpoint(
            destination,
            credentials=parse_creds(dest_creds),
            insecure=dest_insecure,
            repository=repository or src.repository,
        )
        try:
            report = copy_image(src, dst)
        finally:
            dst.close()
    finally:
        src.close()
    click.echo(
        f"copied {report.digest}: {report.manifests} manifest(s), {report.referrers} "
        f"referrer(s), {report.blobs_copied} blob(s) copied, {report.blobs_present} present"
    )
