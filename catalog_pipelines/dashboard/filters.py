"""Jinja filters for people: money in major units, times in UTC, numbers with separators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

from catalog_pipelines.money import from_minor_units


def money(amount: Any, currency: Any) -> str:
    """2999, 'eur' -> '29.99 EUR'; anything unreadable is shown as it is."""
    if amount is None:
        return "—"
    try:
        return f"{from_minor_units(int(amount), str(currency))} {str(currency).upper()}"
    except (TypeError, ValueError):
        return str(amount)


def when(ts: Any) -> str:
    """A unix time (or datetime) as 'YYYY-MM-DD HH:MM:SS UTC'."""
    if ts is None or ts == "":
        return "—"
    if isinstance(ts, datetime):
        moment = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    else:
        try:
            moment = datetime.fromtimestamp(float(ts), UTC)
        except (TypeError, ValueError, OverflowError):
            return str(ts)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def count(n: Any) -> str:
    try:
        return f"{int(n):,}"
    except (TypeError, ValueError):
        return "—" if n is None else str(n)


def seconds(value: Any) -> str:
    """A duration: '0.8 s', '12 s', '3 min 5 s'."""
    if value is None:
        return "—"
    s = float(value)
    if s < 10:
        return f"{s:.1f} s"
    if s < 60:
        return f"{s:.0f} s"
    return f"{int(s // 60)} min {int(s % 60)} s"


def install(env: Environment) -> None:
    env.filters.update(money=money, when=when, count=count, seconds=seconds)
