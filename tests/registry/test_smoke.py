from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


def test_base_endpoint_challenges_anonymous(anon: httpx.Client) -> None:
    r = anon.get("/v2/")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith('Bearer realm="http://127.0.0.1:')
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_base_endpoint_accepts_admin(admin: httpx.Client) -> None:
    r = admin.get("/v2/")
    assert r.status_code == 200
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
