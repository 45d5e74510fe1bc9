"""What a column's sample values look like: the value-sniffing step of the mapping assistant.

Each sniffer looks at the non-empty sample values of one column and says which catalog
field they fit, how sure it is, and why. They are deliberately strict (every sampled value
must fit), because a sniffed guess is the weakest step of the waterfall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ISO 4217 codes in use (2024), upper case as files write them.
ISO_4217 = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SLL",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)

_URL = re.compile(r"^https?://[^\s]+$", re.IGNORECASE)
_IMAGE = re.compile(r"\.(jpe?g|png|gif|webp|avif|svg|tiff?)(\?.*)?$", re.IGNORECASE)
_INTEGER = re.compile(r"^[0-9]+$")
# prices with a decimal point (thousands by ","), or a decimal comma (thousands by "." or spaces)
_DOT_AMOUNT = re.compile(r"^(?:[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)(?:\.[0-9]{1,4})?$")
_COMMA_AMOUNT = re.compile(r"^(?:[0-9]+|[0-9]{1,3}(?:[. \u00a0\u202f'][0-9]{3})+)(?:,[0-9]{1,4})?$")
_HTML = re.compile(r"<\s*(p|br|div|ul|li|b|strong|em|span|h[1-6]|table)\b", re.IGNORECASE)
LONG_TEXT = 40  # average characters from which a text column reads as a description


@dataclass(frozen=True)
class Sniff:
    target: str
    confidence: float
    reason: str


@dataclass(frozen=True)
class Separators:
    decimal: str
    thousands: str | None


def _split_urls(value: str) -> list[str]:
    return [p.strip() for p in re.split(r"[,|]", value) if p.strip()]


def amount_separators(values: list[str]) -> Separators | None:
    """The separators of a column of amounts, or None when some value is not an amount.
    A decimal comma needs one value that shows it (`34,90`); otherwise a point is assumed."""
    if not values:
        return None
    comma = any(_COMMA_AMOUNT.match(v) and not _DOT_AMOUNT.match(v) for v in values)
    if comma:
        if not all(_COMMA_AMOUNT.match(v) for v in values):
            return None
        seps = {m for v in values for m in re.findall(r"[0-9]([. \u00a0\u202f'])[0-9]{3}", v)}
        return Separators(",", seps.pop() if len(seps) == 1 else None)
    if not all(_DOT_AMOUNT.match(v) for v in values):
        return None
    return Separators(".", "," if any("," in v for v in values) else None)


def sniff(values: list[str]) -> Sniff | None:
    """The catalog field the sample `values` (non-empty, stripped) fit best, if any."""
    if not values:
        return None
    n = len(values)
    if all(_URL.match(u) for v in values for u in _split_urls(v)):
        images = sum(1 for v in values if all(_IMAGE.search(u) for u in _split_urls(v)))
        if images * 2 > n:
            return Sniff("images", 0.7, f"{images} of {n} sampled values are image URLs")
        return Sniff("url", 0.6, f"all {n} sampled values are URLs")
    if all(v.upper() in ISO_4217 and len(v) == 3 for v in values):
        return Sniff("currency", 0.75, f"all {n} sampled values are ISO 4217 currency codes")
    if all(_INTEGER.match(v) for v in values):
        return Sniff("inventory_quantity", 0.55, f"all {n} sampled values are whole numbers")
    seps = amount_separators(values)
    if seps is not None and any(re.search(r"[.,][0-9]{1,4}$", v) for v in values):
        shown = f"decimal {seps.decimal!r}" + (
            f", thousands {seps.thousands!r}" if seps.thousands else ""
        )
        return Sniff("price", 0.7, f"all {n} sampled values are amounts ({shown})")
    average = sum(len(v) for v in values) / n
    html = sum(1 for v in values if _HTML.search(v))
    if html * 2 > n:
        return Sniff("description", 0.65, f"{html} of {n} sampled values contain HTML")
    if average >= LONG_TEXT and any(" " in v for v in values):
        return Sniff("description", 0.6, f"long text (about {round(average)} characters)")
    return None


def unique_and_complete(values: list[str | None]) -> bool:
    """Never empty and never repeated in the sample: what a key column looks like."""
    present = [v for v in values if v is not None and v.strip()]
    return bool(present) and len(present) == len(values) and len(set(present)) == len(present)
