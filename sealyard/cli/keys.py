"""``sealyard key``: generate, import, export and list signing keys; read a PKCS#11 public key."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, cast

import click

from sealyard.cli._common import emit, output_option
from sealyard.trust.keys import (
    KEY_TYPES,
    PASSPHRASE_ENV,
    KeyInfo,
    KeyType,
    default_keys_dir,
    export_public_key,
    generate_key,
    get_key,
    import_private_key,
    import_public_key,
    is_encrypted_pem,
    list_keys,
    passphrase_from_env_or_prompt,
    secret_for,
)
from sealyard.trust.signers import HSM_MODULE_ENV, hsm_resolve

__all__ = ["key"]

IMPORT_PASSPHRASE_ENV = "SEALYARD_IMPORT_PASSPHRASE"  # noqa: S105 (a variable name)

keys_dir_option = click.option(
    "--keys-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Key directory (default $SEALYARD_KEYS or ~/.sealyard/keys).",
)


def _dir(keys_dir: Path | None) -> Path:
    return keys_dir if keys_dir is not None else default_keys_dir()


def _row(info: KeyInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "type": info.kind,
        "scheme": info.key.scheme,
        "keyid": info.keyid,
        "private": info.has_private,
        "public_path": str(info.public_path),
        "private_path": str(info.private_path) if info.private_path else None,
    }


def _announce(verb: str, info: KeyInfo) -> None:
    click.echo(f"{verb} {info.kind} key {info.name!r} in {info.public_path.parent}", err=True)
    click.echo(info.keyid)


def _read_input(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(file).read_bytes()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="FILE") from None


@click.group()
def key() -> None:
    """Manage signing keys (files, PKCS#11 tokens).

    Private keys are stored encrypted; the passphrase comes from $SEALYARD_KEY_PASSPHRASE
    or a prompt.
    """


@key.command("generate")
@click.argument("name")
@click.option(
    "--type",
    "key_type",
    type=click.Choice(KEY_TYPES),
    default="ed25519",
    show_default=True,
)
@keys_dir_option
def key_generate(name: str, key_type: str, keys_dir: Path | None) -> None:
    """Generate a key pair NAME and print its key id."""
    passphrase = passphrase_from_env_or_prompt(
        PASSPHRASE_ENV, confirm=True, prompt=f"Passphrase for key {name!r}"
    )
    info = generate_key(name, cast(KeyType, key_type), _dir(keys_dir), passphrase)
    _announce("generated", info)


@key.command("import")
@click.argument("name")
@click.argument("file")
@click.option("--public", is_flag=True, help="FILE is a public key (to verify with).")
@keys_dir_option
def key_import(name: str, file: str, public: bool, keys_dir: Path | None) -> None:
    """Import a PEM key from FILE ('-' for stdin) as NAME and print its key id.

    An encrypted private key is opened with $SEALYARD_IMPORT_PASSPHRASE (else a prompt) and
    stored under the passphrase from $SEALYARD_KEY_PASSPHRASE (else a prompt). With '-',
    stdin carries the key, so give the passphrases in those variables.
    """
    pem = _read_input(file)
    if public:
        info = import_public_key(name, pem, _dir(keys_dir))
    else:
        passphrase_in = None
        if is_encrypted_pem(pem):
            passphrase_in = passphrase_from_env_or_prompt(
                IMPORT_PASSPHRASE_ENV, prompt=f"Passphrase of {file}"
            )
        passphrase_out = passphrase_from_env_or_prompt(
            PASSPHRASE_ENV, confirm=True, prompt=f"New passphrase for key {name!r}"
        )
        info = import_private_key(name, pem, _dir(keys_dir), passphrase_in, passphrase_out)
    _announce("imported", info)


@key.command("export")
@click.argument("name")
@click.option("--output-file", type=click.Path(path_type=Path, dir_okay=False))
@keys_dir_option
def key_export(name: str, output_file: Path | None, keys_dir: Path | None) -> None:
    """Write the public key of NAME (PEM) to stdout or --output-file."""
    pem = export_public_key(name, _dir(keys_dir))
    if output_file is None:
        click.echo(pem.decode("ascii"), nl=False)
    else:
        output_file.write_bytes(pem)


@key.command("list")
@output_option
@keys_dir_option
def key_list(output: str, keys_dir: Path | None) -> None:
    """List the keys: name, type, key id and whether the private key is here."""
    rows = [_row(info) for info in list_keys(_dir(keys_dir))]
    if output == "json":
        emit(rows, [], output)
        return
    # plain columns, key id last: a 64-digit id must not squeeze names out of a narrow terminal
    width = max([len("NAME"), *(len(r["name"]) for r in rows)])
    click.echo(f"{'NAME':<{width}}  {'TYPE':<10}  {'PRIVATE':<7}  KEYID")
    for r in rows:
        private = "yes" if r["private"] else "no"
        click.echo(f"{r['name']:<{width}}  {r['type']:<10}  {private:<7}  {r['keyid']}")


@key.command("show")
@click.argument("name")
@output_option
@keys_dir_option
def key_show(name: str, output: str, keys_dir: Path | None) -> None:
    """Show one key, with the TUF key object to put into trust metadata."""
    info = get_key(name, _dir(keys_dir))
    row = _row(info)
    if output == "json":
        row["key"] = info.key.to_dict()
        json.dump(row, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    for field in ("name", "type", "scheme", "keyid", "private_path", "public_path"):
        click.echo(f"{field:<13}{row[field] if row[field] is not None else '-'}")


@key.command("hsm-pubkey")
@click.argument("uri")
@click.option(
    "--module",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    envvar=HSM_MODULE_ENV,
    help=f"PKCS#11 module (default ${HSM_MODULE_ENV}).",
)
@click.option("--save", "save_as", help="Also store the public key in the key dir as SAVE.")
@click.option("-o", "--output", type=click.Choice(["pem", "json"]), default="pem")
@keys_dir_option
def key_hsm_pubkey(
    uri: str, module: Path | None, save_as: str | None, output: str, keys_dir: Path | None
) -> None:
    """Read the public key of the PKCS#11 key URI (hsm:KEYID?label=TOKEN).

    Prints the PEM (or, with -o json, the URI and the TUF key object) and the key id. The
    PIN ($SEALYARD_HSM_PIN, else a prompt) is asked only if the token hides its public keys.
    """
    if module is not None:
        os.environ[HSM_MODULE_ENV] = str(module)

    canonical, public = hsm_resolve(uri, pin=secret_for(uri))
    pem = public.keyval["public"].encode("ascii")  # SPKI PEM for EC keys
    if save_as is not None:
        info = import_public_key(save_as, pem, _dir(keys_dir))
        click.echo(f"saved as {info.name!r} in {info.public_path.parent}", err=True)
    if output == "json":
        json.dump({"uri": canonical, "keyid": public.keyid, "key": public.to_dict()}, sys.stdout)
        sys.stdout.write("\n")
    else:
        click.echo(pem.decode("ascii"), nl=False)
        click.echo(f"uri   {canonical}", err=True)
        click.echo(f"keyid {public.keyid}", err=True)
