"""Which product each row of a Magento export belongs to (magento_csv/keys.py): a
configurable's children belong to it, as the builder reads its `configurable_variations`."""

from __future__ import annotations

import random

import polars as pl
import pytest

from catalog_pipelines.connectors.magento_csv import keys
from catalog_pipelines.connectors.magento_csv.helpers import parse_variations
from catalog_pipelines.fingerprints import Unskippable
from catalog_pipelines.normalized import ROW_NUMBER

# pieces of cells: plain ones, and each way the builder's reading differs from a plain split
PARTS = ["sku=A{n},size=S", "sku=B{n}", "sku=C{n},color=Light Blue,size=", " sku = D{n} ",
         "color=red,sku=E{n}", "sku=F{n},size=S,size=M", "sku=,size=S", "size=S",
         "sku=G{n},note=a,b", "sku=H{n},note=x=y", "sku=I{n}\u00a0", "", " ", "sku=J{n},=x",
         "sku=K{n},Size=M"]  # fmt: skip


STRINGS = dict.fromkeys(
    ["sku", "store_view_code", "product_type", "configurable_variations"], pl.Utf8
)


def _reference(configurable: pl.DataFrame) -> set[tuple[str, str]] | str:
    """The links as the builder reads each cell, or the first error."""
    links = set()
    for sku, cell in configurable.iter_rows():
        errors: list[str] = []
        children = parse_variations(cell, errors)
        if errors:
            return "error"
        links |= {(child, sku) for child, _ in children}
    return links


def _links(configurable: pl.DataFrame) -> set[tuple[str, str]] | str:
    try:
        return set(keys._links(configurable).iter_rows())
    except Unskippable:
        return "error"


def test_cells_are_read_as_the_builder_reads_them() -> None:
    rng = random.Random(7)
    agreed = {"error": 0, "links": 0}
    for case in range(400):
        cells = []
        for n in range(rng.randint(1, 4)):
            parts = [rng.choice(PARTS).format(n=f"{case}-{n}-{i}") for i in range(3)]
            cells.append("|".join(parts[: rng.randint(1, 3)]))
        cells.append(None)  # a configurable without children
        frame = pl.DataFrame(
            {"sku": [f"P{case}-{i}" for i in range(len(cells))], "configurable_variations": cells},
            schema={"sku": pl.Utf8, "configurable_variations": pl.Utf8},
        )
        expected = _reference(frame)
        assert _links(frame) == expected, cells
        agreed["error" if expected == "error" else "links"] += 1
    assert min(agreed.values()) > 50  # both outcomes were tried


def test_a_child_belongs_to_its_configurable_wherever_it_is() -> None:
    frame = pl.DataFrame(
        {
            ROW_NUMBER: [1, 2, 3, 4, 5],
            "sku": ["T-S", "T", "T", " T-M ", "U"],
            "store_view_code": [None, None, "de", None, None],
            "product_type": ["simple", "configurable", "configurable", "Simple", "simple"],
            "configurable_variations": [None, "sku=T-S,size=S|sku=T-M,size=M", None, None, None],
        },
        schema_overrides=STRINGS,
    )
    key = keys.ConfigurableKey()
    key.prepare([frame[:2], frame[2:]])
    assert frame.select(key.of(frame)).to_series().to_list() == ["T", "T", "T", "T", "U"]


@pytest.mark.parametrize(
    ("kind", "cell", "reason"),
    [
        ("bundle", "sku=T-S", "not a simple product"),
        ("simple", "sku=T-S|sku=T-S", "named by two configurables"),
        ("simple", "sku=T-S|sku=NOPE", "not a simple product"),
        ("simple", "sku=T-S,x=1,x=2", "'x' is given twice"),
    ],
)
def test_links_the_builder_treats_otherwise_are_refused(kind: str, cell: str, reason: str) -> None:
    frame = pl.DataFrame(
        {
            ROW_NUMBER: [1, 2],
            "sku": ["T-S", "T"],
            "store_view_code": [None, None],
            "product_type": [kind, "configurable"],
            "configurable_variations": [None, cell],
        },
        schema_overrides=STRINGS,
    )
    with pytest.raises(Unskippable, match=reason):
        keys.ConfigurableKey().prepare([frame])
