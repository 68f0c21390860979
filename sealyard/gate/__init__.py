"""Enforcement points: the Kubernetes admission webhook and the Docker authz plugin.

Both ask a :class:`~sealyard.gate.interface.Verifier` about each image and turn its
:class:`~sealyard.gate.interface.GateVerdict` into their protocol's answer. The Starlette apps
live in :mod:`sealyard.gate.admission` and :mod:`sealyard.gate.authz` (imported on use).
"""

from __future__ import annotations

from sealyard.gate.interface import (
    EXEMPT,
    CacheSettings,
    DecisionLog,
    GateConfig,
    GateConfigError,
    GateRules,
    GateVerdict,
    PolicyVerifier,
    Rule,
    Verifier,
    VerifyImage,
    load_gate_config,
    parse_gate_config,
)

__all__ = [
    "EXEMPT",
    "CacheSettings",
    "DecisionLog",
    "GateConfig",
    "GateConfigError",
    "GateRules",
    "GateVerdict",
    "PolicyVerifier",
    "Rule",
    "Verifier",
    "VerifyImage",
    "load_gate_config",
    "parse_gate_config",
]
