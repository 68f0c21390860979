"""Signing keys: a directory of passphrase-protected key files, and signers for every key kind.

A key directory holds, per key ``NAME``:

* ``NAME.key`` — the private key, PKCS#8 PEM encrypted with the passphrase (mode 0600);
* ``NAME.pub`` — the public key, SubjectPublicKeyInfo PEM (mode 0644).

A public-only key (imported to verify someone else's signatures) has just ``NAME.pub``.
Files are written aside, fsynced and linked into place, so a key is either complete or absent
and an existing key is never overwritten.

Key ids are TUF key ids: the SHA-256 of the canonical JSON of the key's
``{keytype, scheme, keyval}``, computed by securesystemslib, so a key added to TUF metadata
has the same id as the one shown here.

:func:`load_signer` is the one way to get a :class:`~securesystemslib.signer.Signer`: from a
key name, a PEM file, or a signer URI (``hsm:`` for PKCS#11 tokens, ``gcpkms:``/``awskms:``/
``azurekms:`` for cloud KMS).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import click
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from securesystemslib.exceptions import KeyMismatchError
from securesystemslib.signer._constants import ECDSA_SHA2_NISTP256, ED25519, RSASSA_PSS_SHA256
from securesystemslib.signer._crypto_signer import CryptoSigner
from securesystemslib.signer._key import Key, SSlibKey
from securesystemslib.signer._signer import Signer

from sealyard.errors import (
    ConflictError,
    NotFoundError,
    UntrustedDataError,
    UsageError,
)
from sealyard.trust.signers import (
    HSM_PIN_ENV,
    hsm_public_key,
    hsm_resolve,
    load_uri_signer,
    signer_uri_scheme,
)

__all__ = [
    "KEY_TYPES",
    "PASSPHRASE_ENV",
    "RSA_BITS",
    "KeyInfo",
    "KeyType",
    "default_keys_dir",
    "export_public_key",
    "generate_key",
    "get_key",
    "hsm_public_key",
    "hsm_resolve",
    "import_private_key",
    "import_public_key",
    "is_encrypted_pem",
    "key_kind",
    "list_keys",
    "load_public_key",
    "load_signer",
    "passphrase_from_env_or_prompt",
    "secret_for",
]

KeyType = Literal["ed25519", "ecdsa-p256", "rsa"]
KEY_TYPES: tuple[KeyType, ...] = get_args(KeyType)

RSA_BITS = 3072
"""Size of generated RSA keys."""
MIN_RSA_BITS = 2048
"""Smallest RSA key accepted on import."""

PASSPHRASE_ENV = "SEALYARD_KEY_PASSPHRASE"  # noqa: S105 (a variable name)
KEYS_DIR_ENV = "SEALYARD_KEYS"

_SCHEME_FOR_TYPE: dict[KeyType, str] = {
    "ed25519": ED25519,
    "ecdsa-p256": ECDSA_SHA2_NISTP256,
    "rsa": RSASSA_PSS_SHA256,
}
_EC_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SUPPORTED = "ed25519, ECDSA on P-256/P-384/P-521, RSA of 2048 bits or more"


@dataclass(frozen=True)
class KeyInfo:
    """A key of a key directory (or read from elsewhere): its name, TUF key id and public key."""

    name: str
    keyid: str
    key: Key
    private_path: Path | None
    public_path: Path

    @property
    def has_private(self) -> bool:
        return self.private_path is not None

    @property
    def kind(self) -> str:
        """Short type name: ``ed25519``, ``ecdsa-p256``, ``ecdsa-p384``, ``rsa`` …"""
        return key_kind(self.key)


def key_kind(key: Key) -> str:
    """Short type name of ``key`` as the CLI shows it."""
    if key.keytype == "ecdsa" or key.keytype.startswith("ecdsa-"):
        return "ecdsa-p" + key.scheme.rsplit("nistp", 1)[-1]
    return key.keytype


def default_keys_dir() -> Path:
    """``$SEALYARD_KEYS``, else ``~/.sealyard/keys``."""
    env = os.environ.get(KEYS_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".sealyard" / "keys"


def passphrase_from_env_or_prompt(
    env: str = PASSPHRASE_ENV, confirm: bool = False, *, prompt: str = "Passphrase"
) -> bytes:
    """The secret in ``$env``, else asked on the terminal (twice with ``confirm``).

    Raises:
        UsageError: the variable is unset and nothing could be read.
    """
    value = os.environ.get(env)
    if not value:
        try:
            value = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
        except click.exceptions.Abort as exc:
            raise UsageError(f"nothing entered: set {env} or answer the prompt") from exc
    assert isinstance(value, str)
    return value.encode("utf-8")


def secret_for(ref: str) -> Callable[[], bytes]:
    """The secret callback :func:`load_signer` wants for ``ref``, read only when needed.

    ``hsm:`` URIs get the token PIN from ``$SEALYARD_HSM_PIN`` (else a prompt); keys and PEM
    files their passphrase from ``$SEALYARD_KEY_PASSPHRASE`` (else a prompt).
    """
    if signer_uri_scheme(ref) == "hsm":
        return lambda: passphrase_from_env_or_prompt(HSM_PIN_ENV, prompt=f"PIN for {ref}")
    return lambda: passphrase_from_env_or_prompt(prompt=f"Passphrase for {ref}")


# --- PEM parsing ------------------------------------------------------------------------


def is_encrypted_pem(pem: bytes) -> bool:
    """Whether ``pem`` is a passphrase-encrypted private key (PKCS#8 or OpenSSL legacy)."""
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in pem or b"Proc-Type: 4,ENCRYPTED" in pem


def _check_supported(key: PrivateKeyTypes | PublicKeyTypes, source: str) -> None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, _EC_CURVES):
            return
        raise UsageError(f"{source}: unsupported EC curve {key.curve.name} (use {_SUPPORTED})")
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size >= MIN_RSA_BITS:
            return
        raise UsageError(
            f"{source}: RSA key of {key.key_size} bits is too small (use {_SUPPORTED})"
        )
    raise UsageError(f"{source}: unsupported key type {type(key).__name__} (use {_SUPPORTED})")


def _parse_private(
    pem: bytes, passphrase: bytes | Callable[[], bytes] | None, source: str
) -> PrivateKeyTypes:
    """Load a PEM private key, asking for the passphrase only if the key is encrypted."""
    if b"PUBLIC KEY-----" in pem and b"PRIVATE KEY-----" not in pem:
        raise UsageError(f"{source} is a public key; signing needs the private key")
    try:
        key = serialization.load_pem_private_key(pem, None)
    except TypeError:  # encrypted
        if passphrase is None:
            raise UsageError(f"{source} is encrypted: a passphrase is needed") from None
        secret = passphrase() if callable(passphrase) else passphrase
        try:
            key = serialization.load_pem_private_key(pem, secret or None)
        except (TypeError, ValueError):
            raise UsageError(
                f"wrong passphrase for {source} (or the key file is damaged)"
            ) from None
    except ValueError:
        raise UntrustedDataError(f"{source} is not a PEM private key") from None
    except UnsupportedAlgorithm as exc:
        raise UsageError(f"{source}: unsupported key algorithm ({exc})") from None
    _check_supported(key, source)
    return key


def _parse_public(pem: bytes, source: str) -> PublicKeyTypes:
    if b"PRIVATE KEY-----" in pem:
        raise UsageError(f"{source} is a private key; give the public key (SPKI PEM)")
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise UntrustedDataError(f"{source} is not a PEM public key") from None
    except UnsupportedAlgorithm as exc:
        raise UsageError(f"{source}: unsupported key algorithm ({exc})") from None
    _check_supported(key, source)
    return key


def _sslib_key(public: PublicKeyTypes) -> SSlibKey:
    # RSA gets rsassa-pss-sha256, EC its curve's ecdsa scheme, ed25519 "ed25519"
    return SSlibKey.from_crypto(public)


def load_public_key(source: Path | bytes) -> Key:
    """An ``SSlibKey`` from a SubjectPublicKeyInfo PEM file or bytes.

    Raises:
        NotFoundError: the file does not exist.
        UntrustedDataError: the content is no PEM public key.
        UsageError: unsupported key type, or a private key was given.
    """
    if isinstance(source, Path):
        pem = _read(source)
        name = str(source)
    else:
        pem, name = source, "public key"
    return _sslib_key(_parse_public(pem, name))


# --- the key directory ------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise UsageError(
            f"invalid key name {name!r}: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit, at most 128 characters)"
        )


def _paths(name: str, keys_dir: Path) -> tuple[Path, Path]:
    _check_name(name)
    return keys_dir / f"{name}.key", keys_dir / f"{name}.pub"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` atomically; fail with ConflictError if it exists (never overwrite)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # link() refuses to replace an existing file, unlike rename()
        os.link(tmp, path)
    except FileExistsError:
        raise ConflictError(f"{path} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _store(name: str, keys_dir: Path, public: PublicKeyTypes, private_pem: bytes | None) -> KeyInfo:
    private_path, public_path = _paths(name, keys_dir)
    _refuse_existing(name, keys_dir)
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if private_pem is not None:
        _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)
    except BaseException:
        if private_pem is not None:
            private_path.unlink()
        raise
    key = _sslib_key(public)
    return KeyInfo(
        name=name,
        keyid=key.keyid,
        key=key,
        private_path=private_path if private_pem is not None else None,
        public_path=public_path,
    )


def _refuse_existing(name: str, keys_dir: Path) -> None:
    private_path, public_path = _paths(name, keys_dir)
    if private_path.exists() or public_path.exists():
        raise ConflictError(f"a key named {name!r} already exists in {keys_dir}")
    try:
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {keys_dir}: {exc.strerror}") from None


def _encrypt(key: PrivateKeyTypes, passphrase: bytes) -> bytes:
    if not passphrase:
        raise UsageError("an empty passphrase is not allowed: keys are stored encrypted")
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def generate_key(name: str, key_type: KeyType, keys_dir: Path, passphrase: bytes) -> KeyInfo:
    """Generate a key pair and store it as ``keys_dir/NAME.key`` and ``NAME.pub``.

    ``rsa`` keys have 3072 bits and sign with RSASSA-PSS/SHA-256; ``ecdsa-p256`` signs with
    ``ecdsa-sha2-nistp256``; ``ed25519`` with ``ed25519``.

    Raises:
        UsageError: bad name or type, empty passphrase, unwritable directory.
        ConflictError: a key with this name exists (it is never overwritten).
    """
    _check_name(name)
    if key_type not in _SCHEME_FOR_TYPE:
        raise UsageError(f"unknown key type {key_type!r} (one of {', '.join(KEY_TYPES)})")
    if not passphrase:
        raise UsageError("an empty passphrase is not allowed: keys are stored encrypted")
    _refuse_existing(name, keys_dir)
    private: PrivateKeyTypes
    if key_type == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif key_type == "ecdsa-p256":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    info = _store(name, keys_dir, private.public_key(), _encrypt(private, passphrase))
    assert info.key.scheme == _SCHEME_FOR_TYPE[key_type]
    return info


def import_private_key(
    name: str,
    pem: bytes,
    keys_dir: Path,
    passphrase_in: bytes | None,
    passphrase_out: bytes,
) -> KeyInfo:
    """Store an existing PEM private key (PKCS#8 or OpenSSL legacy, encrypted or not).

    It is re-encrypted with ``passphrase_out``; ``passphrase_in`` opens an encrypted input.

    Raises:
        UsageError: wrong or missing input passphrase, unsupported key type, bad name.
        UntrustedDataError: ``pem`` is not a private key.
        ConflictError: the name is taken.
    """
    _check_name(name)
    if not passphrase_out:
        raise UsageError("an empty passphrase is not allowed: keys are stored encrypted")
    private = _parse_private(pem, passphrase_in, "the imported key")
    return _store(name, keys_dir, private.public_key(), _encrypt(private, passphrase_out))


def import_public_key(name: str, pem: bytes, keys_dir: Path) -> KeyInfo:
    """Store a public key (SubjectPublicKeyInfo PEM) as ``keys_dir/NAME.pub``.

    Raises:
        UntrustedDataError: ``pem`` is not a public key.
        UsageError: unsupported key type or a private key given; bad name.
        ConflictError: the name is taken.
    """
    _check_name(name)
    return _store(name, keys_dir, _parse_public(pem, "the imported key"), None)


def get_key(name: str, keys_dir: Path) -> KeyInfo:
    """The key ``name`` of ``keys_dir``.

    Raises:
        NotFoundError: no such key.
        UntrustedDataError: its ``.pub`` file is damaged.
    """
    private_path, public_path = _paths(name, keys_dir)
    if not public_path.exists():
        raise NotFoundError(f"no key named {name!r} in {keys_dir}")
    key = load_public_key(public_path)
    return KeyInfo(
        name=name,
        keyid=key.keyid,
        key=key,
        private_path=private_path if private_path.exists() else None,
        public_path=public_path,
    )


def export_public_key(name: str, keys_dir: Path) -> bytes:
    """The public key PEM of ``name`` (checked to be a valid public key)."""
    info = get_key(name, keys_dir)
    return _read(info.public_path)


def list_keys(keys_dir: Path) -> list[KeyInfo]:
    """Every key of ``keys_dir`` (each one has a ``.pub`` file), sorted by name."""
    if not keys_dir.is_dir():
        return []
    names = sorted(
        p.name[: -len(".pub")]
        for p in keys_dir.iterdir()
        if p.name.endswith(".pub") and _NAME_RE.fullmatch(p.name[: -len(".pub")])
    )
    return [get_key(name, keys_dir) for name in names]


# --- signers ----------------------------------------------------------------------------


def _file_signer(
    path: Path,
    source: str,
    passphrase: Callable[[], bytes] | None,
    public_key: Key | None,
) -> CryptoSigner:
    private = _parse_private(_read(path), passphrase, source)
    public = public_key if public_key is not None else _sslib_key(private.public_key())
    if not isinstance(public, SSlibKey):
        raise UsageError(f"{source}: the public key must be an SSlibKey, not {type(public)}")
    try:
        return CryptoSigner(private, public)
    except KeyMismatchError:
        raise UsageError(
            f"{source}: the private key does not match public key {public.keyid}"
        ) from None
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None


def load_signer(
    ref: str,
    *,
    keys_dir: Path,
    passphrase: Callable[[], bytes] | None = None,
    public_key: Key | None = None,
) -> Signer:
    """A signer for ``ref``.

    ``ref`` is, in this order of precedence:

    1. a securesystemslib signer URI: ``hsm:KEYID?label=TOKEN`` (PKCS#11), ``gcpkms:…``,
       ``awskms:…``, ``azurekms:…`` … (``file2:PATH`` is read like a PEM path);
    2. the name of a key in ``keys_dir``;
    3. the path of a PEM private key file (encrypted or not).

    ``passphrase`` is called only when a secret is needed: the key file's passphrase, or the
    token's PIN for ``hsm:``. ``public_key`` is the key the trust metadata names; KMS URIs
    need it, ``hsm:`` reads it from the token when absent, and for files it is checked to
    match the private key. URI signers verify each signature before returning it.

    Raises:
        NotFoundError: no such key, file, token or token key.
        UsageError: wrong passphrase or PIN, public-only key, unsupported scheme or key,
            mismatching public key, missing optional package.
        UntrustedDataError: the key file is not a PEM private key.
    """
    if not ref:
        raise UsageError("no signing key given")
    scheme = signer_uri_scheme(ref)
    if scheme == CryptoSigner.SCHEME:
        path = Path(ref[len(scheme) + 1 :])
        return _file_signer(path, str(path), passphrase, public_key)
    if scheme is not None:
        return load_uri_signer(ref, public_key=public_key, secret=passphrase)
    if _NAME_RE.fullmatch(ref):
        private_path, public_path = keys_dir / f"{ref}.key", keys_dir / f"{ref}.pub"
        if private_path.exists():
            if public_key is None and public_path.exists():
                public_key = load_public_key(public_path)
            return _file_signer(private_path, f"key {ref!r}", passphrase, public_key)
        if public_path.exists():
            raise UsageError(f"key {ref!r} in {keys_dir} is public only; it cannot sign")
    path = Path(ref).expanduser()
    if path.is_file():
        return _file_signer(path, str(path), passphrase, public_key)
    if re.match(r"^[a-z][a-z0-9+.-]*:", ref) and not path.exists():
        raise UsageError(f"unsupported signer URI {ref!r}")
    raise NotFoundError(f"no key named {ref!r} in {keys_dir} and no key file {ref}")
