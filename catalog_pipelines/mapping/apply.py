"""A field mapping (docs/mapping.md) applied to a frame of source strings.

`apply_mapping` turns an all-string frame (a CSV read by `connectors.reading`, or JSON Lines
records flattened to strings) into a `ParsedBatch`. The common path is vectorized in Polars so
that a million rows take seconds; Python only looks at rows that the fast path could not parse,
either to accept a rarer spelling (`1,234.50`) or to say exactly what is wrong.

Rules (what a user can rely on):
- Identifiers (`key`, `parent_key`, `sku`) are stripped of surrounding whitespace; a row without
  a key is rejected. Other text (name, description...) is kept verbatim.
- Rows sharing a key, without a parent, are one product. The first valid such row is the
  *product row*: product fields come from it.
- A row whose `parent_key` column is set is a variant of the product with that key; the parent
  must have a product row in the same file.
- A row becomes a variant when it is a child row or has a price or a SKU. Its `variant_key` is
  the SKU; without a SKU it is the row's own key for a child row, and the product's external id
  otherwise (so a product may have only one SKU-less variant). A repeated variant key rejects
  the later row.
- A later row of the same product that is not a variant (e.g. an extra image row) merges into
  the product: its images are appended, values the product row lacks are added, and a value
  that contradicts the product row rejects that row.
- On a variant row other than the product row, product-level values that differ from the
  product's go to the variant: `name` becomes the price's `nickname`, anything else its
  `metadata` (under the catalog field name or the metadata key). Nothing is dropped.
- Every unmapped column goes to metadata under its original header (nulls omitted);
  `metadata.<key>` targets under `<key>`; `option.<name>` targets into variant `options`.
- Money: `money.to_minor_units` with the row's currency column, else the mapping's default,
  after the mapping's `decimal_separator`/`thousands_separator` (`1.249,00` with ",").
  Booleans: true/false/yes/no/1/0 (any case). Quantities: whole numbers >= 0; `12.0` is
  accepted as 12 (spreadsheets write that), `12.5`, `1e3` and negatives are rejected.
  Inventory policy: deny | continue (any case). Images: split on `,` and `|`, trimmed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from polars.expr.whenthen import ChainedThen, Then

from catalog_pipelines import money
from catalog_pipelines.frames import rows_where
from catalog_pipelines.mapping.amounts import amount_expr, canonical_amount
from catalog_pipelines.mapping.model import Mapping
from catalog_pipelines.normalized import (
    KV,
    PRODUCT_SCHEMA,
    ROW_NUMBER,
    VARIANT_SCHEMA,
    InputError,
    ParsedBatch,
    Reject,
)

_TEXT_FIELDS = ("name", "description", "url", "tax_code", "unit_label")
_BOOL_FIELDS = ("active", "shippable")
# product-level values compared between a product's rows (images are merged, not compared)
_PRODUCT_ATTRS = (*_TEXT_FIELDS, *_BOOL_FIELDS)
_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_POLICIES = ("deny", "continue")
_FAST_AMOUNT = r"^[0-9]{1,14}(\.[0-9]+)?$"  # 14 digits * 10**4 still fits an Int64
_FAST_QUANTITY = r"^[0-9]{1,18}$"
_QUANTITY = re.compile(r"^\+?(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]*))?$")


# ---------------------------------------------------------------------------------------------
# Python reference parsers: used for rows the vectorized path rejected, to accept rarer valid
# spellings and to produce reasons. The vectorized path accepts a subset of what these accept.


def parse_bool(text: str) -> bool:
    value = _BOOLS.get(text.strip().lower())
    if value is None:
        raise ValueError(f"{text!r} is not a boolean (true/false/yes/no/1/0)")
    return value


def parse_quantity(text: str) -> int:
    match = _QUANTITY.match(text.strip())
    if match is None:
        if re.match(r"^\s*-[0-9.]+\s*$", text):
            raise ValueError(f"{text!r} is negative; quantities are >= 0")
        raise ValueError(f"{text!r} is not a whole number")
    if (match.group("frac") or "").strip("0"):
        raise ValueError(f"{text!r} is not a whole number")
    value = int(match.group("int"))
    if value > money.MAX_MINOR_UNITS:
        raise ValueError(f"{text!r} is too large")
    return value


def parse_policy(text: str) -> str:
    value = text.strip().lower()
    if value not in _POLICIES:
        raise ValueError(f"{text!r} is not one of deny, continue")
    return value


# ---------------------------------------------------------------------------------------------


def blank_to_null(expr: pl.Expr) -> pl.Expr:
    stripped = expr.str.strip_chars()
    return pl.when(stripped.str.len_bytes() == 0).then(None).otherwise(stripped)


def _kv(pairs: Sequence[tuple[str, str]]) -> pl.Expr:
    """(key, column) pairs -> a KV list of the non-null values, in the pairs' order.

    One list of the values, then a struct per element with its key looked up by position: a
    third of the CPU of a list of per-column structs (which built a struct per row and cell)."""
    if not pairs:
        return pl.lit([], dtype=KV)
    keys = {i: k for i, (k, _) in enumerate(pairs)}
    key = pl.int_range(pl.len()).replace_strict(keys, return_dtype=pl.Utf8)
    values = pl.concat_list([pl.col(c).cast(pl.Utf8) for _, c in pairs])
    return values.list.eval(pl.struct(key=key, value=pl.element())).list.filter(
        pl.element().struct.field("value").is_not_null()
    )


@dataclass
class _Plan:
    """Internal column names of the working frame, resolved once per batch."""

    meta: list[tuple[str, str]]  # metadata key -> working column
    options: list[tuple[str, str]]
    labels: dict[str, str]  # working column -> how reasons name it
    unmapped: list[str]


def _working_frame(
    frame: pl.DataFrame, mapping: Mapping, unmapped: list[str]
) -> tuple[pl.DataFrame, _Plan]:
    f = mapping.fields
    null = pl.lit(None, dtype=pl.Utf8)

    def src(target: str) -> pl.Expr:
        return pl.col(f[target]) if target in f else null

    exprs: list[pl.Expr] = [
        pl.col(ROW_NUMBER).cast(pl.Int64).alias("_rn"),
        blank_to_null(pl.col(mapping.key) if mapping.key else src("sku")).alias("_key"),
        blank_to_null(pl.col(mapping.parent_key) if mapping.parent_key else null).alias("_parent"),
        blank_to_null(src("sku")).alias("sku"),
    ]
    exprs += [src(t).alias(t) for t in _TEXT_FIELDS]
    exprs += [src(t).alias(f"r_{t}") for t in (*_BOOL_FIELDS, "price", "currency")]
    exprs += [src(t).alias(f"r_{t}") for t in ("inventory_quantity", "inventory_policy", "images")]
    labels = {"_key": f"external_id (column {mapping.key or f.get('sku')!r})"}
    meta: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    explicit_meta = {
        t.removeprefix("metadata."): c for t, c in f.items() if t.startswith("metadata.")
    }
    for name in unmapped:
        if name in explicit_meta:
            raise InputError(
                f"metadata key {name!r} would come both from column {explicit_meta[name]!r}"
                f" (metadata.{name}) and from the unmapped column {name!r}; map {name!r} too"
            )
    for i, (k, c) in enumerate([*explicit_meta.items(), *((u, u) for u in unmapped)]):
        exprs.append(pl.col(c).alias(f"m_{i}"))
        meta.append((k, f"m_{i}"))
        labels[f"m_{i}"] = c if k == c else f"metadata.{k} (column {c!r})"
    for i, (t, c) in enumerate((t, c) for t, c in f.items() if t.startswith("option.")):
        exprs.append(pl.col(c).alias(f"o_{i}"))
        options.append((t.removeprefix("option."), f"o_{i}"))
    return frame.select(exprs), _Plan(meta, options, labels, unmapped)


def _fast_parse(w: pl.DataFrame, mapping: Mapping, *, currency_column: bool) -> pl.DataFrame:
    """Vectorized parsing of typed fields; null where the raw value needs a closer look."""
    default_currency = mapping.currency
    cur_text = pl.col("r_currency").str.strip_chars().str.to_lowercase()
    currency = (
        pl.when(pl.col("r_currency").is_null())
        .then(pl.lit(default_currency, dtype=pl.Utf8))
        .when(cur_text.is_in(list(money.CURRENCIES)))
        .then(cur_text)
        .otherwise(None)
    )
    w = w.with_columns(currency.alias("currency"))
    # No strip here: values with surrounding spaces are rare and take the Python path.
    amount = amount_expr(pl.col("r_price"), mapping.decimal_separator, mapping.thousands_separator)
    dot = amount.str.find(".", literal=True)
    whole = (
        pl.when(dot.is_null())
        .then(amount)
        .otherwise(amount.str.slice(0, dot))
        .cast(pl.Int64, strict=False)
    )
    frac = amount.str.slice(dot + 1).fill_null("").str.strip_chars_end("0")
    if currency_column:
        exp = pl.col("currency").replace_strict(
            money.EXPONENTS, default=money.DEFAULT_EXPONENT, return_dtype=pl.Int64
        )
        branches: Then | ChainedThen = pl.when(exp == 0).then(whole)
        for e in (2, 3, 4):
            branches = branches.when(exp == e).then(
                whole * 10**e + frac.str.pad_end(e, "0").cast(pl.Int64, strict=False)
            )
        minor: pl.Expr = branches
    else:  # one currency for the whole file: no per-row branching
        e = money.exponent(default_currency) if default_currency else money.DEFAULT_EXPONENT
        exp = pl.lit(e, dtype=pl.Int64)
        minor = whole
        if e:
            minor = whole * 10**e + frac.str.pad_end(e, "0").cast(pl.Int64, strict=False)
    fits = amount.str.contains(_FAST_AMOUNT) & (frac.str.len_chars() <= exp)
    fits = fits & (minor <= money.MAX_UNIT_AMOUNT)  # larger: the slow path says why
    unit_amount = pl.when(fits & pl.col("currency").is_not_null()).then(minor).otherwise(None)
    qty = pl.col("r_inventory_quantity").str.strip_chars()
    policy = pl.col("r_inventory_policy").str.strip_chars().str.to_lowercase()
    images = (
        pl.col("r_images")
        .str.replace_all("|", ",", literal=True)
        .str.split(",")
        .list.eval(pl.element().str.strip_chars())
        .list.filter(pl.element() != "")
    )
    return w.with_columns(
        unit_amount.alias("unit_amount"),
        *(
            pl.col(f"r_{b}")
            .str.strip_chars()
            .str.to_lowercase()
            .replace_strict(_BOOLS, default=None, return_dtype=pl.Boolean)
            .alias(b)
            for b in _BOOL_FIELDS
        ),
        pl.when(qty.str.contains(_FAST_QUANTITY))
        .then(qty.cast(pl.Int64, strict=False))
        .alias("inventory_quantity"),
        pl.when(policy.is_in(_POLICIES)).then(policy).alias("inventory_policy"),
        images.alias("images"),
    )


_NEEDS_LOOK = (
    pl.col("_key").is_null()
    | (pl.col("r_price").is_not_null() & pl.col("unit_amount").is_null())
    | (pl.col("r_currency").is_not_null() & pl.col("currency").is_null())
    | (pl.col("r_active").is_not_null() & pl.col("active").is_null())
    | (pl.col("r_shippable").is_not_null() & pl.col("shippable").is_null())
    | (pl.col("r_inventory_quantity").is_not_null() & pl.col("inventory_quantity").is_null())
    | (pl.col("r_inventory_policy").is_not_null() & pl.col("inventory_policy").is_null())
)


def _slow_row(row: dict[str, Any], mapping: Mapping) -> tuple[list[str], dict[str, Any]]:
    """Reasons for one row the fast path could not parse, or the values it failed to see."""
    reasons: list[str] = []
    fixed: dict[str, Any] = {}
    if row["_key"] is None and mapping.stock_only:
        reasons.append(f"sku: missing (column {mapping.fields['sku']!r} is empty)")
    elif row["_key"] is None:
        reasons.append(f"external_id: missing (column {mapping.key!r} is empty)")
    currency: str | None = mapping.currency
    currency_ok = True
    if row["r_currency"] is not None:
        try:
            currency = fixed["currency"] = money.normalize_currency(row["r_currency"])
        except money.MoneyError as e:
            reasons.append(f"currency: {e}")
            currency_ok = False
    if row["r_price"] is not None and currency_ok:
        if currency is None:
            reasons.append(
                f"currency: missing for price {row['r_price']!r} and the mapping has no default"
            )
        else:
            try:
                text = canonical_amount(
                    row["r_price"], mapping.decimal_separator, mapping.thousands_separator
                )
                fixed["unit_amount"] = money.to_minor_units(text, currency)
            except money.MoneyError as e:
                reasons.append(f"price: {e}")
    for name, parser in (
        ("active", parse_bool),
        ("shippable", parse_bool),
        ("inventory_quantity", parse_quantity),
        ("inventory_policy", parse_policy),
    ):
        raw = row[f"r_{name}"]
        if raw is not None and row[name] is None:
            try:
                fixed[name] = parser(raw)
            except ValueError as e:
                reasons.append(f"{name}: {e}")
    return reasons, fixed


def _raw_rows(frame: pl.DataFrame, rows: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(set(rows))
    if not wanted:
        return {}
    subset = frame.filter(pl.col(ROW_NUMBER).is_in(wanted))
    return {r.pop(ROW_NUMBER): r for r in subset.to_dicts()}


def _attr_long(df: pl.DataFrame, attrs: list[str], ids: list[str]) -> pl.DataFrame:
    """Product-level values of some rows in long form: ids..., attr, value (non-null)."""
    cols = [(pl.col(a).cast(pl.Utf8) if a in _BOOL_FIELDS else pl.col(a)).alias(a) for a in attrs]
    return (
        df.select(*ids, *cols)
        .unpivot(index=ids, on=attrs, variable_name="attr", value_name="value")
        .drop_nulls("value")
    )


def apply_mapping(
    frame: pl.DataFrame,
    mapping: Mapping,
    *,
    source: str,
    rows_read: int,
    rejects: Sequence[Reject] = (),
    require_columns: bool = True,
    skipped_rows: int = 0,
) -> ParsedBatch:
    """Map an all-string frame (with `row_number`) to a `ParsedBatch`.

    `rows_read` is the independent count of input records; `rejects` are rows the reader already
    refused (not in `frame`). With `require_columns`, a mapped column missing from the frame is
    an `InputError` (a CSV header); JSON Lines pass False since any key may be absent.
    `skipped_rows`: valid rows the reader left out of `frame` (unchanged products).
    """
    columns = [c for c in frame.columns if c != ROW_NUMBER]
    mapped = set(mapping.source_columns())
    missing = [c for c in mapping.source_columns() if c not in columns]
    if missing and require_columns and columns:
        raise InputError(
            f"{source}: mapped column(s) {missing} not in the file; its columns are {columns}"
        )
    if missing:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Utf8).alias(c) for c in missing)
    unmapped = [c for c in columns if c not in mapped]
    all_rejects: dict[int, Reject] = {r.row_number: r for r in rejects}
    try:
        w, plan = _working_frame(frame, mapping, unmapped)
    except InputError as e:
        raise InputError(f"{source}: {e}") from e
    w = _fast_parse(w, mapping, currency_column="currency" in mapping.fields)

    reasons: dict[int, list[str]] = {}

    def reject(rows: pl.DataFrame, make: Any) -> None:
        for row in rows.iter_rows(named=True):
            reasons.setdefault(row["_rn"], []).append(make(row))

    # 1. field values
    look = w.filter(_NEEDS_LOOK)
    fixes: list[dict[str, Any]] = []
    for row in look.iter_rows(named=True):
        why, fixed = _slow_row(row, mapping)
        if why:
            reasons[row["_rn"]] = why
        elif fixed:
            fixes.append({"_rn": row["_rn"], **fixed})
    if fixes:
        fix_schema = {k: w.schema[k] for k in ("_rn", "currency", "unit_amount", *_BOOL_FIELDS)}
        fix_schema |= {k: w.schema[k] for k in ("inventory_quantity", "inventory_policy")}
        w = w.update(pl.DataFrame(fixes, schema=fix_schema), on="_rn", how="left")

    def valid() -> pl.DataFrame:
        return w.filter(pl.col("_rn").is_in(list(reasons)).not_()) if reasons else w

    # 2. variant keys (before choosing product rows, so a rejected row never leads a product)
    is_child = pl.col("_parent").is_not_null()
    w = w.with_columns(
        pl.coalesce("_parent", "_key").alias("_pid"),
        is_child.alias("_child"),
        (is_child | pl.col("r_price").is_not_null() | pl.col("sku").is_not_null()).alias(
            "_variant"
        ),
    ).with_columns(
        pl.when("_variant")
        .then(pl.coalesce("sku", pl.when("_child").then("_key"), "_pid"))
        .alias("_vkey")
    )
    v = rows_where(valid(), "_variant")
    dups = v.filter(pl.col("_vkey").is_first_distinct().not_())
    if dups.height:
        first = v.group_by("_vkey").agg(pl.col("_rn").min().alias("_first"))
        dups = dups.join(first, on="_vkey")

        def dup_reason(r: dict[str, Any]) -> str:
            if r["sku"] is not None:
                return f"sku: {r['sku']!r} is already used on row {r['_first']}"
            if r["_child"]:
                return (
                    f"sku: missing, and this row's key {r['_key']!r} is already a variant key"
                    f" on row {r['_first']}"
                )
            return (
                f"sku: missing, and product {r['_pid']!r} already has a variant without a SKU"
                f" on row {r['_first']}; give each variant a SKU"
            )

        reject(dups, dup_reason)

    # 3. product rows, orphans
    v = valid()
    v = v.with_columns(
        (~pl.col("_child") & pl.struct("_key", "_child").is_first_distinct()).alias("_prow")
    )
    products = rows_where(v, "_prow")
    if mapping.parent_key:
        orphans = v.filter("_child").join(
            products.select("_key"), left_on="_parent", right_on="_key", how="anti"
        )
        reject(
            orphans,
            lambda r: (
                f"parent_external_id: {r['_parent']!r} (column {mapping.parent_key!r})"
                " matches no valid product row in this file"
            ),
        )
        v = v.filter(pl.col("_rn").is_in(orphans["_rn"].to_list()).not_()) if orphans.height else v

    # 4. rows other than the product row: merge, compare, or move to the variant
    others = v.filter(~pl.col("_prow"))
    meta_cols = [c for _, c in plan.meta]
    extra_variant_meta: pl.DataFrame | None = None
    product_additions: pl.DataFrame | None = None
    if others.height:
        attrs = [*_PRODUCT_ATTRS, *meta_cols]
        theirs = _attr_long(others, attrs, ["_rn", "_pid", "_variant"])
        ours = _attr_long(
            products.join(others.select("_pid").unique(), left_on="_key", right_on="_pid"),
            attrs,
            ["_key", "_rn"],
        ).rename({"_key": "_pid", "_rn": "_prn", "value": "_pvalue"})
        cmp = theirs.join(ours, on=["_pid", "attr"], how="left")
        merge = cmp.filter(~pl.col("_variant")).sort("_rn")
        # values the product row lacks: the first later row supplies them
        merge = merge.with_columns(
            pl.col("_pvalue").fill_null(pl.col("value").first().over("_pid", "attr")),
            pl.col("_prn").fill_null(pl.col("_rn").first().over("_pid", "attr")),
        )
        conflicts = merge.filter(pl.col("value") != pl.col("_pvalue"))
        labels = {**plan.labels, **{a: a for a in _PRODUCT_ATTRS}}
        reject(
            conflicts,
            lambda r: (
                f"{labels[r['attr']]}: {r['value']!r} conflicts with {r['_pvalue']!r}"
                f" on row {r['_prn']} for product {r['_pid']!r}"
            ),
        )
        bad = set(conflicts["_rn"].to_list())
        product_additions = (
            cmp.filter(~pl.col("_variant") & pl.col("_pvalue").is_null())
            .filter(pl.col("_rn").is_in(list(bad)).not_())
            .sort("_rn")
            .unique(["_pid", "attr"], keep="first", maintain_order=True)
        )
        meta_names = dict((c, k) for k, c in plan.meta)
        extra_variant_meta = (
            cmp.filter(
                pl.col("_variant")
                & (pl.col("attr") != "active")
                & (pl.col("_pvalue").is_null() | (pl.col("value") != pl.col("_pvalue")))
            )
            .with_columns(pl.col("attr").replace(meta_names).alias("key"))
            .select("_rn", "key", "value")
        )
        if bad:
            others = others.filter(pl.col("_rn").is_in(list(bad)).not_())
        images = (
            pl.concat(
                [
                    products.select("_key", "_rn", "images"),
                    others.select(pl.col("_pid").alias("_key"), "_rn", "images"),
                ]
            )
            .sort("_rn")
            .group_by("_key", maintain_order=True)
            .agg(
                pl.col("images")
                .list.explode(keep_nulls=False, empty_as_null=False)
                .unique(maintain_order=True)
                .alias("_all")
            )
        )
        products = products.join(images, on="_key", how="left").with_columns(
            pl.when(pl.col("images").is_null() & pl.col("_all").list.len().eq(0))
            .then(None)
            .otherwise(pl.col("_all"))
            .alias("images")
        )

    products_out = _products_frame(products, plan, product_additions)
    variant_rows = rows_where(v, pl.col("_variant") & pl.col("_rn").is_in(list(reasons)).not_())
    variants_out = _variants_frame(variant_rows, plan, extra_variant_meta)

    raw = _raw_rows(frame, reasons)
    for rn, why in reasons.items():
        all_rejects[rn] = Reject(rn, raw.get(rn, {}), why)
    in_frame_rejected = sum(1 for rn in reasons)
    batch = ParsedBatch(
        input_name=source,
        rows_read=rows_read,
        products=products_out,
        variants=variants_out,
        rejects=sorted(all_rejects.values(), key=lambda r: r.row_number),
        columns=columns,
        unmapped_columns=unmapped,
        rows_valid=frame.height + skipped_rows - in_frame_rejected,
        stock_only=mapping.stock_only,
    )
    batch.check_reconciles()
    return batch


def _products_frame(
    products: pl.DataFrame, plan: _Plan, additions: pl.DataFrame | None
) -> pl.DataFrame:
    out = products.select(
        pl.col("_rn").alias("row_number"),
        pl.col("_key").alias("external_id"),
        *(pl.col(t) for t in _TEXT_FIELDS),
        *(pl.col(b) for b in _BOOL_FIELDS),
        pl.col("images"),
        _kv(plan.meta).alias("metadata"),
    )
    if additions is not None and additions.height:
        scalars = additions.filter(pl.col("attr").is_in(list(_PRODUCT_ATTRS)))
        if scalars.height:
            wide = scalars.pivot(on="attr", index="_pid", values="value")
            wide = wide.with_columns(
                pl.col(b).is_in(["true"]).alias(b) for b in _BOOL_FIELDS if b in wide.columns
            ).rename({c: f"_add_{c}" for c in wide.columns if c != "_pid"})
            out = out.join(wide, left_on="external_id", right_on="_pid", how="left")
            fill = [c.removeprefix("_add_") for c in wide.columns if c.startswith("_add_")]
            out = out.with_columns(pl.coalesce(c, f"_add_{c}").alias(c) for c in fill).drop(
                [f"_add_{c}" for c in fill]
            )
        meta_names = dict((c, k) for k, c in plan.meta)
        extra = additions.filter(pl.col("attr").is_in(list(meta_names)))
        if extra.height:
            kv = (
                extra.with_columns(pl.col("attr").replace(meta_names).alias("key"))
                .group_by("_pid", maintain_order=True)
                .agg(pl.struct("key", "value").alias("_extra"))
            )
            out = (
                out.join(kv, left_on="external_id", right_on="_pid", how="left")
                .with_columns(
                    pl.concat_list("metadata", pl.col("_extra").fill_null([])).alias("metadata")
                )
                .drop("_extra")
            )
    return out.select(list(PRODUCT_SCHEMA))


def _variants_frame(
    rows: pl.DataFrame, plan: _Plan, extra_meta: pl.DataFrame | None
) -> pl.DataFrame:
    out = rows.select(
        pl.col("_rn").alias("row_number"),
        pl.col("_pid").alias("product_external_id"),
        pl.col("_vkey").alias("variant_key"),
        "sku",
        pl.when(pl.col("unit_amount").is_not_null() | pl.col("r_currency").is_not_null())
        .then(pl.col("currency"))
        .alias("currency"),
        "unit_amount",
        pl.lit(None, dtype=pl.Utf8).alias("nickname"),
        _kv(plan.options).alias("options"),
        pl.lit([], dtype=KV).alias("metadata"),
        "inventory_quantity",
        "inventory_policy",
        "active",
    )
    if extra_meta is not None and extra_meta.height:
        names = extra_meta.filter(pl.col("key") == "name").select(
            pl.col("_rn").alias("row_number"), pl.col("value").alias("_nick")
        )
        kv = (
            extra_meta.filter(pl.col("key") != "name")
            .group_by("_rn", maintain_order=True)
            .agg(pl.struct("key", "value").alias("_meta"))
            .rename({"_rn": "row_number"})
        )
        out = (
            out.join(names, on="row_number", how="left")
            .join(kv, on="row_number", how="left")
            .with_columns(
                pl.col("_nick").alias("nickname"),
                pl.col("_meta").fill_null([]).alias("metadata"),
            )
            .drop("_nick", "_meta")
        )
    return out.select(list(VARIANT_SCHEMA))
