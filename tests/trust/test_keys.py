"""The key directory and file signers: real keys, real files, real signatures."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.formats import encode_canonical
from securesystemslib.signer import (
    SIGNER_FOR_URI_SCHEME,
    CryptoSigner,
    Key,
    Signer,
    SSlibKey,
    _gcp_signer,
)
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import Metadata, Root

from sealyard.errors import (
    ConflictError,
    NotFoundError,
    SealyardError,
    SignatureError,
    UntrustedDataError,
    UsageError,
)
from sealyard.trust.keys import (
    KeyType,
    default_keys_dir,
    export_public_key,
    generate_key,
    get_key,
    import_private_key,
    import_public_key,
    is_encrypted_pem,
    list_keys,
    load_public_key,
    load_signer,
    passphrase_from_env_or_prompt,
    secret_for,
)
from sealyard.trust.signers import CheckedSigner

PW = b"correct horse battery staple"
PAYLOAD = b'{"_type":"https://in-toto.io/Statement/v1"}'

SCHEMES: dict[KeyType, tuple[str, str]] = {
    "ed25519": ("ed25519", "ed25519"),
    "ecdsa-p256": ("ecdsa", "ecdsa-sha2-nistp256"),
    "rsa": ("rsa", "rsassa-pss-sha256"),
}


def _pem(
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    password: bytes | None = None,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def _spki(public: object) -> bytes:
    return public.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _tuf_keyid(keytype: str, scheme: str, public: str) -> str:
    """The TUF key id computed here, independently of SSlibKey.from_crypto."""
    canonical = encode_canonical(
        {"keytype": keytype, "scheme": scheme, "keyval": {"public": public}}
    )
    assert isinstance(canonical, str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- generate --------------------------------------------------------------------------


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa-p256", "rsa"])
def test_generate_sign_verify_round_trip(tmp_path: Path, key_type: KeyType) -> None:
    keys = tmp_path / "keys"
    info = generate_key("release", key_type, keys, PW)

    keytype, scheme = SCHEMES[key_type]
    assert (info.key.keytype, info.key.scheme) == (keytype, scheme)
    assert info.kind == key_type
    assert info.private_path == keys / "release.key"
    assert info.public_path == keys / "release.pub"
    assert info.private_path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert info.public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")

    signer = load_signer("release", keys_dir=keys, passphrase=lambda: PW)
    assert isinstance(signer, CryptoSigner)
    assert signer.public_key == info.key
    signature = signer.sign(PAYLOAD)
    assert signature.keyid == info.keyid
    info.key.verify_signature(signature, PAYLOAD)
    # verification with the key as a verifier reads it from the exported PEM
    load_public_key(export_public_key("release", keys)).verify_signature(signature, PAYLOAD)
    with pytest.raises(UnverifiedSignatureError):
        info.key.verify_signature(signature, PAYLOAD + b" ")


def test_rsa_keys_have_3072_bits(tmp_path: Path) -> None:
    info = generate_key("r", "rsa", tmp_path, PW)
    private = serialization.load_pem_private_key(info.private_path.read_bytes(), PW)  # type: ignore[union-attr]
    assert isinstance(private, rsa.RSAPrivateKey)
    assert private.key_size == 3072


def test_file_modes(tmp_path: Path) -> None:
    keys = tmp_path / "new" / "keys"
    info = generate_key("k", "ed25519", keys, PW)
    assert info.private_path is not None
    assert stat.S_IMODE(info.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(info.public_path.stat().st_mode) == 0o644
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert sorted(p.name for p in keys.iterdir()) == ["k.key", "k.pub"]  # no temp files left


def test_private_key_is_encrypted_with_the_passphrase(tmp_path: Path) -> None:
    info = generate_key("k", "ecdsa-p256", tmp_path, PW)
    pem = info.private_path.read_bytes()  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, None)
    private = serialization.load_pem_private_key(pem, PW)
    assert SSlibKey.from_crypto(private.public_key()).keyid == info.keyid


def test_existing_name_is_never_overwritten(tmp_path: Path) -> None:
    first = generate_key("k", "ed25519", tmp_path, PW)
    before = (first.private_path.read_bytes(), first.public_path.read_bytes())  # type: ignore[union-attr]
    for key_type in ("ed25519", "rsa"):
        with pytest.raises(ConflictError, match="already exists"):
            generate_key("k", key_type, tmp_path, PW)  # type: ignore[arg-type]
    with pytest.raises(ConflictError):
        import_public_key("k", _spki(ed25519.Ed25519PrivateKey.generate().public_key()), tmp_path)
    assert (first.private_path.read_bytes(), first.public_path.read_bytes()) == before  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key", "k.pub"]


def test_public_only_name_is_taken_too(tmp_path: Path) -> None:
    import_public_key("k", _spki(ed25519.Ed25519PrivateKey.generate().public_key()), tmp_path)
    with pytest.raises(ConflictError):
        generate_key("k", "ed25519", tmp_path, PW)
    assert not (tmp_path / "k.key").exists()


def test_a_key_file_appearing_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    # the pre-check passed, then someone wrote NAME.pub: link() refuses and .key is rolled back
    from sealyard.trust import keys as keys_module

    original = keys_module._refuse_existing

    calls = []

    def racing(name: str, keys_dir: Path) -> None:
        original(name, keys_dir)
        calls.append(name)
        if len(calls) == 2:  # the last check before writing
            (keys_dir / f"{name}.pub").write_bytes(b"theirs")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(keys_module, "_refuse_existing", racing)
        with pytest.raises(ConflictError, match="refusing to overwrite"):
            generate_key("k", "ed25519", tmp_path, PW)
    assert (tmp_path / "k.pub").read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pub"]


@pytest.mark.parametrize("name", ["", "../evil", "a/b", ".hidden", "-x", "x" * 129, "é"])
def test_bad_names(tmp_path: Path, name: str) -> None:
    keys = tmp_path / "keys"
    with pytest.raises(UsageError, match="invalid key name"):
        generate_key(name, "ed25519", keys, PW)
    assert not keys.exists() or not any(keys.iterdir())
    assert not (tmp_path / "evil.key").exists()


def test_empty_passphrase_and_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="empty passphrase"):
        generate_key("k", "ed25519", tmp_path, b"")
    with pytest.raises(UsageError, match="unknown key type"):
        generate_key("k", "dsa", tmp_path, PW)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UsageError, match="cannot create"):
        generate_key("k", "ed25519", blocker / "keys", PW)


# --- key ids ---------------------------------------------------------------------------


def test_keyid_is_tufs_for_a_known_ed25519_key(tmp_path: Path) -> None:
    private = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    expected = _tuf_keyid("ed25519", "ed25519", raw.hex())
    info = import_private_key("fixed", _pem(private), tmp_path, None, PW)
    assert info.keyid == expected
    assert info.key.to_dict() == {
        "keytype": "ed25519",
        "scheme": "ed25519",
        "keyval": {"public": raw.hex()},
    }


@pytest.mark.parametrize("key_type", ["ecdsa-p256", "rsa"])
def test_keyid_is_tufs_for_pem_keys(tmp_path: Path, key_type: KeyType) -> None:
    info = generate_key("k", key_type, tmp_path, PW)
    keytype, scheme = SCHEMES[key_type]
    spki = info.public_path.read_text()
    assert info.keyid == _tuf_keyid(keytype, scheme, spki)


def test_keyid_is_stable_across_every_way_of_reading_the_key(tmp_path: Path) -> None:
    info = generate_key("k", "ecdsa-p256", tmp_path, PW)
    ids = {
        info.keyid,
        get_key("k", tmp_path).keyid,
        list_keys(tmp_path)[0].keyid,
        load_public_key(info.public_path).keyid,
        load_public_key(export_public_key("k", tmp_path)).keyid,
        load_signer("k", keys_dir=tmp_path, passphrase=lambda: PW).public_key.keyid,
        load_signer(
            str(info.private_path), keys_dir=tmp_path / "x", passphrase=lambda: PW
        ).public_key.keyid,
    }
    assert ids == {info.keyid}
    # and TUF computes the same id for the key dict
    assert Key.from_dict(info.keyid, info.key.to_dict()) == info.key


def test_tuf_metadata_signed_with_a_loaded_signer_verifies(tmp_path: Path) -> None:
    info = generate_key("root", "ed25519", tmp_path, PW)
    root = Root(expires=datetime.now(UTC) + timedelta(days=1))
    root.add_key(info.key, "root")
    md = Metadata(root)
    md.sign(load_signer("root", keys_dir=tmp_path, passphrase=lambda: PW))
    root.verify_delegate("root", md.signed_bytes, md.signatures)
    # and a foreign key's signature does not count
    other = generate_key("other", "ed25519", tmp_path, PW)
    md2 = Metadata(root)
    md2.sign(load_signer("other", keys_dir=tmp_path, passphrase=lambda: PW))
    assert other.keyid not in root.roles["root"].keyids
    with pytest.raises(UnsignedMetadataError):
        root.verify_delegate("root", md2.signed_bytes, md2.signatures)


# --- passphrases and damaged files -----------------------------------------------------


def test_wrong_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    generate_key("k", "ed25519", tmp_path, PW)
    with pytest.raises(UsageError, match="wrong passphrase for key 'k'"):
        load_signer("k", keys_dir=tmp_path, passphrase=lambda: b"not it")
    with pytest.raises(UsageError, match="encrypted: a passphrase is needed"):
        load_signer("k", keys_dir=tmp_path)


def test_passphrase_is_asked_only_for_encrypted_keys(tmp_path: Path) -> None:
    plain = tmp_path / "plain.pem"
    plain.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    asked: list[int] = []

    def passphrase() -> bytes:
        asked.append(1)
        return PW

    signer = load_signer(str(plain), keys_dir=tmp_path / "keys", passphrase=passphrase)
    signer.public_key.verify_signature(signer.sign(PAYLOAD), PAYLOAD)
    assert asked == []
    generate_key("k", "ed25519", tmp_path / "keys", PW)
    load_signer("k", keys_dir=tmp_path / "keys", passphrase=passphrase)
    assert asked == [1]


def test_tampered_private_key_file(tmp_path: Path) -> None:
    info = generate_key("k", "ed25519", tmp_path, PW)
    assert info.private_path is not None
    lines = info.private_path.read_bytes().splitlines(keepends=True)
    body = bytearray(lines[2])
    body[10] = ord("A") if body[10] != ord("A") else ord("B")
    lines[2] = bytes(body)
    info.private_path.chmod(0o600)
    info.private_path.write_bytes(b"".join(lines))
    with pytest.raises(SealyardError) as caught:
        load_signer("k", keys_dir=tmp_path, passphrase=lambda: PW)
    assert isinstance(caught.value, UsageError | UntrustedDataError)
    assert "k" in str(caught.value)


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"hello",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"\x00\xff" * 64,
    ],
)
def test_garbage_private_pem(tmp_path: Path, garbage: bytes) -> None:
    with pytest.raises(UntrustedDataError, match="not a PEM private key"):
        import_private_key("k", garbage, tmp_path, None, PW)
    path = tmp_path / "garbage.pem"
    path.write_bytes(garbage)
    with pytest.raises(UntrustedDataError):
        load_signer(str(path), keys_dir=tmp_path)
    assert not (tmp_path / "k.key").exists()


@pytest.mark.parametrize(
    "garbage", [b"", b"hello", b"-----BEGIN PUBLIC KEY-----\nAA\n-----END PUBLIC KEY-----\n"]
)
def test_garbage_public_pem(tmp_path: Path, garbage: bytes) -> None:
    with pytest.raises(UntrustedDataError, match="not a PEM public key"):
        import_public_key("k", garbage, tmp_path)
    with pytest.raises(UntrustedDataError):
        load_public_key(garbage)


def test_damaged_pub_file_is_reported_by_name(tmp_path: Path) -> None:
    generate_key("good", "ed25519", tmp_path, PW)
    (tmp_path / "bad.pub").write_bytes(b"oops")
    with pytest.raises(UntrustedDataError, match=r"bad\.pub"):
        list_keys(tmp_path)


def test_swapped_public_key_file_is_detected(tmp_path: Path) -> None:
    generate_key("a", "ed25519", tmp_path, PW)
    b = generate_key("b", "ed25519", tmp_path, PW)
    (tmp_path / "a.pub").unlink()
    (tmp_path / "a.pub").write_bytes(b.public_path.read_bytes())
    with pytest.raises(UsageError, match="does not match"):
        load_signer("a", keys_dir=tmp_path, passphrase=lambda: PW)


def test_private_and_public_pem_mixed_up(tmp_path: Path) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(UsageError, match="is a private key"):
        import_public_key("k", _pem(private), tmp_path)
    pub = tmp_path / "k.pem"
    pub.write_bytes(_spki(private.public_key()))
    with pytest.raises(UsageError, match="is a public key"):
        load_signer(str(pub), keys_dir=tmp_path)
    with pytest.raises(UsageError, match="is a public key"):
        import_private_key("k", pub.read_bytes(), tmp_path, None, PW)


def test_unsupported_keys_are_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(UsageError, match="1024 bits is too small"):
        import_private_key("weak", _pem(weak), tmp_path, None, PW)
    with pytest.raises(UsageError, match="unsupported EC curve secp256k1"):
        import_private_key("k1", _pem(ec.generate_private_key(ec.SECP256K1())), tmp_path, None, PW)
    with pytest.raises(UsageError, match="unsupported key type"):
        import_public_key("ed448", _spki(ed448.Ed448PrivateKey.generate().public_key()), tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- import / export -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "password", "fmt"),
    [
        (ed25519.Ed25519PrivateKey.generate, None, serialization.PrivateFormat.PKCS8),
        (ed25519.Ed25519PrivateKey.generate, b"in-pw", serialization.PrivateFormat.PKCS8),
        (
            lambda: ec.generate_private_key(ec.SECP384R1()),
            b"in-pw",
            serialization.PrivateFormat.TraditionalOpenSSL,
        ),
        (
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            None,
            serialization.PrivateFormat.TraditionalOpenSSL,
        ),
    ],
)
def test_import_private_export_public_round_trip(
    tmp_path: Path, make: object, password: bytes | None, fmt: serialization.PrivateFormat
) -> None:
    private = make()  # type: ignore[operator]
    pem = _pem(private, password, fmt)
    assert is_encrypted_pem(pem) == (password is not None)

    info = import_private_key("imp", pem, tmp_path, password, PW)
    original = SSlibKey.from_crypto(private.public_key())
    assert info.keyid == original.keyid
    assert export_public_key("imp", tmp_path) == _spki(private.public_key())
    assert stat.S_IMODE(info.private_path.stat().st_mode) == 0o600  # type: ignore[union-attr]

    # re-encrypted under the new passphrase, and signs as the original key
    with pytest.raises(UsageError, match="wrong passphrase"):
        load_signer("imp", keys_dir=tmp_path, passphrase=lambda: password or b"x")
    signer = load_signer("imp", keys_dir=tmp_path, passphrase=lambda: PW)
    original.verify_signature(signer.sign(PAYLOAD), PAYLOAD)


def test_import_encrypted_needs_the_right_input_passphrase(tmp_path: Path) -> None:
    pem = _pem(ed25519.Ed25519PrivateKey.generate(), b"in-pw")
    with pytest.raises(UsageError, match="a passphrase is needed"):
        import_private_key("k", pem, tmp_path, None, PW)
    with pytest.raises(UsageError, match="wrong passphrase"):
        import_private_key("k", pem, tmp_path, b"wrong", PW)
    with pytest.raises(UsageError, match="empty passphrase"):
        import_private_key("k", pem, tmp_path, b"in-pw", b"")
    assert list(tmp_path.iterdir()) == []


def test_import_public_then_verify_but_not_sign(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    info = import_public_key("theirs", _spki(private.public_key()), tmp_path)
    assert not info.has_private
    assert info.private_path is None
    assert not (tmp_path / "theirs.key").exists()
    theirs = CryptoSigner(private)
    info.key.verify_signature(theirs.sign(PAYLOAD), PAYLOAD)
    with pytest.raises(UsageError, match="public only"):
        load_signer("theirs", keys_dir=tmp_path, passphrase=lambda: PW)


def test_export_and_get_unknown(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no key named 'nope'"):
        export_public_key("nope", tmp_path)
    with pytest.raises(NotFoundError):
        get_key("nope", tmp_path)
    with pytest.raises(NotFoundError, match="no such file"):
        load_public_key(tmp_path / "nope.pub")


def test_list_keys(tmp_path: Path) -> None:
    assert list_keys(tmp_path / "absent") == []
    generate_key("zeta", "ed25519", tmp_path, PW)
    generate_key("alpha", "ecdsa-p256", tmp_path, PW)
    import_public_key("mid", _spki(ec.generate_private_key(ec.SECP384R1()).public_key()), tmp_path)
    (tmp_path / "notes.txt").write_text("ignored")
    listed = list_keys(tmp_path)
    assert [(k.name, k.kind, k.has_private) for k in listed] == [
        ("alpha", "ecdsa-p256", True),
        ("mid", "ecdsa-p384", False),
        ("zeta", "ed25519", True),
    ]


# --- load_signer references ------------------------------------------------------------


def test_load_signer_from_paths_and_file2_uri(tmp_path: Path) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    expected = SSlibKey.from_crypto(private.public_key())
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(_pem(private, PW))
    for ref in (str(encrypted), f"file2:{encrypted}"):
        signer = load_signer(ref, keys_dir=tmp_path / "keys", passphrase=lambda: PW)
        assert signer.public_key == expected
        expected.verify_signature(signer.sign(PAYLOAD), PAYLOAD)


def test_load_signer_checks_a_given_public_key(tmp_path: Path) -> None:
    generate_key("k", "ed25519", tmp_path, PW)
    other = generate_key("other", "ed25519", tmp_path, PW)
    with pytest.raises(UsageError, match="does not match public key"):
        load_signer("k", keys_dir=tmp_path, passphrase=lambda: PW, public_key=other.key)


def test_load_signer_unknown_refs(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no key named 'nope'"):
        load_signer("nope", keys_dir=tmp_path)
    with pytest.raises(NotFoundError):
        load_signer(str(tmp_path / "missing.pem"), keys_dir=tmp_path)
    with pytest.raises(UsageError, match="unsupported signer URI"):
        load_signer("vault2:secret/key", keys_dir=tmp_path)
    with pytest.raises(UsageError, match="no signing key"):
        load_signer("", keys_dir=tmp_path)


# --- KMS URIs: securesystemslib's dispatch, with a fake KMS signer ---------------------


class FakeKMSSigner(Signer):
    """A FAKE cloud-KMS signer: holds an in-memory key per URI, registered as ``fakekms:``."""

    SCHEME = "fakekms"
    keys: dict[str, CryptoSigner] = {}
    fail_with: Exception | None = None

    def __init__(self, inner: CryptoSigner, public_key: Key) -> None:
        self._inner = inner
        self._public_key = public_key

    @classmethod
    def from_priv_key_uri(cls, priv_key_uri, public_key, secrets_handler=None):  # type: ignore[no-untyped-def]
        if priv_key_uri not in cls.keys:
            raise ValueError(f"could not find key {priv_key_uri}")
        return cls(cls.keys[priv_key_uri], public_key)

    @property
    def public_key(self) -> Key:
        return self._public_key

    def sign(self, payload: bytes):  # type: ignore[no-untyped-def]
        if self.fail_with is not None:
            raise self.fail_with
        signature = self._inner.sign(payload)
        signature.keyid = self._public_key.keyid
        return signature


@pytest.fixture
def fake_kms(monkeypatch: pytest.MonkeyPatch) -> type[FakeKMSSigner]:
    monkeypatch.setitem(SIGNER_FOR_URI_SCHEME, FakeKMSSigner.SCHEME, FakeKMSSigner)
    monkeypatch.setattr(FakeKMSSigner, "keys", {})
    monkeypatch.setattr(FakeKMSSigner, "fail_with", None)
    return FakeKMSSigner


def test_kms_uri_passes_through_and_is_checked(
    tmp_path: Path, fake_kms: type[FakeKMSSigner]
) -> None:
    held = CryptoSigner.generate_ecdsa()
    fake_kms.keys["fakekms:projects/p/keys/release"] = held
    with pytest.raises(UsageError, match="need the public key"):
        load_signer("fakekms:projects/p/keys/release", keys_dir=tmp_path)

    signer = load_signer(
        "fakekms:projects/p/keys/release", keys_dir=tmp_path, public_key=held.public_key
    )
    assert isinstance(signer, CheckedSigner)
    held.public_key.verify_signature(signer.sign(PAYLOAD), PAYLOAD)

    with pytest.raises(NotFoundError, match="could not find"):
        load_signer("fakekms:projects/p/keys/none", keys_dir=tmp_path, public_key=held.public_key)

    # the KMS holds another key than the trust metadata says: caught when signing
    wrong = load_signer(
        "fakekms:projects/p/keys/release",
        keys_dir=tmp_path,
        public_key=CryptoSigner.generate_ecdsa().public_key,
    )
    with pytest.raises(SignatureError, match="different key"):
        wrong.sign(PAYLOAD)


def test_kms_failures_become_sealyard_errors(tmp_path: Path, fake_kms: type[FakeKMSSigner]) -> None:
    held = CryptoSigner.generate_ed25519()
    fake_kms.keys["fakekms:k"] = held
    signer = load_signer("fakekms:k", keys_dir=tmp_path, public_key=held.public_key)
    fake_kms.fail_with = ConnectionError("kms unreachable")
    with pytest.raises(SignatureError, match="ConnectionError: kms unreachable"):
        signer.sign(PAYLOAD)


@pytest.mark.skipif(_gcp_signer.GCP_IMPORT_ERROR is None, reason="google-cloud-kms is installed")
def test_kms_without_its_optional_packages(tmp_path: Path) -> None:
    key = CryptoSigner.generate_ecdsa().public_key
    with pytest.raises(UsageError, match=r"securesystemslib\[gcpkms\]"):
        load_signer(
            "gcpkms:projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
            keys_dir=tmp_path,
            public_key=key,
        )


# --- environment helpers ---------------------------------------------------------------


def test_default_keys_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEALYARD_KEYS", str(tmp_path / "k"))
    assert default_keys_dir() == tmp_path / "k"
    monkeypatch.delenv("SEALYARD_KEYS")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_keys_dir() == tmp_path / ".sealyard" / "keys"


def test_passphrase_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEALYARD_KEY_PASSPHRASE", "from-env")
    assert passphrase_from_env_or_prompt() == b"from-env"
    assert secret_for("release")() == b"from-env"
    monkeypatch.setenv("SEALYARD_HSM_PIN", "4321")
    assert secret_for("hsm:2?label=t")() == b"4321"
    monkeypatch.setenv("OTHER", "x")
    assert passphrase_from_env_or_prompt("OTHER") == b"x"


def test_key_info_json_is_tuf_key_dict(tmp_path: Path) -> None:
    info = generate_key("k", "ecdsa-p256", tmp_path, PW)
    doc = json.loads(json.dumps(info.key.to_dict()))
    assert doc["keyval"]["public"] == info.public_path.read_text()
    assert Key.from_dict(info.keyid, doc) == info.key
