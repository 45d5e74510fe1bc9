"""A small Magento export with every way its rows relate: configurables with their children
and store views, a child far from its configurable, a SKU used twice, bad cells and links."""

from __future__ import annotations

from pathlib import Path

from tests.support.exports import write_csv

HEADER = ["sku", "store_view_code", "product_type", "name", "product_online", "price", "qty",
          "configurable_variations", "color"]  # fmt: skip
Rows = list[list[str]]


def configurable(p: int, *, online: str = "1") -> Rows:
    """Two simple children, then the configurable that names them, and its German name."""
    sku = f"C{p}"
    rows = [
        [f"{sku}-{c}", "", "simple", f"Tee {p} {c}", "1", f"{10 + p}.00", "3", "", c]
        for c in ("red", "blue")
    ]
    variations = "|".join(f"sku={sku}-{c},color={c}" for c in ("red", "blue"))
    rows.append([sku, "", "configurable", f"Tee {p}", online, "", "", variations, ""])
    rows.append([sku, "de", "configurable", f"T-Shirt {p}", "", "", "", "", ""])
    return rows


def magento_export(tmp: Path) -> Path:
    rows: Rows = []
    for p in range(10):
        rows += configurable(p, online="9" if p == 6 else "1")  # C6 rejected, its children too
    rows[9][5] = "x"  # C2-blue's price: that child is rejected alone
    rows[13][6] = "-4"  # C3-blue's stock: read as 0, with a warning
    rows[5][6] = "-2"  # C1-blue's, warned with C1 once its last row is read
    rows.append(rows.pop(4))  # C1-red at the end of the file: C1 waits for it
    rows.insert(20, ["S1", "", "simple", "Mug", "1", "8.00", "5", "", ""])
    rows.insert(22, ["B1", "", "", "Thing", "1", "5.00", "1", "", ""])  # no type
    rows.append(["S1", "", "simple", "Mug again", "1", "9.00", "2", "", ""])  # S1 twice
    rows.append(["S1", "fr", "simple", "Tasse", "", "", "", "", ""])
    rows.append(["", "", "simple", "No SKU", "1", "4.00", "1", "", ""])
    rows.append(["G1", "", "grouped", "Set", "1", "", "", "", ""])
    rows.append(["N1", "", "configurable", "Nothing", "1", "", "", "sku=NOPE,color=red", ""])
    return write_csv(tmp / "magento.csv", HEADER, rows)
