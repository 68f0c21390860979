"""The one error tree of Sealyard.

Three families never mix:

* :class:`UntrustedDataError` — input from outside failed a check (bad digest, malformed
  manifest, hostile archive, bad signature, expired metadata). The data is rejected.
* :class:`TransportError` — a network or storage peer failed; the operation may be retried.
* :class:`UsageError` — the caller asked for something impossible (unknown user, duplicate
  project, bad option). Programmer bugs stay ordinary Python exceptions.

The registry maps :class:`RegistryError` subclasses to OCI error codes; the CLI catches
:class:`SealyardError` and prints its message.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DigestMismatchError",
    "ExpiredMetadataError",
    "InvalidDigestError",
    "InvalidNameError",
    "InvalidReferenceError",
    "ManifestInvalidError",
    "NotFoundError",
    "PermissionDeniedError",
    "RollbackError",
    "SealyardError",
    "SignatureError",
    "SizeLimitError",
    "StorageError",
    "TransportError",
    "UntrustedDataError",
    "UsageError",
    "VerificationError",
]


class SealyardError(Exception):
    """Base of every error Sealyard raises on purpose."""


class UntrustedDataError(SealyardError):
    """Input failed validation or verification; it was rejected and nothing was stored."""


class InvalidDigestError(UntrustedDataError):
    """A digest string is malformed or uses an unsupported algorithm."""


class DigestMismatchError(UntrustedDataError):
    """Content does not hash to the digest it was claimed to have."""


class InvalidNameError(UntrustedDataError):
    """A repository name does not follow the distribution grammar or Sealyard's rules."""


class InvalidReferenceError(UntrustedDataError):
    """A tag or image reference is malformed."""


class ManifestInvalidError(UntrustedDataError):
    """A manifest is not valid JSON, violates its schema, or contradicts its media type."""


class SizeLimitError(UntrustedDataError):
    """Input exceeds a configured security limit."""


class VerificationError(UntrustedDataError):
    """Signed evidence (signature, attestation, trust metadata) failed verification."""


class SignatureError(VerificationError):
    """A signature is missing, malformed, made by an untrusted key, or does not verify."""


class ExpiredMetadataError(VerificationError):
    """Trust metadata or an attestation is past its expiry (a freeze attack looks like this)."""


class RollbackError(VerificationError):
    """Trust metadata is older than a version already trusted (a rollback attack)."""


class TransportError(SealyardError):
    """A network or storage peer failed."""


class StorageError(TransportError):
    """The blob store failed to read or write."""


class UsageError(SealyardError):
    """The request cannot be carried out as asked."""


class NotFoundError(UsageError):
    """The named object does not exist."""


class ConflictError(UsageError):
    """The object already exists or is in a conflicting state."""


class AuthenticationError(SealyardError):
    """Credentials are missing, wrong, expired or disabled."""


class PermissionDeniedError(SealyardError):
    """The authenticated principal is not allowed to do this."""
