"""A stateful property test of the versioned catalog (docs/concepts.md) on a real PostgreSQL.

A Hypothesis state machine drives one fresh account per example through random imports
(full and incremental, over a small universe of external ids and SKUs), edits (renames,
price changes), archives (full imports that drop products or variants), exact re-imports,
ownership changes of the source, and API-side single-object writes (inventory adjust/set,
product update). It keeps a model of the expected catalog, and after every step checks that
the event log really is the version history:

1. per object, the event versions are exactly 1..N (in sequence order) and the current row's
   `version` is N; every stored object has events and every event has its object;
2. one event per version, and the account's event count is the sum of the current versions;
3. the last event's `data.object` equals product_object/price_object/inventory_item_object of
   the current row (no field excluded: the events are written in the same transaction as the
   row, so even `updated` matches), and walking `previous_attributes` backwards from each
   state rebuilds the previous one (all keys but `version` and `updated`, which
   previous_attributes leaves out by definition); an update event never has empty
   previous_attributes (that would be a no-op that should have been suppressed);
4. re-importing the last applied input, with nothing but writes to non-owned groups since,
   writes nothing (report.events == 0, no new event rows, every row `unchanged`).

Every applied import's report also has to agree with the rows it wrote: report.events equals
the new event rows, and per event type the counts match the report's created/updated/archived.
"""

from __future__ import annotations

import copy
import secrets
from collections import Counter, defaultdict
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from catalog_pipelines.importer import ImportOptions, ImportRefused, ImportReport, import_batch
from catalog_pipelines.store import inventory, objects
from catalog_pipelines.store.errors import Conflict, OwnedBySource
from catalog_pipelines.store.events import Cause
from catalog_pipelines.store.sources import GROUPS, add_source
from tests.support.batches import batch

SOURCE = "shop"
EXTS = tuple("ABCDEFGH")
VARIANTS = ("a", "b")
NAMES = ("Mug", "Cap", "Tee", "Café crème", "Bag")
DESCRIPTIONS = (None, "", "soft", "100% cotton")
META_KEYS = ("brand", "color")
META_VALUES = ("Acme", "red", "ÉLAN")
AMOUNTS = (500, 1000, 1250)
OWNERSHIPS = (
    frozenset(GROUPS),
    frozenset({"content", "pricing"}),
    frozenset({"pricing", "inventory"}),
    frozenset({"content"}),
    frozenset(),
)
API = Cause(request_id="req_stateful")
# previous_attributes() leaves these out: they change on every version.
BOOKKEEPING = ("version", "updated")

variant_st = st.fixed_dictionaries(
    {"amount": st.sampled_from(AMOUNTS), "qty": st.integers(min_value=0, max_value=9)}
)
product_st = st.fixed_dictionaries(
    {
        "name": st.sampled_from(NAMES),
        "description": st.sampled_from(DESCRIPTIONS),
        "metadata": st.dictionaries(
            st.sampled_from(META_KEYS), st.sampled_from(META_VALUES), max_size=2
        ),
        "active": st.sampled_from([None, None, None, True, False]),
        "variants": st.dictionaries(st.sampled_from(VARIANTS), variant_st, min_size=1, max_size=2),
    }
)
catalog_st = st.dictionaries(st.sampled_from(EXTS), product_st, max_size=len(EXTS))
modes = st.sampled_from(["full", "incremental"])


def sku_of(ext: str, variant: str) -> str:
    return f"SKU-{ext}-{variant}"


def to_batch(catalog: dict[str, dict[str, Any]]) -> Any:
    products, variants = [], []
    for ext, p in catalog.items():
        products.append(
            {
                "external_id": ext,
                "name": p["name"],
                "description": p["description"],
                "metadata": p["metadata"],
                "active": p["active"],
            }
        )
        for v, spec in p["variants"].items():
            sku = sku_of(ext, v)
            variants.append(
                {
                    "product_external_id": ext,
                    "variant_key": sku,
                    "sku": sku,
                    "currency": "usd",
                    "unit_amount": spec["amount"],
                    "inventory_quantity": spec["qty"],
                }
            )
    return batch(products, variants)


def _without(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


class CatalogMachine(RuleBasedStateMachine):
    engine: sa.Engine  # set by the test, from the session fixture

    def __init__(self) -> None:
        super().__init__()
        self.account = f"acct_{secrets.token_hex(6)}"
        with self.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO accounts (id) VALUES (:a)"), {"a": self.account})
        self.owns: frozenset[str] = frozenset(GROUPS)  # what a first import creates
        # The model: what the catalog must hold.
        self.products: dict[str, dict[str, Any]] = {}  # ext -> name, description, metadata, active
        self.prices: dict[str, dict[str, Any]] = {}  # sku -> current price's amount, active
        self.stock: dict[str, int] = {}  # sku -> quantity
        self.last_input: tuple[dict[str, dict[str, Any]], str] | None = None
        # True while only no-op-safe writes (API writes to groups the source does not own)
        # happened since last_input was applied: re-importing it must then write nothing.
        self.clean = False

    # ------------------------------------------------------------------ helpers

    def _options(self, mode: str, allow: bool = False) -> ImportOptions:
        return ImportOptions(
            source=SOURCE, account_id=self.account, mode=mode, allow_mass_archive=allow
        )  # type: ignore[arg-type]

    def _event_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM events WHERE account_id = :a"), {"a": self.account}
            ).scalar_one()

    def _product_id(self, ext: str) -> str:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT id FROM products WHERE account_id = :a AND external_id = :e"),
                {"a": self.account, "e": ext},
            ).scalar_one()

    def _would_refuse(self, catalog: dict[str, Any], mode: str, allow: bool) -> bool:
        if allow or mode != "full" or not catalog or "content" not in self.owns:
            return False
        active = [e for e, p in self.products.items() if p["active"]]
        archived = [e for e in active if e not in catalog]
        return bool(active) and len(archived) / len(active) > 0.2

    def _import(self, catalog: dict[str, Any], mode: str, allow: bool) -> ImportReport | None:
        refuse = self._would_refuse(catalog, mode, allow)
        before = self._event_count()
        try:
            report = import_batch(self.engine, to_batch(catalog), self._options(mode, allow))
        except ImportRefused:
            assert refuse, "refused an import the guard should have let through"
            assert self._event_count() == before, "a refused import wrote events"
            return None
        assert not refuse, "the mass-archive guard let through an import it should refuse"
        written = self._event_count() - before
        assert report.events == written, (report.events, written)
        self._check_report_against_run(report, catalog)
        self._apply_to_model(catalog, mode)
        self.last_input = (copy.deepcopy(catalog), mode)
        self.clean = True
        if "pricing" in self.owns:
            self._check_default_prices(catalog)
        return report

    def _check_report_against_run(self, report: ImportReport, catalog: dict[str, Any]) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT type, count(*) AS n FROM events WHERE account_id = :a AND run_id = :r"
                    " GROUP BY type"
                ),
                {"a": self.account, "r": report.run_id},
            ).all()
        by_type = Counter({r.type: r.n for r in rows})
        p, pr, inv = report.products, report.prices, report.inventory_items
        expected = Counter(
            {
                "product.created": p.created,
                "product.updated": p.updated + p.archived,
                "price.created": pr.created,
                "price.updated": pr.updated + pr.archived,
                "inventory_item.created": inv.created,
                "inventory_item.updated": inv.updated,
            }
        )
        assert +by_type == +expected, (dict(by_type), report.to_json())
        n_variants = sum(len(x["variants"]) for x in catalog.values())
        assert p.created + p.updated + p.unchanged == len(catalog)
        assert pr.created + pr.updated + pr.unchanged == n_variants
        assert inv.created + inv.updated + inv.unchanged == n_variants
        assert inv.archived == 0

    def _apply_to_model(self, catalog: dict[str, Any], mode: str) -> None:
        owns = self.owns
        for ext, p in catalog.items():
            if ext not in self.products or "content" in owns:
                # A new product is created from the file even when content is not owned.
                self.products[ext] = {
                    "name": p["name"],
                    "description": p["description"],
                    "metadata": dict(p["metadata"]),
                    "active": p["active"] is not False,
                }
            for v, spec in p["variants"].items():
                sku = sku_of(ext, v)
                if "pricing" in owns:
                    self.prices[sku] = {"amount": spec["amount"], "active": True}
                if sku not in self.stock or "inventory" in owns:
                    # docs/ownership.md: a new SKU starts from the file's quantity, whoever owns it.
                    self.stock[sku] = spec["qty"]
        if mode == "full" and catalog:  # an empty file never archives
            skus = {sku_of(e, v) for e, p in catalog.items() for v in p["variants"]}
            if "content" in owns:
                for ext, prod in self.products.items():
                    if ext not in catalog:
                        prod["active"] = False
            if "pricing" in owns:
                for sku, price in self.prices.items():
                    if sku not in skus:
                        price["active"] = False

    def _check_default_prices(self, catalog: dict[str, Any]) -> None:
        """After an import that owns pricing, every imported product points at one of its
        current, active prices (docs/concepts.md: `product.default_price` follows)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT p.external_id, p.default_price, pr.product_id, pr.active,"
                    " pr.replaced_by FROM products p"
                    " LEFT JOIN prices pr ON pr.id = p.default_price"
                    " WHERE p.account_id = :a AND p.external_id = ANY(:e)"
                ),
                {"a": self.account, "e": list(catalog)},
            ).all()
        pids = {r.external_id: r for r in rows}
        for ext in catalog:
            r = pids[ext]
            assert r.default_price is not None, f"{ext}: no default_price"
            assert r.active and r.replaced_by is None, (
                f"{ext}: default_price {r.default_price} is not an active current price"
                f" (active={r.active}, replaced_by={r.replaced_by})"
            )

    # ------------------------------------------------------------------ rules

    @rule(catalog=catalog_st, mode=modes, allow=st.booleans())
    def import_catalog(self, catalog: dict[str, Any], mode: str, allow: bool) -> None:
        self._import(catalog, mode, allow)

    @precondition(lambda self: self.last_input is not None and self.last_input[0])
    @rule(data=st.data(), mode=modes)
    def edit(self, data: st.DataObject, mode: str) -> None:
        """Rename products, change descriptions, metadata and prices of the last input."""
        assert self.last_input is not None
        catalog = copy.deepcopy(self.last_input[0])
        exts = data.draw(
            st.lists(st.sampled_from(sorted(catalog)), min_size=1, unique=True), label="edited"
        )
        for ext in exts:
            p = catalog[ext]
            what = data.draw(st.sampled_from(["name", "description", "metadata", "price", "qty"]))
            if what == "name":
                p["name"] = data.draw(st.sampled_from(NAMES))
            elif what == "description":
                p["description"] = data.draw(st.sampled_from(DESCRIPTIONS))
            elif what == "metadata":
                p["metadata"][data.draw(st.sampled_from(META_KEYS))] = data.draw(
                    st.sampled_from(META_VALUES)
                )
            else:
                v = data.draw(st.sampled_from(sorted(p["variants"])))
                key = "amount" if what == "price" else "qty"
                new = data.draw(st.sampled_from(AMOUNTS) if key == "amount" else st.integers(0, 9))
                p["variants"][v][key] = new
        self._import(catalog, mode, allow=True)

    @precondition(lambda self: self.last_input is not None and self.last_input[0])
    @rule(data=st.data())
    def archive(self, data: st.DataObject) -> None:
        """A full import of the last input minus some products and/or variants."""
        assert self.last_input is not None
        catalog = copy.deepcopy(self.last_input[0])
        drop = data.draw(
            st.lists(st.sampled_from(sorted(catalog)), max_size=len(catalog) - 1, unique=True),
            label="dropped products",
        )
        for ext in drop:
            del catalog[ext]
        for p in catalog.values():
            if len(p["variants"]) > 1 and data.draw(st.booleans(), label="drop a variant"):
                del p["variants"][data.draw(st.sampled_from(sorted(p["variants"])))]
        self._import(catalog, "full", allow=True)

    @precondition(lambda self: self.last_input is not None and self.clean)
    @rule()
    def reimport_same(self) -> None:
        """Invariant 4: the identical input again writes nothing at all."""
        assert self.last_input is not None
        catalog, mode = self.last_input
        before = self._event_count()
        report = import_batch(self.engine, to_batch(catalog), self._options(mode))
        assert report.events == 0, report.to_json()
        assert self._event_count() == before
        n_variants = sum(len(p["variants"]) for p in catalog.values())
        counts = report.to_json()
        assert counts["products"] == {
            "created": 0,
            "updated": 0,
            "unchanged": len(catalog),
            "archived": 0,
        }, counts
        for kind in ("prices", "inventory_items"):
            assert counts[kind] == {
                "created": 0,
                "updated": 0,
                "unchanged": n_variants,
                "archived": 0,
            }, counts

    @initialize(owns=st.sampled_from((None, None, *OWNERSHIPS)))
    def define_source(self, owns: frozenset[str] | None) -> None:
        """Mostly let the first import create the source (a mirror); else define it first."""
        if owns is not None:
            self.change_ownership(owns)

    @precondition(lambda self: self.last_input is not None)
    @rule(owns=st.sampled_from(OWNERSHIPS))
    def change_ownership(self, owns: frozenset[str]) -> None:
        with self.engine.begin() as conn:
            add_source(conn, account_id=self.account, name=SOURCE, kind="csv", owns=owns)
        if owns != self.owns:
            self.clean = False
        self.owns = owns

    @precondition(lambda self: self.products)
    @rule(data=st.data())
    def api_update_product(self, data: st.DataObject) -> None:
        ext = data.draw(st.sampled_from(sorted(self.products)), label="product")
        params = data.draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": st.sampled_from(NAMES),
                    "description": st.sampled_from(DESCRIPTIONS),
                    "active": st.booleans(),
                },
            ),
            label="params",
        )
        product_id = self._product_id(ext)
        before = self._event_count()
        if params and "content" in self.owns:
            with pytest.raises(OwnedBySource), self.engine.begin() as conn:
                objects.update_product(conn, self.account, product_id, params, API)
            assert self._event_count() == before
            return
        with self.engine.begin() as conn:
            objects.update_product(conn, self.account, product_id, params, API)
        model = self.products[ext]
        new = dict(model)
        if "name" in params:
            new["name"] = params["name"]
        if "description" in params:
            new["description"] = params["description"] or None  # "" unsets, as at Stripe
        if "active" in params:
            new["active"] = params["active"]
        self.products[ext] = new
        assert self._event_count() - before == (1 if new != model else 0)

    @precondition(lambda self: self.stock)
    @rule(data=st.data())
    def api_inventory(self, data: st.DataObject) -> None:
        sku = data.draw(st.sampled_from(sorted(self.stock)), label="sku")
        current = self.stock[sku]
        owned = "inventory" in self.owns
        before = self._event_count()
        if data.draw(st.booleans(), label="adjust (else set)"):
            delta = data.draw(st.integers(-4, 4).filter(bool), label="delta")
            expected_error = OwnedBySource if owned else Conflict if current + delta < 0 else None
            call = lambda conn: inventory.adjust(conn, self.account, sku, delta, cause=API)  # noqa: E731
            after = current + delta
        else:
            quantity = data.draw(st.integers(0, 9), label="quantity")
            expected = data.draw(st.none() | st.integers(0, 9), label="expected_quantity")
            mismatch = expected is not None and expected != current
            expected_error = OwnedBySource if owned else Conflict if mismatch else None
            call = lambda conn: inventory.set_quantity(  # noqa: E731
                conn, self.account, sku, quantity, expected_quantity=expected, cause=API
            )
            after = quantity
        if expected_error is not None:
            with pytest.raises(expected_error), self.engine.begin() as conn:
                call(conn)
            assert self._event_count() == before
            return
        with self.engine.begin() as conn:
            obj = call(conn)
        assert obj["quantity"] == after
        self.stock[sku] = after
        assert self._event_count() - before == (1 if after != current else 0)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def event_log_is_the_version_history(self) -> None:
        with self.engine.connect() as conn:
            events = conn.execute(
                sa.text(
                    "SELECT e.sequence, e.type, e.object_type, e.object_id, e.object_version,"
                    " event_data(e) AS data FROM events e"
                    " WHERE e.account_id = :a AND e.object_type <> 'source' ORDER BY e.sequence"
                ),
                {"a": self.account},
            ).all()
            current: dict[str, tuple[str, int, dict[str, Any]]] = {}
            for object_type, table, fn in (
                ("product", "products", "product_object"),
                ("price", "prices", "price_object"),
                ("inventory_item", "inventory_items", "inventory_item_object"),
            ):
                for r in conn.execute(
                    sa.text(
                        f"SELECT id, version, {fn}(t) AS obj FROM {table} t WHERE account_id = :a"
                    ),  # noqa: S608
                    {"a": self.account},
                ):
                    current[r.id] = (object_type, r.version, r.obj)
        by_object: dict[str, list[Any]] = defaultdict(list)
        for e in events:
            by_object[e.object_id].append(e)
        assert set(by_object) == set(current), (
            f"objects without events or events without objects: {set(by_object) ^ set(current)}"
        )
        # (2) one event per version, and nothing else in the log.
        assert len(events) == sum(version for _, version, _ in current.values())
        for object_id, evs in by_object.items():
            object_type, version, obj = current[object_id]
            # (1) contiguous versions, in sequence order, ending at the row's version.
            assert [e.object_version for e in evs] == list(range(1, len(evs) + 1)), (
                object_id,
                [e.object_version for e in evs],
            )
            assert version == len(evs), (object_id, version, len(evs))
            assert {e.object_type for e in evs} == {object_type}
            assert evs[0].type == f"{object_type}.created", (object_id, evs[0].type)
            assert "previous_attributes" not in evs[0].data
            assert all(e.type == f"{object_type}.updated" for e in evs[1:]), object_id
            for e in evs:
                assert e.data["object"]["id"] == object_id
                assert e.data["object"]["version"] == e.object_version
            # (3) the last event is the current row, field for field.
            assert evs[-1].data["object"] == obj, (object_id, evs[-1].data["object"], obj)
            # ... and previous_attributes walks back through every earlier state.
            for older, newer in zip(evs, evs[1:], strict=False):
                prev = newer.data["previous_attributes"]
                old_state, new_state = older.data["object"], newer.data["object"]
                assert prev, f"{object_id} v{newer.object_version}: an update that changes nothing"
                for key, value in prev.items():
                    assert new_state[key] != value, (object_id, newer.object_version, key)
                rebuilt = {**new_state, **prev}
                assert _without(rebuilt, BOOKKEEPING) == _without(old_state, BOOKKEEPING), (
                    object_id,
                    newer.object_version,
                    prev,
                    old_state,
                    new_state,
                )

    @invariant()
    def catalog_matches_the_model(self) -> None:
        with self.engine.connect() as conn:
            products = conn.execute(
                sa.text(
                    "SELECT external_id, name, description, metadata, active, source"
                    " FROM products WHERE account_id = :a"
                ),
                {"a": self.account},
            ).all()
            prices = conn.execute(
                sa.text(
                    "SELECT variant_key, unit_amount, active FROM prices"
                    " WHERE account_id = :a AND replaced_by IS NULL"
                ),
                {"a": self.account},
            ).all()
            retired_ok = conn.execute(
                sa.text(
                    "SELECT bool_and(NOT o.active AND o.lookup_key IS NULL"
                    " AND n.variant_key = o.variant_key)"
                    " FROM prices o JOIN prices n ON n.id = o.replaced_by WHERE o.account_id = :a"
                ),
                {"a": self.account},
            ).scalar_one()
            # Every reference points at an object of this account (the schema no longer
            # enforces it with foreign keys, so the writers must).
            dangling = conn.execute(
                sa.text(
                    "SELECT 'price.product' AS ref, pr.id FROM prices pr WHERE pr.account_id = :a"
                    " AND NOT EXISTS (SELECT 1 FROM products p WHERE p.id = pr.product_id"
                    " AND p.account_id = :a)"
                    " UNION ALL SELECT 'price.replaced_by', pr.id FROM prices pr"
                    " WHERE pr.account_id = :a AND pr.replaced_by IS NOT NULL AND NOT EXISTS"
                    " (SELECT 1 FROM prices n WHERE n.id = pr.replaced_by AND n.account_id = :a)"
                    " UNION ALL SELECT 'product.default_price', p.id FROM products p"
                    " WHERE p.account_id = :a AND p.default_price IS NOT NULL AND NOT EXISTS"
                    " (SELECT 1 FROM prices pr WHERE pr.id = p.default_price"
                    " AND pr.product_id = p.id AND pr.account_id = :a)"
                    " UNION ALL SELECT 'inventory_item.product', i.id FROM inventory_items i"
                    " WHERE i.account_id = :a AND NOT EXISTS (SELECT 1 FROM products p"
                    " WHERE p.id = i.product_id AND p.account_id = :a)"
                    " UNION ALL SELECT 'inventory_item.price', i.id FROM inventory_items i"
                    " WHERE i.account_id = :a AND i.price_id IS NOT NULL AND NOT EXISTS"
                    " (SELECT 1 FROM prices pr WHERE pr.id = i.price_id"
                    " AND pr.product_id = i.product_id AND pr.account_id = :a)"
                ),
                {"a": self.account},
            ).all()
            stock = conn.execute(
                sa.text(
                    "SELECT i.sku, i.quantity, coalesce(sum(l.delta), 0) AS ledger_sum,"
                    " (array_agg(l.quantity_after ORDER BY l.id DESC))[1] AS ledger_last"
                    " FROM inventory_items i"
                    " LEFT JOIN inventory_adjustments l ON l.inventory_item_id = i.id"
                    " WHERE i.account_id = :a GROUP BY i.sku, i.quantity"
                ),
                {"a": self.account},
            ).all()
        assert not dangling, f"dangling references: {dangling}"
        assert {
            r.external_id: {
                "name": r.name,
                "description": r.description,
                "metadata": r.metadata,
                "active": r.active,
            }
            for r in products
        } == self.products
        assert all(r.source == SOURCE for r in products)
        assert {r.variant_key: {"amount": r.unit_amount, "active": r.active} for r in prices} == (
            self.prices
        )
        assert retired_ok in (None, True), "a replaced price is still active or kept its key"
        assert {r.sku: r.quantity for r in stock} == self.stock
        for r in stock:  # the ledger adds up to the stock (docs/concepts.md)
            assert (r.ledger_sum, r.ledger_last) == (r.quantity, r.quantity), r


SETTINGS = settings(
    max_examples=25,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_catalog_state_machine(engine: sa.Engine) -> None:
    machine = type("BoundCatalogMachine", (CatalogMachine,), {"engine": engine})
    run_state_machine_as_test(machine, settings=SETTINGS)


# ---------------------------------------------------------------------- pinned examples


def _variant(ext: str, v: str, amount: int) -> dict[str, Any]:
    sku = sku_of(ext, v)
    return {
        "product_external_id": ext,
        "variant_key": sku,
        "sku": sku,
        "currency": "usd",
        "unit_amount": amount,
        "inventory_quantity": 1,
    }


def test_relisted_product_never_keeps_an_archived_default_price(
    engine: sa.Engine, account: str
) -> None:
    """Found by the state machine: a product archived by a full import (its price SKU-C-a
    archived with it) came back with another variant only, and kept the archived price as
    its default_price. Fixed in diff.plan_import (a kept default must still be live)."""
    full = ImportOptions(source=SOURCE, account_id=account, allow_mass_archive=True)
    two = [{"external_id": "C", "name": "C"}, {"external_id": "X", "name": "X"}]
    import_batch(engine, batch(two, [_variant("C", "a", 1000), _variant("X", "a", 1000)]), full)
    import_batch(engine, batch(two[1:], [_variant("X", "a", 1000)]), full)  # archives C
    import_batch(
        engine,
        batch(two[:1], [_variant("C", "b", 1000)]),
        ImportOptions(source=SOURCE, account_id=account, mode="incremental"),
    )
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT p.active, pr.lookup_key, pr.active AS price_active FROM products p"
                " JOIN prices pr ON pr.id = p.default_price"
                " WHERE p.account_id = :a AND p.external_id = 'C'"
            ),
            {"a": account},
        ).one()
    assert (row.active, row.lookup_key, row.price_active) == (True, "SKU-C-b", True)


def test_relisting_an_archived_product_as_inactive_writes_nothing(
    engine: sa.Engine, account: str
) -> None:
    full = ImportOptions(source=SOURCE, account_id=account, allow_mass_archive=True)
    x = {"external_id": "X", "name": "X"}
    y = {"external_id": "Y", "name": "Y"}
    import_batch(engine, batch([x, y]), full)
    import_batch(engine, batch([y]), full)  # X archived: active=false
    report = import_batch(engine, batch([{**x, "active": False}, y]), full)
    with engine.connect() as conn:
        empty = conn.execute(
            sa.text(
                "SELECT count(*) FROM events e WHERE account_id = :a AND run_id = :r"
                " AND type = 'product.updated'"
                " AND event_previous_attributes(e)::jsonb = '{}'"
            ),
            {"a": account, "r": report.run_id},
        ).scalar_one()
    # X is already inactive with that very content: its product must not get a new version.
    assert (report.products.updated, empty) == (0, 0), report.to_json()
