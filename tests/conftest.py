"""Shared fixtures: a real Sealyard server on loopback, and handles on its data directory."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from sealyard.config import load_settings
from sealyard.registry.app import Registry, open_registry
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer, start_sealyard

_counter = itertools.count()


def need(binary: str) -> str:
    """Path of ``binary`` or skip the test with the reason."""
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (make install provides it)")
    return path


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SealyardServer]:
    """One real ``sealyard serve`` process for the session; tests use their own projects."""
    data = tmp_path_factory.mktemp("sealyard") / "data"
    srv = start_sealyard(data)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def registry(server: SealyardServer) -> Iterator[Registry]:
    """The server's data directory opened in-process, for setup and for checking state."""
    reg = open_registry(load_settings(server.config, data_dir=server.data_dir), migrate=False)
    reg.accounts.cache_seconds = 0
    yield reg
    reg.close()


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Unique lowercase names, so tests sharing the server never collide."""
    return lambda prefix: f"{prefix}{next(_counter)}x{id(object()) % 100000}"


@pytest.fixture
def project(registry: Registry, unique: Callable[[str], str]) -> str:
    """A fresh private project."""
    name = unique("p")
    registry.accounts.create_project(name)
    return name


@pytest.fixture
def admin(server: SealyardServer) -> Iterator[httpx.Client]:
    """An HTTP client authenticated as admin with Basic credentials."""
    with httpx.Client(base_url=server.url, auth=("admin", ADMIN_PASSWORD), timeout=30) as c:
        yield c


@pytest.fixture
def anon(server: SealyardServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture
def make_user(registry: Registry, unique: Callable[[str], str]) -> Callable[..., tuple[str, str]]:
    """Create a user, optionally a member of ``project`` with ``role``; return credentials."""

    def make(project: str | None = None, role: str | None = None) -> tuple[str, str]:
        name = unique("u")
        password = f"pw-{name}-secret"
        registry.accounts.create_user(name, password)
        if project and role:
            registry.accounts.set_member(project, name, role)
        return name, password

    return make


def oci_layout(tmp_path: Path, name: str = "layout") -> Path:
    return tmp_path / name
