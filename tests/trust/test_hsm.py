"""PKCS#11 signing against a real SoftHSM2 token (isolated per test under tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import SSlibKey

from sealyard.errors import NotFoundError, SignatureError, UsageError
from sealyard.trust.keys import hsm_public_key, load_public_key, load_signer
from sealyard.trust.signers import CheckedSigner, hsm_resolve
from tests.fixtures.softhsm import SoftHSMToken, use_token

PAYLOAD = b"sealyard stage attestation"


@pytest.fixture
def token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SoftHSMToken:
    return use_token(tmp_path / "hsm", monkeypatch)


def _pin(token: SoftHSMToken) -> bytes:
    return token.pin.encode()


@pytest.mark.parametrize(
    ("curve", "scheme"),
    [("p256", "ecdsa-sha2-nistp256"), ("p384", "ecdsa-sha2-nistp384")],
)
def test_sign_with_token_and_verify_with_its_public_key(
    token: SoftHSMToken, tmp_path: Path, curve: str, scheme: str
) -> None:
    token.generate_key(2, curve)
    uri = token.uri(2)

    public = hsm_public_key(uri)
    assert public.scheme == scheme
    signer = load_signer(uri, keys_dir=tmp_path / "keys", passphrase=lambda: _pin(token))
    assert isinstance(signer, CheckedSigner)
    assert signer.public_key == public

    signature = signer.sign(PAYLOAD)
    assert signature.keyid == public.keyid
    public.verify_signature(signature, PAYLOAD)
    with pytest.raises(UnverifiedSignatureError):
        public.verify_signature(signature, PAYLOAD + b"!")


def test_public_key_is_the_one_on_the_token(token: SoftHSMToken) -> None:
    token.generate_key(3)
    # pkcs11-tool reads the key independently of securesystemslib
    der = token.public_key_der(3)
    expected = SSlibKey.from_crypto(serialization.load_der_public_key(der))
    uri, public = hsm_resolve(f"hsm:3?label={token.label}")
    assert public.keyid == expected.keyid
    assert public.to_dict() == expected.to_dict()
    assert uri == token.uri(3)
    # the PEM that users add to trust metadata gives the same key id through the file path
    pem = public.keyval["public"].encode()
    assert load_public_key(pem).keyid == public.keyid


def test_given_public_key_and_pin_read_once(token: SoftHSMToken, tmp_path: Path) -> None:
    token.generate_key(2)
    public = hsm_public_key(token.uri(2))
    calls = []

    def pin() -> bytes:
        calls.append(1)
        return _pin(token)

    signer = load_signer(token.uri(2), keys_dir=tmp_path, passphrase=pin, public_key=public)
    for i in range(3):
        public.verify_signature(signer.sign(b"%d" % i), b"%d" % i)
    assert len(calls) == 1


def test_public_key_hidden_before_login_needs_the_pin(token: SoftHSMToken, tmp_path: Path) -> None:
    token.generate_key(8, hidden=True)
    with pytest.raises(NotFoundError, match="give the PIN"):
        hsm_public_key(token.uri(8))
    with pytest.raises(UsageError, match="wrong PIN"):
        hsm_public_key(token.uri(8), pin=lambda: b"0000")
    public = hsm_public_key(token.uri(8), pin=lambda: _pin(token))
    # load_signer reads it the same way, asking the PIN callback
    signer = load_signer(token.uri(8), keys_dir=tmp_path, passphrase=lambda: _pin(token))
    assert signer.public_key == public
    public.verify_signature(signer.sign(PAYLOAD), PAYLOAD)


def test_wrong_pin_fails_clearly(token: SoftHSMToken, tmp_path: Path) -> None:
    token.generate_key(2)
    signer = load_signer(
        token.uri(2),
        keys_dir=tmp_path,
        passphrase=lambda: b"0000",
        public_key=hsm_public_key(token.uri(2)),
    )
    with pytest.raises(UsageError, match="wrong PIN"):
        signer.sign(PAYLOAD)


def test_wrong_pin_when_reading_the_public_key_from_the_token(
    token: SoftHSMToken, tmp_path: Path
) -> None:
    # without a public key, load_signer reads it; a hidden key is not needed for that,
    # so the wrong PIN shows at the first signature
    token.generate_key(2)
    signer = load_signer(token.uri(2), keys_dir=tmp_path, passphrase=lambda: b"9999")
    with pytest.raises(UsageError, match="wrong PIN"):
        signer.sign(PAYLOAD)


def test_no_pin_fails_clearly(token: SoftHSMToken, tmp_path: Path) -> None:
    token.generate_key(2)
    signer = load_signer(token.uri(2), keys_dir=tmp_path)
    with pytest.raises(UsageError, match="needs a pin"):
        signer.sign(PAYLOAD)


def test_token_key_differing_from_the_trusted_key_is_caught(
    token: SoftHSMToken, tmp_path: Path
) -> None:
    token.generate_key(2)
    token.generate_key(5)
    trusted = hsm_public_key(token.uri(5))
    signer = load_signer(
        token.uri(2), keys_dir=tmp_path, passphrase=lambda: _pin(token), public_key=trusted
    )
    with pytest.raises(SignatureError, match="different key"):
        signer.sign(PAYLOAD)


def test_unknown_token_and_unknown_key(token: SoftHSMToken, tmp_path: Path) -> None:
    token.generate_key(2)
    with pytest.raises(NotFoundError, match="No PKCS#11 token found"):
        hsm_public_key("hsm:2?label=no-such-token")
    with pytest.raises(NotFoundError, match="could not find"):
        hsm_public_key(token.uri(7))
    with pytest.raises(NotFoundError):
        load_signer(token.uri(7), keys_dir=tmp_path, passphrase=lambda: _pin(token))


def test_rsa_key_on_token_is_not_an_ecdsa_key(token: SoftHSMToken) -> None:
    token.generate_key(4, "rsa")
    with pytest.raises(NotFoundError, match="ECDSA"):
        hsm_public_key(token.uri(4))


def test_p521_is_refused(token: SoftHSMToken) -> None:
    token.generate_key(6, "p521")
    with pytest.raises(UsageError, match="not a supported EC curve"):
        hsm_public_key(token.uri(6))


def test_module_must_be_configured(
    token: SoftHSMToken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYKCS11LIB")
    with pytest.raises(UsageError, match="PYKCS11LIB"):
        hsm_public_key(token.uri(2))
    with pytest.raises(UsageError, match="PYKCS11LIB"):
        load_signer(token.uri(2), keys_dir=tmp_path, passphrase=lambda: _pin(token))
    monkeypatch.setenv("PYKCS11LIB", str(tmp_path / "missing.so"))
    with pytest.raises(UsageError, match="no such PKCS#11 module"):
        hsm_public_key(token.uri(2))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("hsm:abc", "must be a number"),
        ("hsm:-1", "must be a number"),
        ("hsm:2?label=a&label=b", "more than one"),
        ("hsm:2?pin-value=1234", "unknown parameter"),
    ],
)
def test_bad_hsm_uris(token: SoftHSMToken, tmp_path: Path, uri: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_signer(uri, keys_dir=tmp_path, passphrase=lambda: _pin(token))
    with pytest.raises(UsageError, match=message):
        hsm_public_key(uri)
