"""The registry: OCI Distribution v1.1 API, token service, accounts, RBAC, audit and GC."""

from __future__ import annotations

__all__: list[str] = []
