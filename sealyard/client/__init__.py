"""Registry HTTP client."""

from __future__ import annotations

from sealyard.client.registry import RegistryClient, load_docker_credentials

__all__ = ["RegistryClient", "load_docker_credentials"]
