"""Webhook delivery settings from the environment (docs/webhooks.md): the retry schedule,
the request timeout, concurrency and the claim lease."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000, 50400, 72000)
DEFAULT_TIMEOUT = 15.0
DISABLE_AFTER = timedelta(days=5)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = float(raw)
    if value <= 0:
        raise ValueError(f"{name} must be positive")
    return value


def parse_schedule(text: str) -> tuple[float, ...]:
    """`5,300,1800` -> retry delays in seconds (non-negative, at least one)."""
    try:
        steps = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"CATALOG_WEBHOOK_RETRY_SCHEDULE: {exc}") from exc
    if not steps or any(s < 0 for s in steps):
        raise ValueError("CATALOG_WEBHOOK_RETRY_SCHEDULE needs one or more delays >= 0")
    return steps


@dataclass(frozen=True)
class DeliveryConfig:
    """Tunables. `from_env` reads CATALOG_WEBHOOK_RETRY_SCHEDULE, CATALOG_WEBHOOK_TIMEOUT,
    CATALOG_WEBHOOK_CONCURRENCY and CATALOG_WEBHOOK_LEASE_SECONDS."""

    schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = 16
    jitter: float = 0.2  # each delay is multiplied by a uniform factor in [1-j, 1+j]
    lease_seconds: float | None = None  # default: timeout + 15 s
    disable_after: timedelta = DISABLE_AFTER

    @property
    def lease(self) -> float:
        return self.lease_seconds if self.lease_seconds is not None else self.timeout + 15.0

    @classmethod
    def from_env(cls) -> DeliveryConfig:
        raw = os.environ.get("CATALOG_WEBHOOK_RETRY_SCHEDULE", "").strip()
        lease = os.environ.get("CATALOG_WEBHOOK_LEASE_SECONDS", "").strip()
        return cls(
            schedule=parse_schedule(raw) if raw else DEFAULT_SCHEDULE,
            timeout=_env_float("CATALOG_WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT),
            concurrency=int(_env_float("CATALOG_WEBHOOK_CONCURRENCY", 16)),
            lease_seconds=float(lease) if lease else None,
        )

    def backoff(self, attempts: int, rng: random.Random | None = None) -> float | None:
        """Delay before the next try after `attempts` failures; None when out of retries."""
        if attempts > len(self.schedule):
            return None
        base = self.schedule[attempts - 1]
        factor = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return base * factor
