"""Signers behind URIs: PKCS#11 tokens (``hsm:``) and cloud KMS, through securesystemslib.

securesystemslib owns the protocols (its ``HSMSigner`` speaks PKCS#11 through python-pkcs11,
``GCPSigner``/``AWSSigner``/``AzureSigner`` speak to the KMS APIs). This module adds what a
caller of Sealyard needs on top:

* every third-party failure becomes an error of :mod:`sealyard.errors` with a message a human
  can act on (wrong PIN, token not found, missing optional package …);
* every signature is verified with the public key before it is handed out, so a token holding
  a different key than the trust metadata names fails here, at signing time, and not later
  in a verifier that only says "no valid signature";
* a PIN or passphrase callback is asked at most once per signer.

File keys are handled in :mod:`sealyard.trust.keys`, which is the entry point
(:func:`sealyard.trust.keys.load_signer`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from urllib import parse

from securesystemslib.exceptions import (
    KeyMismatchError,
    UnsupportedLibraryError,
    UnverifiedSignatureError,
)

# the names live in securesystemslib.signer, which re-exports them implicitly; mypy --strict
# needs the defining modules
from securesystemslib.signer._hsm_signer import HSMSigner
from securesystemslib.signer._key import Key, SSlibKey
from securesystemslib.signer._signature import Signature
from securesystemslib.signer._signer import SIGNER_FOR_URI_SCHEME, SecretsHandler, Signer

from sealyard.errors import NotFoundError, SealyardError, SignatureError, UsageError

__all__ = [
    "HSM_MODULE_ENV",
    "HSM_PIN_ENV",
    "CheckedSigner",
    "hsm_public_key",
    "hsm_resolve",
    "load_uri_signer",
    "signer_uri_scheme",
]

HSM_MODULE_ENV = "PYKCS11LIB"
"""Environment variable holding the path of the PKCS#11 module (read by securesystemslib)."""

HSM_PIN_ENV = "SEALYARD_HSM_PIN"
"""Environment variable the CLI reads the token's user PIN from (else it prompts)."""

# securesystemslib extras that bring each URI scheme's optional dependencies
_EXTRA_FOR_SCHEME = {
    "hsm": "hsm",
    "gcpkms": "gcpkms",
    "awskms": "awskms",
    "azurekms": "azurekms",
    "hv": "vault",
    "tkey": "tkey",
}

_URI_RE = re.compile(r"^([a-z][a-z0-9+.-]*):")

# python-pkcs11 names its exceptions after the PKCS#11 return codes; matched by name so that
# this module imports without the optional package
_PKCS11_MESSAGES = {
    "PinIncorrect": "wrong PIN for the PKCS#11 token",
    "PinInvalid": "the PIN contains characters the PKCS#11 token does not accept",
    "PinLenRange": "the PIN has a length the PKCS#11 token does not accept",
    "PinLocked": "the PKCS#11 token's user PIN is locked (too many wrong PINs)",
    "PinExpired": "the PKCS#11 token's user PIN has expired; change it first",
    "UserPinNotInitialized": "the PKCS#11 token has no user PIN yet; initialise it first",
    "TokenNotPresent": "the PKCS#11 token is not present",
    "TokenNotRecognised": "the PKCS#11 token is not recognised by the module",
    "DeviceRemoved": "the PKCS#11 token was removed",
    "DeviceError": "the PKCS#11 device reported an error",
    "FunctionFailed": "the PKCS#11 module failed the operation",
}


def signer_uri_scheme(ref: str) -> str | None:
    """The securesystemslib signer scheme ``ref`` starts with, or None if it is no signer URI."""
    match = _URI_RE.match(ref)
    if match and match.group(1) in SIGNER_FOR_URI_SCHEME:
        return match.group(1)
    return None


class _OnceSecret:
    """A securesystemslib ``SecretsHandler`` that asks the caller's callback once."""

    def __init__(self, secret: Callable[[], bytes] | None, uri: str) -> None:
        self._secret = secret
        self._uri = uri
        self._value: str | None = None

    def __call__(self, name: str) -> str:
        if self._value is None:
            if self._secret is None:
                raise UsageError(f"{self._uri} needs a {name}: none was provided")
            raw = self._secret()
            try:
                self._value = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise UsageError(f"the {name} for {self._uri} is not valid UTF-8") from exc
        return self._value


def _pkcs11_error(exc: BaseException) -> str | None:
    """The message for a python-pkcs11 exception, or None when ``exc`` is none of those."""
    for cls in type(exc).__mro__:
        if not cls.__module__.startswith("pkcs11"):
            continue
        if cls.__name__ in _PKCS11_MESSAGES:
            return _PKCS11_MESSAGES[cls.__name__]
        if cls.__name__ == "PKCS11Error":
            detail = str(exc) or type(exc).__name__
            return f"PKCS#11 error: {detail}"
    return None


def _translate(exc: Exception, uri: str, doing: str) -> SealyardError:
    """Turn an exception raised inside securesystemslib (or below it) into a Sealyard error."""
    if isinstance(exc, SealyardError):
        return exc
    scheme = uri.partition(":")[0]
    if isinstance(exc, UnsupportedLibraryError):
        extra = _EXTRA_FOR_SCHEME.get(scheme)
        hint = f": pip install 'securesystemslib[{extra}]'" if extra else ""
        return UsageError(f"{scheme}: signers need optional packages ({exc}){hint}")
    pkcs11_message = _pkcs11_error(exc)
    if pkcs11_message is not None:
        return UsageError(f"{doing} {uri}: {pkcs11_message}")
    if isinstance(exc, KeyMismatchError):
        return UsageError(f"{doing} {uri}: the private key does not match the public key")
    if isinstance(exc, ValueError):
        message = str(exc)
        if message.startswith("No keys found unauthenticated"):
            return NotFoundError(
                f"{doing} {uri}: could not find an ECDSA key with that id on the token "
                "without login (give the PIN if the token hides its public keys)"
            )
        if "not find" in message or "not found" in message or "No PKCS#11 token" in message:
            return NotFoundError(f"{doing} {uri}: {message}")
        return UsageError(f"{doing} {uri}: {message}")
    return SignatureError(f"{doing} {uri} failed: {type(exc).__name__}: {exc}")


class CheckedSigner(Signer):
    """A URI signer whose signatures are verified before they are returned.

    Wraps the securesystemslib signer for ``uri``. ``sign`` raises only Sealyard errors:
    :class:`~sealyard.errors.UsageError` for a wrong PIN, a missing token or package,
    :class:`~sealyard.errors.SignatureError` when the signature made does not verify with
    :attr:`public_key` (the token or KMS holds a different key) or signing failed otherwise.
    """

    def __init__(self, inner: Signer, uri: str) -> None:
        self._inner = inner
        self._uri = uri

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def public_key(self) -> Key:
        return self._inner.public_key

    def sign(self, payload: bytes) -> Signature:
        try:
            signature = self._inner.sign(payload)
        except Exception as exc:
            raise _translate(exc, self._uri, "signing with") from exc
        try:
            self.public_key.verify_signature(signature, payload)
        except UnverifiedSignatureError as exc:
            raise SignatureError(
                f"the signature made with {self._uri} does not verify with public key "
                f"{self.public_key.keyid}: the signer holds a different key"
            ) from exc
        return signature

    @classmethod
    def from_priv_key_uri(
        cls,
        priv_key_uri: str,
        public_key: Key,
        secrets_handler: SecretsHandler | None = None,
    ) -> Signer:
        raise UsageError("CheckedSigner is built by sealyard.trust.keys.load_signer")


def _parse_hsm_uri(uri: str) -> tuple[int, str | None]:
    """The key id and token label of an ``hsm:[KEYID][?label=LABEL]`` URI."""
    parsed = parse.urlparse(uri)
    if parsed.scheme != HSMSigner.SCHEME or parsed.netloc or parsed.fragment:
        raise UsageError(f"not a PKCS#11 signer URI: {uri!r} (expected hsm:KEYID?label=TOKEN)")
    if parsed.path and not parsed.path.isdigit():
        raise UsageError(
            f"the key id in {uri!r} must be a number (the CKA_ID as an integer, e.g. hsm:2)"
        )
    keyid = int(parsed.path) if parsed.path else HSMSigner.SCHEME_KEYID
    query = parse.parse_qs(parsed.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"label"})
    if unknown:
        raise UsageError(f"unknown parameter(s) {', '.join(unknown)} in {uri!r}: only label=")
    labels = query.get("label", [])
    if len(labels) > 1:
        raise UsageError(f"{uri!r} names more than one token label")
    return keyid, labels[0] if labels else None


def _need_module(uri: str) -> None:
    path = os.environ.get(HSM_MODULE_ENV)
    if not path:
        raise UsageError(
            f"{uri}: set {HSM_MODULE_ENV} to the PKCS#11 module of the token "
            "(for SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)"
        )
    if not os.path.isfile(path):
        raise UsageError(f"{HSM_MODULE_ENV}={path}: no such PKCS#11 module")


def hsm_resolve(uri: str, *, pin: Callable[[], bytes] | None = None) -> tuple[str, SSlibKey]:
    """Read the public key of ``uri`` from its PKCS#11 token.

    Returns the canonical URI (with the token's label, as securesystemslib writes it) and the
    public key (``ecdsa-sha2-nistp256`` or ``-nistp384``) to put into trust metadata. The
    ``pin`` callback is used only if the token hides public keys before login.

    Raises:
        UsageError: module not set, bad URI, wrong PIN, unsupported curve.
        NotFoundError: no such token, or no EC key with that id on it.
    """
    keyid, label = _parse_hsm_uri(uri)
    _need_module(uri)
    try:
        return HSMSigner.import_(keyid, label, _OnceSecret(pin, uri) if pin else None)
    except Exception as exc:
        raise _translate(exc, uri, "reading the public key of") from exc


def hsm_public_key(uri: str, *, pin: Callable[[], bytes] | None = None) -> SSlibKey:
    """The public key of the PKCS#11 key ``uri`` (see :func:`hsm_resolve`)."""
    return hsm_resolve(uri, pin=pin)[1]


def load_uri_signer(
    uri: str, *, public_key: Key | None, secret: Callable[[], bytes] | None
) -> CheckedSigner:
    """A :class:`CheckedSigner` for a securesystemslib signer URI.

    ``secret`` supplies the PIN (``hsm:``) or whatever else the signer asks for; it is called
    at most once. For ``hsm:`` the public key is read from the token when not given; every
    other scheme needs ``public_key`` (the key the trust metadata names).

    Raises:
        UsageError: unsupported scheme, missing public key or optional package, bad URI.
        NotFoundError: the token or key does not exist.
    """
    scheme = signer_uri_scheme(uri)
    if scheme is None:
        supported = ", ".join(sorted(SIGNER_FOR_URI_SCHEME))
        raise UsageError(f"unsupported signer URI {uri!r} (schemes: {supported})")
    handler = _OnceSecret(secret, uri)
    if scheme == HSMSigner.SCHEME:
        _parse_hsm_uri(uri)
        _need_module(uri)
        if public_key is None:
            public_key = hsm_public_key(uri, pin=lambda: handler("pin").encode())
    if public_key is None:
        raise UsageError(
            f"{scheme}: signers need the public key (the one the trust metadata names)"
        )
    try:
        inner = Signer.from_priv_key_uri(uri, public_key, handler)
    except Exception as exc:
        raise _translate(exc, uri, "opening") from exc
    return CheckedSigner(inner, uri)
