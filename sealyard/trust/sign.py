"""Sign a pipeline stage for an image: build the predicate, sign the statement, attach it.

A stage attestation is an in-toto Statement about the image manifest digest (never a tag),
signed into a DSSE envelope inside a sigstore bundle and attached as an OCI referrer. The
predicate says what the stage did:

* a build stage: SLSA provenance v1 (``--predicate FILE``); when the stage is not called
  ``build`` its name is recorded in the signed ``internalParameters`` so the verifier can
  count it for the right stage;
* ``scan``: the scan result that ``sealyard scan --attest FILE`` wrote (SBOM digest,
  severity summary, rated findings, database freshness);
* any other stage: an approval record (who, when, optional comment), unless a predicate
  file is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from securesystemslib.signer import Signer

from sealyard.client.registry import RegistryClient
from sealyard.errors import UsageError, VerificationError
from sealyard.trust._json import parse_json_object
from sealyard.trust.attach import AttachResult, attach
from sealyard.trust.bundle import sign_statement
from sealyard.trust.predicates import (
    APPROVAL_V1,
    SCAN_V1,
    SLSA_PROVENANCE_V1,
    STAGE_PARAMETER,
    Approval,
    Provenance,
    ScanResult,
    check_stage,
)
from sealyard.trust.statement import image_statement

__all__ = ["build_predicate", "sign_image"]

_MAX_PREDICATE_FILE = 4 * 1024 * 1024


def _load(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read predicate file {path}: {exc}") from exc
    return parse_json_object(raw, what=f"predicate file {path}", max_bytes=_MAX_PREDICATE_FILE)


def build_predicate(
    stage: str,
    *,
    predicate_file: Path | None = None,
    predicate_type: str | None = None,
    approver: str = "",
    comment: str = "",
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """The ``(predicateType, predicate)`` to sign for ``stage``.

    ``predicate_file`` holds either ``{"predicateType": …, "predicate": {…}}`` (what
    ``sealyard scan --attest`` writes) or a bare predicate with ``predicate_type`` given.

    Raises:
        UsageError: the stage and the predicate do not fit together, or the file is invalid.
    """
    try:
        check_stage(stage)
    except VerificationError as exc:
        raise UsageError(str(exc)) from exc
    moment = now or datetime.now(UTC)
    if predicate_file is None:
        if stage in ("build", "scan"):
            raise UsageError(
                f"stage {stage!r} needs --predicate (SLSA provenance for build, "
                "`sealyard scan --attest FILE` for scan)"
            )
        if not approver:
            raise UsageError("an approval needs an approver (--approver)")
        try:
            approval = Approval(stage=stage, approver=approver, approved_at=moment, comment=comment)
        except VerificationError as exc:
            raise UsageError(str(exc)) from exc
        return APPROVAL_V1, approval.to_dict()
    doc = _load(predicate_file)
    if "predicateType" in doc and "predicate" in doc:
        kind, body = doc["predicateType"], doc["predicate"]
    elif predicate_type:
        kind, body = predicate_type, doc
    else:
        raise UsageError(
            f"{predicate_file}: say which predicate this is with --predicate-type, or wrap it "
            'as {"predicateType": …, "predicate": {…}}'
        )
    try:
        return kind, _checked(stage, str(kind), body)
    except VerificationError as exc:
        raise UsageError(f"{predicate_file}: {exc}") from exc


def _checked(stage: str, kind: str, body: Any) -> dict[str, Any]:
    if kind == SLSA_PROVENANCE_V1:
        provenance = Provenance.from_dict(body)
        if stage == "scan":
            raise UsageError("the scan stage is attested by a scan result, not provenance")
        if provenance.stage != stage:
            params: Mapping[str, Any] = {**provenance.internal_parameters}
            if stage != "build":
                params = {**params, STAGE_PARAMETER: stage}
            else:
                params = {k: v for k, v in params.items() if k != STAGE_PARAMETER}
            provenance = replace(provenance, internal_parameters=params)
        return provenance.to_dict()
    if kind == SCAN_V1:
        if stage != "scan":
            raise UsageError(f"a scan result attests the scan stage, not {stage!r}")
        return ScanResult.from_dict(body).to_dict()
    if kind == APPROVAL_V1:
        approval = Approval.from_dict(body)
        if approval.stage != stage:
            raise UsageError(f"the approval is for stage {approval.stage!r}, not {stage!r}")
        return approval.to_dict()
    raise UsageError(
        f"predicate type {kind!r:.100} is not one a Sealyard policy can judge "
        f"({SLSA_PROVENANCE_V1}, {SCAN_V1}, {APPROVAL_V1})"
    )


def sign_image(
    client: RegistryClient,
    repository: str,
    digest: str,
    *,
    stage: str,
    predicate_type: str,
    predicate: Mapping[str, Any],
    signers: Sequence[Signer],
) -> AttachResult:
    """Sign the statement about ``repository@digest`` and attach it as a referrer."""
    statement = image_statement(repository, digest, predicate_type, predicate)
    bundle = sign_statement(statement, signers)
    return attach(client, repository, digest, bundle, stage=stage)
