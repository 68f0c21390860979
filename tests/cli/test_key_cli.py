"""``sealyard key …`` through click, on real key files and a real SoftHSM2 token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib.signer import Key

from sealyard.cli.keys import key
from sealyard.errors import ConflictError, NotFoundError, UsageError
from sealyard.trust.keys import get_key, load_public_key, load_signer
from tests.fixtures.softhsm import SoftHSMToken, use_token

PW = "cli passphrase"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for var in ("SEALYARD_KEY_PASSPHRASE", "SEALYARD_IMPORT_PASSPHRASE", "SEALYARD_HSM_PIN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SEALYARD_KEYS", str(tmp_path / "keys"))
    return CliRunner()


def test_generate_list_show_export(runner: CliRunner, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    env = {"SEALYARD_KEY_PASSPHRASE": PW}
    made = runner.invoke(key, ["generate", "release", "--type", "ecdsa-p256"], env=env)
    assert made.exit_code == 0, made.output
    keyid = made.stdout.strip()
    assert keyid == get_key("release", keys).keyid
    assert "generated ecdsa-p256 key 'release'" in made.stderr

    listed = runner.invoke(key, ["list", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["type"], r["keyid"], r["private"]) for r in rows] == [
        ("release", "ecdsa-p256", keyid, True)
    ]
    table = runner.invoke(key, ["list"])
    assert "release" in table.stdout
    assert keyid in table.stdout

    shown = runner.invoke(key, ["show", "release", "-o", "json"])
    doc = json.loads(shown.stdout)
    assert doc["keyid"] == keyid
    assert Key.from_dict(keyid, doc["key"]).keyid == keyid
    human = runner.invoke(key, ["show", "release"])
    assert f"keyid        {keyid}" in human.stdout

    exported = runner.invoke(key, ["export", "release"])
    assert exported.stdout.encode() == (keys / "release.pub").read_bytes()
    out = tmp_path / "release.pem"
    assert runner.invoke(key, ["export", "release", "--output-file", str(out)]).exit_code == 0
    assert load_public_key(out).keyid == keyid


def test_generate_prompts_with_confirmation(runner: CliRunner, tmp_path: Path) -> None:
    keys = tmp_path / "elsewhere"
    result = runner.invoke(
        key, ["generate", "k", "--keys-dir", str(keys)], input="s3cret\nmismatch\ns3cret\ns3cret\n"
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    signer = load_signer("k", keys_dir=keys, passphrase=lambda: b"s3cret")
    assert signer.public_key.keyid == result.stdout.strip()


def test_generate_errors(runner: CliRunner) -> None:
    env = {"SEALYARD_KEY_PASSPHRASE": PW}
    assert runner.invoke(key, ["generate", "k"], env=env).exit_code == 0
    again = runner.invoke(key, ["generate", "k"], env=env)
    assert again.exit_code != 0
    assert isinstance(again.exception, ConflictError)
    bad_type = runner.invoke(key, ["generate", "x", "--type", "dsa"], env=env)
    assert bad_type.exit_code == 2
    assert "dsa" in bad_type.output
    bad_name = runner.invoke(key, ["generate", "../x"], env=env)
    assert isinstance(bad_name.exception, UsageError)
    no_input = runner.invoke(key, ["generate", "y"], input="")
    assert isinstance(no_input.exception, UsageError)
    assert "SEALYARD_KEY_PASSPHRASE" in str(no_input.exception)


def test_import_private_and_public(runner: CliRunner, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    private = ec.generate_private_key(ec.SECP256R1())
    encrypted = tmp_path / "in.pem"
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"old"),
        )
    )
    env = {"SEALYARD_IMPORT_PASSPHRASE": "old", "SEALYARD_KEY_PASSPHRASE": PW}
    imported = runner.invoke(key, ["import", "mine", str(encrypted)], env=env)
    assert imported.exit_code == 0, imported.output
    wrong = runner.invoke(
        key, ["import", "mine2", str(encrypted)], env={**env, "SEALYARD_IMPORT_PASSPHRASE": "no"}
    )
    assert isinstance(wrong.exception, UsageError)
    assert "wrong passphrase" in str(wrong.exception)

    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = runner.invoke(key, ["import", "theirs", "-", "--public"], input=public_pem)
    assert theirs.exit_code == 0, theirs.output
    # the same key: the same TUF key id
    assert theirs.stdout.strip() == imported.stdout.strip()
    rows = json.loads(runner.invoke(key, ["list", "-o", "json"]).stdout)
    assert {r["name"]: r["private"] for r in rows} == {"mine": True, "theirs": False}
    signer = load_signer("mine", keys_dir=keys, passphrase=PW.encode)
    load_public_key(keys / "theirs.pub").verify_signature(signer.sign(b"x"), b"x")

    missing = runner.invoke(key, ["import", "z", str(tmp_path / "nope.pem")])
    assert missing.exit_code == 2
    garbage = runner.invoke(key, ["import", "g", "-", "--public"], input=b"junk")
    assert garbage.exit_code != 0
    assert "not a PEM public key" in str(garbage.exception)


def test_unknown_key(runner: CliRunner) -> None:
    for args in (["show", "nope"], ["export", "nope"]):
        result = runner.invoke(key, args)
        assert isinstance(result.exception, NotFoundError)


def test_hsm_pubkey(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token: SoftHSMToken = use_token(tmp_path / "hsm", monkeypatch)
    token.generate_key(2)
    monkeypatch.delenv("PYKCS11LIB")
    uri = f"hsm:2?label={token.label}"

    result = runner.invoke(
        key, ["hsm-pubkey", uri, "--module", str(token.module), "--save", "hsm-release"]
    )
    assert result.exit_code == 0, result.output
    saved = get_key("hsm-release", tmp_path / "keys")
    assert not saved.has_private
    assert load_public_key(result.stdout.encode()).keyid == saved.keyid
    assert f"keyid {saved.keyid}" in result.stderr

    as_json = runner.invoke(
        key, ["hsm-pubkey", uri, "-o", "json"], env={"PYKCS11LIB": str(token.module)}
    )
    doc = json.loads(as_json.stdout)
    assert doc == {"uri": token.uri(2), "keyid": saved.keyid, "key": saved.key.to_dict()}

    # the saved public key is what a signature made on the token verifies with
    signer = load_signer(
        uri, keys_dir=tmp_path / "keys", passphrase=token.pin.encode, public_key=saved.key
    )
    saved.key.verify_signature(signer.sign(b"payload"), b"payload")

    unknown = runner.invoke(
        key, ["hsm-pubkey", "hsm:9?label=" + token.label], env={"SEALYARD_HSM_PIN": token.pin}
    )
    assert isinstance(unknown.exception, NotFoundError)
