"""Decimal strings to integer minor units, by the currency's exponent. Never a float."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# ISO 4217 exponents that differ from 2. Everything else has 2 decimals.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        "bif clp djf gnf isk jpy kmf krw pyg rwf ugx uyi vnd vuv xaf xof xpf".split(), 0
    ),
    **dict.fromkeys("bhd iqd jod kwd lyd omr tnd".split(), 3),
    "clf": 4,
    "uyw": 4,
}
_CURRENCY = re.compile(r"^[a-z]{3}$")
_AMOUNT = re.compile(r"^\d+(\.\d+)?$")


class MoneyError(ValueError):
    pass


def normalize_currency(code: str) -> str:
    c = code.strip().lower()
    if not _CURRENCY.match(c):
        raise MoneyError(f"{code!r} is not an ISO 4217 currency code")
    return c


def exponent(currency: str) -> int:
    return _EXPONENTS.get(normalize_currency(currency), 2)


def to_minor_units(amount: str, currency: str) -> int:
    """'19.99' usd -> 1999; '500' jpy -> 500; '1.250' kwd -> 1250.

    Rejects negatives, NaN, infinity, exponents and more decimals than the currency has.
    """
    text = amount.strip().replace(",", "") if amount.count(",") and "." in amount else amount.strip()
    exp = exponent(currency)
    if not _AMOUNT.match(text):
        raise MoneyError(f"{amount!r} is not a non-negative decimal amount")
    try:
        value = Decimal(text)
    except InvalidOperation as e:  # pragma: no cover - the regex already guards this
        raise MoneyError(f"{amount!r} is not a decimal amount") from e
    decimals = len(text.split(".", 1)[1].rstrip("0")) if "." in text else 0
    if decimals > exp:
        raise MoneyError(
            f"{amount!r} has {decimals} decimals but {currency.upper()} has {exp}"
        )
    return int(value.scaleb(exp))


def from_minor_units(units: int, currency: str) -> str:
    exp = exponent(currency)
    return str(Decimal(units).scaleb(-exp)) if exp else str(units)
