"""Brute-force protection: too many failed logins from one address get ``429``.

A sliding window per (client address, account name) and per client address. Counts live in
process memory: each replica limits on its own, which bounds the guessing rate to replicas times
limit — enough to make online password guessing useless.
"""

from __future__ import annotations

import threading
import time
from collections import deque

__all__ = ["LoginThrottle"]


class LoginThrottle:
    """Refuses further attempts once ``limit`` failures happened within ``window`` seconds."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, remote: str, account: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return (remote, account), (remote, "")

    def retry_after(self, remote: str, account: str) -> float:
        """Seconds until the next attempt is allowed; ``0`` when it is allowed now."""
        if self.limit <= 0:
            return 0.0
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, limit in zip(
                self._keys(remote, account), (self.limit, self.limit * 5), strict=True
            ):
                events = self._failures.get(key)
                if not events:
                    continue
                while events and events[0] <= now - self.window:
                    events.popleft()
                if len(events) >= limit:
                    wait = max(wait, events[0] + self.window - now)
        return wait

    def failed(self, remote: str, account: str) -> None:
        if self.limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > self.max_keys:
                self._failures.clear()
            for key in self._keys(remote, account):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, remote: str, account: str) -> None:
        with self._lock:
            self._failures.pop((remote, account), None)
