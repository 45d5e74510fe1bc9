"""Decimal strings to integer minor units, by the currency's exponent. Never a float.

The arithmetic is done on integers parsed from the digits (not `Decimal.scaleb`, whose context
precision of 28 digits would round very long amounts silently).
"""

from __future__ import annotations

import re

import pycountry

# ISO 4217 exponents that differ from 2. Everything else has 2 decimals.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "bif",
            "clp",
            "djf",
            "gnf",
            "isk",
            "jpy",
            "kmf",
            "krw",
            "pyg",
            "rwf",
            "ugx",
            "uyi",
            "vnd",
            "vuv",
            "xaf",
            "xof",
            "xpf",
        ],
        0,
    ),
    **dict.fromkeys(["bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"], 3),
    "clf": 4,
    "uyw": 4,
}
EXPONENTS: dict[str, int] = dict(_EXPONENTS)  # public copy for vectorized parsers
DEFAULT_EXPONENT = 2
MAX_MINOR_UNITS = 2**63 - 1  # unit_amount is a BIGINT
# Stripe's largest unit_amount (docs/import-failures.md): imports reject more, the API 400s.
MAX_UNIT_AMOUNT = 99_999_999
# ISO 4217 codes, from pycountry's maintained copy of the standard. XXX ("no currency") and
# XTS (reserved for tests) are codes, but no price is ever in them.
CURRENCIES: frozenset[str] = frozenset(
    c.alpha_3.lower() for c in pycountry.currencies if c.alpha_3 not in ("XXX", "XTS")
)
_CURRENCY = re.compile(r"^[a-z]{3}$")
# ASCII digits only: `\d` would also accept Arabic-Indic and other Unicode digits.
_AMOUNT = re.compile(r"^(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?$")
# Thousands separators are accepted only when well-formed and followed by a decimal point:
# "1,234.50" is unambiguous; "1,234" may be 1.234 in a European export, so it is refused.
_GROUPED = re.compile(r"^[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+$")
_SPECIAL = re.compile(r"^[+-]?(nan|s?nan|inf|infinity)$", re.IGNORECASE)


class MoneyError(ValueError):
    pass


def normalize_currency(code: str) -> str:
    c = code.strip().lower()
    if not _CURRENCY.match(c) or c not in CURRENCIES:
        raise MoneyError(f"{code!r} is not an ISO 4217 currency code")
    return c


def exponent(currency: str) -> int:
    return _EXPONENTS.get(normalize_currency(currency), DEFAULT_EXPONENT)


def to_minor_units(amount: str, currency: str) -> int:
    """'19.99' usd -> 1999; '500' jpy -> 500; '1.250' kwd -> 1250.

    Rejects negatives, NaN, infinity, exponents, malformed thousands separators, more decimals
    than the currency has, and amounts that do not fit a BIGINT.
    """
    cur = normalize_currency(currency)
    exp = _EXPONENTS.get(cur, DEFAULT_EXPONENT)
    text = amount.strip()
    if _GROUPED.match(text):
        text = text.replace(",", "")
    match = _AMOUNT.match(text)
    if match is None:
        if text.startswith("-"):
            raise MoneyError(f"{amount!r} is negative")
        if _SPECIAL.match(text):
            raise MoneyError(f"{amount!r} is not a number")
        if re.match(r"^[0-9.]+[eE][+-]?[0-9]+$", text):
            raise MoneyError(f"{amount!r} uses an exponent; write the plain decimal amount")
        if "," in text:
            raise MoneyError(
                f"{amount!r} has an ambiguous ',': use '.' for decimals and no thousands separators"
            )
        raise MoneyError(f"{amount!r} is not a non-negative decimal amount")
    frac = (match.group("frac") or "").rstrip("0")
    if len(frac) > exp:
        raise MoneyError(f"{amount!r} has {len(frac)} decimals but {cur.upper()} has {exp}")
    units = int(match.group("int")) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
    if units > MAX_UNIT_AMOUNT:
        raise MoneyError(
            f"{amount!r} is too large: {units} minor units of {cur.upper()}, more than"
            f" {MAX_UNIT_AMOUNT:,} (Stripe's largest unit_amount)"
        )
    return units


def from_minor_units(units: int, currency: str) -> str:
    exp = exponent(currency)
    if not exp:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"
