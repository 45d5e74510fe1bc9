"""The mapping file (docs/mapping.md): a pydantic schema of the YAML document, the validated
`Mapping` the readers use, and YAML/JSON round trips.

The schema is declared once (`MappingDocument`); pydantic checks it and every error names the
key it is about (`fields.price: ...`), prefixed with the file. `Mapping` is the plain value
the rest of the code passes around (a dataclass, so `dataclasses.replace` works).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator

from catalog_pipelines import money
from catalog_pipelines.normalized import InputError

# `magento` is read by its own connector; the others by the generic readers or the built-in
# Shopify/WooCommerce mappings.
FORMATS = ("csv", "jsonl", "shopify", "woocommerce", "magento")
PLAIN_TARGETS = (
    "external_id",
    "parent_external_id",
    "name",
    "description",
    "active",
    "images",
    "url",
    "shippable",
    "tax_code",
    "unit_label",
    "sku",
    "price",
    "currency",
    "inventory_quantity",
    "inventory_policy",
)
PREFIX_TARGETS = ("option.", "metadata.")
DECIMAL_SEPARATORS = (".", ",")
# what spreadsheets group thousands with: comma, dot, space, no-break spaces, apostrophe (CH)
THOUSANDS_SEPARATORS = (",", ".", " ", "\u00a0", "\u202f", "'")
# the order a dumped mapping file lists its settings in
_ORDER = (
    "format",
    "key",
    "parent_key",
    "currency",
    "encoding",
    "delimiter",
    "decimal_separator",
    "thousands_separator",
    "fields",
)


# A mapping without `key` is a stock feed: SKUs and their stock only (docs/hybrid-sources.md).
STOCK_FEED_TARGETS = ("sku", "inventory_quantity", "inventory_policy")


class MappingError(InputError):
    """The mapping file is unusable; like any bad input, nothing is written (exit code 2)."""


@dataclass
class Mapping:
    """A source's field mapping. `fields` maps catalog field -> source column, without
    `external_id`/`parent_external_id`, which live in `key`/`parent_key`."""

    format: str
    key: str | None
    parent_key: str | None = None
    currency: str | None = None  # default for rows that carry none, lowercase
    fields: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    decimal_separator: str = "."  # of prices: "1.249,00" needs ","
    thousands_separator: str | None = None  # of prices, when the file groups digits
    delimiter: str | None = None  # of a CSV file; None is ","

    @property
    def stock_only(self) -> bool:
        """A generic mapping without `key`: rows are matched to the catalog by SKU."""
        return self.format in ("csv", "jsonl") and self.key is None and "sku" in self.fields

    def source_columns(self) -> list[str]:
        cols = [c for c in (self.key, self.parent_key) if c]
        return cols + [c for c in self.fields.values() if c not in cols]


def target_ok(target: str) -> bool:
    """Whether `target` is a catalog field a column can map to."""
    if target in PLAIN_TARGETS:
        return True
    return any(target.startswith(p) and len(target) > len(p) for p in PREFIX_TARGETS)


def _non_empty(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(
            f"must be a non-empty string, got {value!r} (quote it in YAML, e.g. '0870' or 'no')"
        )
    return value


Text = Annotated[str, BeforeValidator(_non_empty)]


class MappingDocument(BaseModel):
    """The YAML document as written; `to_mapping` resolves it into a `Mapping`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = "csv"
    key: Text | None = None
    parent_key: Text | None = None
    currency: str | None = None
    fields: dict[str, Text] | None = None
    encoding: Text | None = None
    decimal_separator: str = "."
    thousands_separator: str | None = None
    delimiter: str | None = None

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        if value not in FORMATS:
            raise ValueError(f"format {value!r} is not one of {', '.join(FORMATS)}")
        return value

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError(f"must be a code like usd, got {value!r}")
        try:
            return money.normalize_currency(value)
        except money.MoneyError as e:
            raise ValueError(str(e)) from e

    @field_validator("fields", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValueError("must map catalog field -> source column")
        for target in value:
            if not isinstance(target, str) or not target_ok(target):
                raise ValueError(
                    f"unknown target field {target!r}; valid: {', '.join(PLAIN_TARGETS)},"
                    " option.<name>, metadata.<key>"
                )
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                "".encode(value)
            except LookupError as e:
                raise ValueError(f"unknown encoding {value!r}") from e
        return value

    @field_validator("decimal_separator", mode="before")
    @classmethod
    def _decimal(cls, value: Any) -> Any:
        if value not in DECIMAL_SEPARATORS:
            raise ValueError(f"must be '.' or ',', got {value!r}")
        return value

    @field_validator("thousands_separator", mode="before")
    @classmethod
    def _thousands(cls, value: Any) -> Any:
        if value is not None and value not in THOUSANDS_SEPARATORS:
            shown = ", ".join(repr(s) for s in THOUSANDS_SEPARATORS)
            raise ValueError(f"must be one of {shown}, got {value!r}")
        return value

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, value: Any) -> Any:
        if value is None:
            return None
        if value == "\\t":  # what people type in YAML for a tab
            value = "\t"
        if not isinstance(value, str) or len(value) != 1 or value in '"\r\n':
            raise ValueError(f"must be one character such as ',' ';' or '\\t', got {value!r}")
        return value

    def to_mapping(self) -> Mapping:
        """Resolve `fields.external_id`/`parent_external_id` into `key`/`parent_key` and check
        what involves several settings. Raises ValueError (without a location)."""
        fields = dict(self.fields or {})
        key = _one_of("key", self.key, "external_id", fields.pop("external_id", None))
        parent = _one_of(
            "parent_key",
            self.parent_key,
            "parent_external_id",
            fields.pop("parent_external_id", None),
        )
        if not key and self.format in ("csv", "jsonl"):
            if "sku" not in fields:
                raise ValueError(
                    "missing `key`, the column holding the external id (or, for a stock feed"
                    " without product keys, map `sku`: docs/hybrid-sources.md)"
                )
            extra = sorted(set(fields) - set(STOCK_FEED_TARGETS))
            if extra:
                raise ValueError(
                    f"a mapping without `key` is a stock feed; it may map only"
                    f" {', '.join(STOCK_FEED_TARGETS)}, but it maps {', '.join(extra)}"
                )
        if (
            self.thousands_separator is not None
            and self.thousands_separator == self.decimal_separator
        ):
            raise ValueError(
                f"thousands_separator and decimal_separator are both {self.decimal_separator!r}"
            )
        return Mapping(
            format=self.format,
            key=key,
            parent_key=parent,
            currency=self.currency,
            fields=fields,
            encoding=self.encoding,
            decimal_separator=self.decimal_separator,
            thousands_separator=self.thousands_separator,
            delimiter=self.delimiter,
        )


def _one_of(name: str, value: str | None, target: str, column: str | None) -> str | None:
    if value and column and value != column:
        raise ValueError(
            f"{name} is {value!r} but fields.{target} is {column!r}; they are the same thing,"
            " give one"
        )
    return value or column


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _describe(error: Any) -> str:
    """One pydantic error as `<key>: <what is wrong>`."""
    loc = _location(error["loc"])
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(MappingDocument.model_fields)
        return f"unknown setting {loc!r}; allowed: {allowed}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def mapping_from_dict(data: Any, *, where: str = "mapping") -> Mapping:
    """Validate a parsed mapping document; errors name `where`, the key and what is wrong."""
    if not isinstance(data, dict):
        raise MappingError(f"{where}: expected a YAML mapping at the top level")
    try:
        return MappingDocument.model_validate(data).to_mapping()
    except ValidationError as e:
        problems = "; ".join(_describe(err) for err in e.errors())
        raise MappingError(f"{where}: {problems}") from None
    except ValueError as e:
        raise MappingError(f"{where}: {e}") from None


def mapping_to_dict(mapping: Mapping) -> dict[str, Any]:
    """The mapping as a document (JSON/YAML), defaults left out, in the order of the docs."""
    out: dict[str, Any] = {}
    for name in _ORDER:
        value = getattr(mapping, name)
        if name == "fields":  # catalog fields in their documented order, then the rest
            rank = {t: i for i, t in enumerate(PLAIN_TARGETS)}
            ordered = sorted(value.items(), key=lambda kv: rank.get(kv[0], len(rank)))
            out[name] = dict(ordered)
        elif name == "format" or (
            value is not None and not (name == "decimal_separator" and value == ".")
        ):
            out[name] = value
    return out


def dump_mapping(mapping: Mapping) -> str:
    """The mapping as a YAML file that `load_mapping` reads back to the same `Mapping`."""
    return yaml.safe_dump(mapping_to_dict(mapping), sort_keys=False, allow_unicode=True)


def parse_mapping_text(text: str, *, where: str) -> Mapping:
    """A YAML mapping document; errors name `where` (a file, an API parameter)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise MappingError(f"{where}: invalid YAML{at}: {getattr(e, 'problem', e)}") from e
    return mapping_from_dict(data, where=where)


def load_mapping(path: Path | str) -> Mapping:
    """Read and validate a YAML mapping file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise MappingError(f"{path}: cannot read the mapping file: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise MappingError(f"{path}: the mapping file is not UTF-8") from e
    return parse_mapping_text(text, where=str(path))
