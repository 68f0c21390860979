"""Brute-force protection: failed logins lock an address out with 429 TOOMANYREQUESTS."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from sealyard.registry.ratelimit import LoginThrottle
from tests.fixtures.sealyard_server import ADMIN_PASSWORD, SealyardServer, start_sealyard


def test_throttle_counts_per_address_and_account() -> None:
    throttle = LoginThrottle(limit=2, window=60)
    assert throttle.retry_after("1.2.3.4", "alice") == 0
    throttle.failed("1.2.3.4", "alice")
    throttle.failed("1.2.3.4", "alice")
    assert 59 < throttle.retry_after("1.2.3.4", "alice") <= 60
    assert throttle.retry_after("1.2.3.4", "bob") == 0  # other account, same address
    assert throttle.retry_after("5.6.7.8", "alice") == 0  # same account, other address
    throttle.succeeded("1.2.3.4", "alice")
    assert throttle.retry_after("1.2.3.4", "alice") == 0


def test_throttle_per_address_limit_spans_accounts() -> None:
    throttle = LoginThrottle(limit=1, window=60)
    for name in ("a", "b", "c", "d", "e"):
        throttle.failed("9.9.9.9", name)
    assert throttle.retry_after("9.9.9.9", "fresh-name") > 0


def test_throttle_window_expires() -> None:
    throttle = LoginThrottle(limit=1, window=0.05)
    throttle.failed("1.1.1.1", "x")
    assert throttle.retry_after("1.1.1.1", "x") > 0
    time.sleep(0.06)
    assert throttle.retry_after("1.1.1.1", "x") == 0


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SealyardServer]:
    srv = start_sealyard(tmp_path_factory.mktemp("strict") / "d", login_failures_per_minute=3)
    yield srv
    srv.stop()


@pytest.mark.integration
@pytest.mark.parametrize("endpoint", ["/v2/", "/token"])
def test_repeated_failed_logins_get_429(strict_server: SealyardServer, endpoint: str) -> None:
    account = f"victim{endpoint.strip('/').replace('/', '')}"
    with httpx.Client(base_url=strict_server.url, timeout=30) as client:
        for _ in range(3):
            r = client.get(endpoint, auth=(account, "wrong-guess"))
            assert r.status_code == 401
        r = client.get(endpoint, auth=(account, "wrong-guess"))
        assert r.status_code == 429
        assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert int(r.headers["retry-after"]) > 0
        # Every further attempt is refused unchecked while locked out: guessing gains nothing.
        r = client.get(endpoint, auth=(account, "anything-else"))
        assert r.status_code == 429
        # Another account from the same address is still served.
        assert client.get("/v2/", auth=("admin", ADMIN_PASSWORD)).status_code == 200
