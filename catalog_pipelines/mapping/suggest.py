"""The mapping assistant: a suggested mapping for columns never seen before.

A deterministic waterfall decides each column's catalog field (docs/mapping-assistant.md):

1. history: the account's own saved mappings, for headers it has mapped before;
2. exact: the header is a catalog field's name (`price`, `Inventory Quantity`);
3. alias: a known English, German, French or Spanish header (`Preis`, `devise`, `nombre`);
4. fuzzy: a typo or abbreviation of an alias (`Beschreibng`, `curr`), or an alias among the
   header's words (`price_amount`, `sku_code`), scored with rapidfuzz;
5. sniff: the sample values (URLs, currency codes, amounts, whole numbers, long text), which
   also confirm (and raise) a name-based match.

Candidates are then assigned best first, one column per field; what is left goes to metadata
under its own header, so nothing is dropped. The key is the external-id column if one is
named, else a unique, never-empty SKU column, else the first unique, never-empty column:
the last two are flagged in `needs_review`, as is a missing or doubtful name.

This module works on column names and sample rows only; reading a file (dialect, format) is
the connectors' job (`connectors.sampling`).
"""

from __future__ import annotations

from collections.abc import Mapping as Map
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from catalog_pipelines.mapping.aliases import ALIAS_INDEX, EXACT_INDEX, LANGUAGES, normalize
from catalog_pipelines.mapping.model import Mapping, mapping_from_dict, mapping_to_dict
from catalog_pipelines.mapping.sniff import (
    Separators,
    amount_separators,
    sniff,
    unique_and_complete,
)

SAMPLES_SHOWN = 3
FUZZY_MIN_SCORE = 88  # rapidfuzz WRatio, 0-100
CONFIDENT = 0.8  # below this, a key or a name is listed in needs_review
BUILT_IN_FORMATS = ("shopify", "woocommerce", "magento")
# on equal confidence, the earlier step of the waterfall wins
_STEP_ORDER = {"history": 0, "exact": 1, "alias": 2, "fuzzy": 3, "sniff": 4}
# header -> (target, where it was mapped), built from the account's saved mappings
History = Map[str, tuple[str, str]]


@dataclass(frozen=True)
class Dialect:
    """How the file is written: None where it does not apply (rows sent to the API)."""

    delimiter: str | None = ","
    encoding: str | None = "utf-8"
    decimal_separator: str = "."
    thousands_separator: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            "decimal_separator": self.decimal_separator,
            "thousands_separator": self.thousands_separator,
        }


@dataclass
class ColumnSuggestion:
    column: str
    field: str  # a catalog field, `external_id` for the key, or `metadata`
    confidence: float
    reason: str
    samples: list[str]
    step: str  # history | exact | alias | fuzzy | sniff | key | metadata

    def as_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "field": self.field,
            "confidence": round(self.confidence, 2),
            "reason": self.reason,
            "samples": self.samples,
            "step": self.step,
        }


@dataclass
class Suggestion:
    format: str
    dialect: Dialect
    mapping: Mapping
    columns: list[ColumnSuggestion]
    needs_review: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "mapping_suggestion",
            "format": self.format,
            "dialect": self.dialect.as_json(),
            "mapping": mapping_to_dict(self.mapping),
            "columns": [c.as_json() for c in self.columns],
            "needs_review": self.needs_review,
        }


@dataclass(frozen=True)
class _Candidate:
    column: int
    target: str
    confidence: float
    reason: str
    step: str


def _values(rows: Sequence[Map[str, Any]], column: str) -> list[str | None]:
    out: list[str | None] = []
    for row in rows:
        v = row.get(column)
        out.append(None if v is None or str(v).strip() == "" else str(v).strip())
    return out


def _samples(values: list[str | None]) -> list[str]:
    seen: list[str] = []
    for v in values:
        if v is not None and v not in seen:
            seen.append(v if len(v) <= 80 else v[:77] + "...")
        if len(seen) == SAMPLES_SHOWN:
            break
    return seen


_ALIASES = list(ALIAS_INDEX)


def _by_name(header: str, history: History) -> list[_Candidate]:
    """Name-based candidates for one header: history, exact, alias or fuzzy (first that hits)."""
    if header in history:
        target, where = history[header]
        return [_Candidate(-1, target, 0.99, f"mapped to {target} before ({where})", "history")]
    norm = normalize(header)
    if norm in EXACT_INDEX:
        target = EXACT_INDEX[norm]
        return [_Candidate(-1, target, 1.0, f"header is the catalog field {target}", "exact")]
    if norm in ALIAS_INDEX:
        target, language = ALIAS_INDEX[norm]
        return [
            _Candidate(
                -1, target, 0.95, f"{LANGUAGES[language]} name for {target} ({header!r})", "alias"
            )
        ]
    if len(norm) < 3:
        return []
    best = process.extractOne(norm, _ALIASES, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN_SCORE)
    if best is not None:
        alias, score, _ = best
        target = ALIAS_INDEX[alias][0]
        return [
            _Candidate(
                -1,
                target,
                round(0.5 + 0.4 * score / 100, 2),
                f"close to {alias!r} (similarity {round(score)}%)",
                "fuzzy",
            )
        ]
    found: list[_Candidate] = []
    words = norm.split()
    for word in words:  # an alias among the header's words: price_amount, sku_code
        if word in ALIAS_INDEX and len(word) >= 3:
            target = ALIAS_INDEX[word][0]
            found.append(
                _Candidate(
                    -1, target, 0.7, f"header contains the word {word!r} ({target})", "fuzzy"
                )
            )
    if not found and " " not in norm:  # an abbreviation: curr, desc, beschr
        for alias in _ALIASES:
            if alias.startswith(norm) and len(alias) > len(norm) + 1:
                target = ALIAS_INDEX[alias][0]
                found.append(
                    _Candidate(-1, target, 0.6, f"abbreviation of {alias!r} ({target})", "fuzzy")
                )
                break
    return found


def _candidates(
    index: int, header: str, values: list[str | None], history: History
) -> list[_Candidate]:
    present = [v for v in values if v is not None]
    named = [
        _Candidate(index, c.target, c.confidence, c.reason, c.step)
        for c in _by_name(header, history)
    ]
    sniffed = sniff(present)
    if sniffed is None:
        return named
    out: list[_Candidate] = []
    agreed = False
    for c in named:
        if c.target == sniffed.target and c.step != "history":
            agreed = True
            out.append(
                _Candidate(
                    index,
                    c.target,
                    min(1.0, round(max(c.confidence, sniffed.confidence) + 0.1, 2)),
                    f"{c.reason}; {sniffed.reason}",
                    c.step,
                )
            )
        else:
            out.append(c)
    if not agreed:
        out.append(_Candidate(index, sniffed.target, sniffed.confidence, sniffed.reason, "sniff"))
    return out


def _assign(candidates: list[_Candidate]) -> dict[int, _Candidate]:
    """Best candidates first; each column gets one field and each field one column."""
    ordered = sorted(candidates, key=lambda c: (-c.confidence, _STEP_ORDER[c.step], c.column))
    by_column: dict[int, _Candidate] = {}
    taken: set[str] = set()
    for c in ordered:
        if c.column in by_column:
            continue
        if c.target in taken and not c.target.startswith("metadata."):
            continue
        by_column[c.column] = c
        taken.add(c.target)
    return by_column


def _choose_key(
    columns: Sequence[str],
    values: dict[str, list[str | None]],
    chosen: dict[int, _Candidate],
    review: list[str],
) -> tuple[int | None, float, str]:
    """(column index, confidence, reason) of the key column."""
    n = len(next(iter(values.values()), []))
    for i, c in chosen.items():
        if c.target == "external_id":
            if unique_and_complete(values[columns[i]]) or not n:
                return i, c.confidence, c.reason
            review.append(
                f"key: {columns[i]!r} repeats values or is empty in the sample; rows sharing a"
                " key are one product (variants?): check key and parent_key"
            )
            return i, min(c.confidence, 0.6), c.reason + "; but not unique in the sample"
    for i, c in chosen.items():
        if c.target == "sku" and unique_and_complete(values[columns[i]]):
            confidence = min(round(c.confidence + 0.1, 2), 0.9)  # uniqueness is evidence too
            reason = f"key and sku: {c.reason}; unique and never empty in {n} sampled rows"
            return i, confidence, reason
    # columns no field wanted first, then those whose values could be an identifier
    skip = {"description", "images", "url", "price", "inventory_quantity", "currency"}
    unmapped = [i for i in range(len(columns)) if i not in chosen]
    mapped = [i for i in range(len(columns)) if i in chosen and chosen[i].target not in skip]
    for i in unmapped + mapped:
        name = columns[i]
        if unique_and_complete(values[name]):
            review.append(
                f"key: no column is named like an id or a SKU; {name!r} was chosen only because"
                f" its {n} sampled values are unique and never empty"
            )
            return i, 0.6, f"unique and never empty in {n} sampled rows"
    if columns:
        review.append(
            "key: no column is unique and never empty in the sample; set `key` to the column"
            f" that identifies a product (the first column, {columns[0]!r}, is a placeholder)"
        )
        return 0, 0.2, "placeholder: no column identifies a product"
    return None, 0.0, ""


def suggest(
    columns: Sequence[str],
    rows: Sequence[Map[str, Any]],
    *,
    format: str = "csv",
    dialect: Dialect | None = None,
    history: History | None = None,
    default_currency: str = "usd",
) -> Suggestion:
    """A suggested mapping for `columns`, judged on the sample `rows` (header -> value)."""
    dialect = dialect or Dialect()
    history = history or {}
    review: list[str] = []
    values = {name: _values(rows, name) for name in columns}
    candidates = [
        c for i, name in enumerate(columns) for c in _candidates(i, name, values[name], history)
    ]
    chosen = _assign(candidates)
    key_index, key_confidence, key_reason = _choose_key(columns, values, chosen, review)
    fields: dict[str, str] = {}
    out: list[ColumnSuggestion] = []
    for i, name in enumerate(columns):
        c = chosen.get(i)
        samples = _samples(values[name])
        if i == key_index:
            out.append(
                ColumnSuggestion(
                    name,
                    "external_id",
                    key_confidence,
                    key_reason,
                    samples,
                    c.step if c and c.target in ("external_id", "sku") else "key",
                )
            )
            if c is not None and c.target != "external_id":  # e.g. the SKU: keep it too
                fields[c.target] = name
            continue
        if c is None or c.target == "external_id":
            why = "no catalog field matched" if c is None else "another column is the key"
            out.append(
                ColumnSuggestion(
                    name,
                    "metadata",
                    0.5,  # a catalog field may still fit: metadata is the safe default
                    f"{why}; kept in metadata under {name!r}",
                    samples,
                    "metadata",
                )
            )
            continue
        fields[c.target] = name
        out.append(ColumnSuggestion(name, c.target, c.confidence, c.reason, samples, c.step))

    if (
        key_index is not None
        and key_confidence < CONFIDENT
        and not any(r.startswith("key:") for r in review)
    ):
        review.append(
            f"key: {columns[key_index]!r} is only a guess ({key_reason},"
            f" confidence {key_confidence:.2f})"
        )
    dialect = _amounts(dialect, fields, values, review)
    name_index = next(
        (i for i, c in chosen.items() if c.target == "name" and fields.get("name") == columns[i]),
        None,
    )
    if name_index is None:
        review.append("name: no column looks like the product name; map one as fields.name")
    elif chosen[name_index].confidence < CONFIDENT:
        named = chosen[name_index]
        review.append(
            f"name: {columns[name_index]!r} is only a guess ({named.reason},"
            f" confidence {named.confidence:.2f})"
        )
    currency = None
    if "price" in fields and "currency" not in fields:
        currency = default_currency
        review.append(
            f"currency: no currency column; prices are read as {default_currency.upper()}."
            " Set `currency` if that is wrong"
        )
    doc: dict[str, Any] = {"format": format if format in BUILT_IN_FORMATS else _generic(format)}
    if doc["format"] in BUILT_IN_FORMATS:
        mapping = mapping_from_dict(doc, where="suggestion")
        for s in out:  # the connector maps its own columns: nothing to review
            s.reason = f"read by the built-in {format} connector, which maps its columns itself"
            s.confidence, s.step = 1.0, "builtin"
        return Suggestion(format, dialect, mapping, out, [])
    if key_index is not None:
        doc["key"] = columns[key_index]
    if currency:
        doc["currency"] = currency
    if dialect.encoding and normalize(dialect.encoding) not in ("utf 8", "utf8", "utf 8 sig"):
        doc["encoding"] = dialect.encoding
    if dialect.delimiter and dialect.delimiter != ",":
        doc["delimiter"] = dialect.delimiter
    doc["decimal_separator"] = dialect.decimal_separator
    if dialect.thousands_separator:
        doc["thousands_separator"] = dialect.thousands_separator
    doc["fields"] = fields
    mapping = mapping_from_dict(doc, where="suggestion")
    return Suggestion(doc["format"], dialect, mapping, out, review)


def _generic(format: str) -> str:
    return "jsonl" if format == "jsonl" else "csv"


def _amounts(
    dialect: Dialect,
    fields: dict[str, str],
    values: dict[str, list[str | None]],
    review: list[str],
) -> Dialect:
    """The decimal and thousands separators of the price column, into the dialect."""
    column = fields.get("price")
    if column is None:
        return dialect
    present = [v for v in values[column] if v is not None]
    seps = amount_separators(present)
    if seps is None:
        if present:
            review.append(
                f"price: some values of {column!r} are not amounts (e.g. {present[0]!r});"
                " those rows will be rejected"
            )
        return dialect
    return Dialect(dialect.delimiter, dialect.encoding, seps.decimal, seps.thousands)


__all__ = ["ColumnSuggestion", "Dialect", "History", "Separators", "Suggestion", "suggest"]
