"""Money parsing: integer minor units by currency exponent, with reasons that say what is wrong."""

from __future__ import annotations

import pytest

from catalog_pipelines.money import (
    MAX_UNIT_AMOUNT,
    MoneyError,
    exponent,
    from_minor_units,
    normalize_currency,
    to_minor_units,
)


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        ("19.99", "usd", 1999),
        ("19.9", "USD", 1990),
        ("19", "usd", 1900),
        ("0.01", "usd", 1),
        ("12.340", "usd", 1234),  # trailing zeros are not extra precision
        (" 7.50 ", "eur", 750),
        ("500", "jpy", 500),
        ("500.00", "jpy", 500),
        ("1.250", "kwd", 1250),
        ("0.005", "kwd", 5),
        ("1,234.50", "usd", 123450),
        ("0870", "usd", 87000),
        ("999999.99", "usd", MAX_UNIT_AMOUNT),  # Stripe's largest unit_amount
        ("99999999", "jpy", MAX_UNIT_AMOUNT),
    ],
)
def test_to_minor_units(amount: str, currency: str, units: int) -> None:
    assert to_minor_units(amount, currency) == units


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("12.345", "usd", "'12.345' has 3 decimals but USD has 2"),
        ("500.5", "jpy", "'500.5' has 1 decimals but JPY has 0"),
        ("1.2345", "kwd", "has 4 decimals but KWD has 3"),
        ("-1.00", "usd", "'-1.00' is negative"),
        ("NaN", "usd", "'NaN' is not a number"),
        ("inf", "usd", "'inf' is not a number"),
        ("1e3", "usd", "'1e3' uses an exponent"),
        ("3.65275E+11", "usd", "uses an exponent"),
        ("12,5.0", "usd", "ambiguous ','"),
        ("1,50", "eur", "ambiguous ','"),
        ("1,234", "usd", "ambiguous ','"),
        ("١٢", "usd", "is not a non-negative decimal amount"),  # Arabic-Indic digits
        ("", "usd", "is not a non-negative decimal amount"),
        ("$5", "usd", "is not a non-negative decimal amount"),
        (".5", "usd", "is not a non-negative decimal amount"),
        ("1000000.00", "usd", "is too large: 100000000 minor units of USD, more than 99,999,999"),
        ("92233720368547758.08", "usd", "is too large"),
        ("1" * 40, "usd", "is too large"),  # Decimal.scaleb would have rounded this silently
    ],
)
def test_to_minor_units_rejects_with_reason(amount: str, currency: str, message: str) -> None:
    with pytest.raises(MoneyError, match=message.replace("$", r"\$")):
        to_minor_units(amount, currency)


def test_currency_codes() -> None:
    assert normalize_currency(" USD ") == "usd"
    assert exponent("JPY") == 0 and exponent("bhd") == 3 and exponent("eur") == 2
    with pytest.raises(MoneyError, match="'US' is not an ISO 4217 currency code"):
        to_minor_units("1", "US")


@pytest.mark.parametrize(
    ("units", "currency", "text"),
    [(1999, "usd", "19.99"), (5, "usd", "0.05"), (500, "jpy", "500"), (1250, "kwd", "1.250")],
)
def test_from_minor_units_round_trips(units: int, currency: str, text: str) -> None:
    assert from_minor_units(units, currency) == text
    assert to_minor_units(text, currency) == units
