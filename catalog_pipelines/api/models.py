"""The API's shapes as pydantic models: request bodies (validated on every write) and the
Stripe-shaped objects it returns (documented; handlers return the store's dicts unvalidated,
and the schemathesis run in the tests checks every response against these).

The OpenAPI document is generated from these classes (api/openapi.py), so what is documented
and what is enforced cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from catalog_pipelines.connectors.registry import KINDS
from catalog_pipelines.money import CURRENCIES

MAX_AMOUNT = 99_999_999  # Stripe's unit_amount ceiling
MAX_QUANTITY = 10**12


Text = Annotated[str, Field(max_length=5000)]
Note = Annotated[str, Field(max_length=500)]
# Keys as Stripe bounds them; "" clears all metadata, a value "" removes its key.
Metadata = (
    dict[Annotated[str, Field(min_length=1, max_length=40)], Annotated[str, Field(max_length=500)]]
    | Literal[""]
)


def _iso_currency(value: str) -> str:
    if value.lower() not in CURRENCIES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


# ISO 4217 codes, either case (the document lists them, the validator enforces them)
Currency = Annotated[
    str,
    AfterValidator(_iso_currency),
    Field(json_schema_extra={"enum": sorted({*CURRENCIES, *(c.upper() for c in CURRENCIES)})}),
]


class Body(BaseModel):
    """Unknown parameters are refused, as Stripe does; so is an explicit JSON null (the
    document calls these fields optional, not nullable)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if value is None:
                    raise ValueError(f"{key}: null is not allowed; send an empty string to clear")
        return data


# --------------------------------------------------------------------------- request bodies


class PackageDimensions(Body):
    height: Annotated[float, Field(gt=0, le=1e6)]
    length: Annotated[float, Field(gt=0, le=1e6)]
    weight: Annotated[float, Field(gt=0, le=1e6)]
    width: Annotated[float, Field(gt=0, le=1e6)]


class Recurring(Body):
    interval: Literal["day", "week", "month", "year"]
    interval_count: Annotated[int, Field(ge=1, le=365)] | None = None


class _Amount(Body):
    """A price needs `unit_amount` or `unit_amount_decimal`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [{"required": ["unit_amount"]}, {"required": ["unit_amount_decimal"]}]
        },
    )

    @model_validator(mode="after")
    def _needs_amount(self) -> _Amount:
        if getattr(self, "unit_amount", None) is None and (
            getattr(self, "unit_amount_decimal", None) is None
        ):
            raise ValueError("unit_amount: Missing required param")
        return self


class PriceData(_Amount):
    currency: Currency
    unit_amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None
    # whole minor units: sub-cent prices are not supported
    unit_amount_decimal: Annotated[str, Field(pattern=r"^0*\d{1,8}(\.0{1,12})?$")] | None = None
    recurring: Recurring | None = None
    metadata: Metadata | None = None
    nickname: Text | None = None
    lookup_key: Annotated[str, Field(max_length=200)] | None = None


class ProductContent(Body):
    description: Text | None = None
    active: bool | None = None
    images: Annotated[list[Annotated[str, Field(max_length=2000)]], Field(max_length=8)] | None = (
        None
    )
    metadata: Metadata | None = None
    url: Text | None = None
    shippable: bool | Literal[""] | None = None  # "" clears it, as Stripe's clients send
    tax_code: Annotated[str, Field(max_length=100)] | None = None
    unit_label: Annotated[str, Field(max_length=12)] | None = None
    package_dimensions: PackageDimensions | None = None


class ProductCreate(ProductContent):
    name: Annotated[str, Field(min_length=1, max_length=5000)]
    default_price_data: PriceData | None = None


class ProductUpdate(ProductContent):
    name: Annotated[str, Field(min_length=1, max_length=5000)] | None = None
    default_price: Annotated[str, Field(max_length=255)] | None = None


class ProductData(Body):
    """`product_data` on price create: the product made for the price."""

    name: Annotated[str, Field(min_length=1, max_length=5000)]
    active: bool | None = None
    metadata: Metadata | None = None
    tax_code: Annotated[str, Field(max_length=100)] | None = None
    unit_label: Annotated[str, Field(max_length=12)] | None = None


class PriceUpdate(Body):
    active: bool | None = None
    nickname: Text | None = None
    lookup_key: Annotated[str, Field(max_length=200)] | None = None
    transfer_lookup_key: bool | None = None
    metadata: Metadata | None = None


class PriceCreate(_Amount):
    """Exactly one of `product` and `product_data`; `unit_amount` or `unit_amount_decimal`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                {"oneOf": [{"required": ["product"]}, {"required": ["product_data"]}]},
                {"anyOf": [{"required": ["unit_amount"]}, {"required": ["unit_amount_decimal"]}]},
            ]
        },
    )
    product: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    product_data: ProductData | None = None
    currency: Currency
    unit_amount: Annotated[int, Field(ge=0, le=MAX_AMOUNT)] | None = None
    # whole minor units: sub-cent prices are not supported
    unit_amount_decimal: Annotated[str, Field(pattern=r"^0*\d{1,8}(\.0{1,12})?$")] | None = None
    recurring: Recurring | None = None
    active: bool | None = None
    nickname: Text | None = None
    lookup_key: Annotated[str, Field(max_length=200)] | None = None
    transfer_lookup_key: bool | None = None
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _one_product(self) -> PriceCreate:
        if self.product is None and self.product_data is None:
            raise ValueError("product: Missing required param")
        if self.product is not None and self.product_data is not None:
            raise ValueError("product_data: give only one of product and product_data")
        return self


class InventoryAdjust(Body):
    delta: Annotated[
        int, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY, json_schema_extra={"not": {"const": 0}})
    ]
    reason: Note | None = None
    reference: Note | None = None


class InventorySet(Body):
    quantity: Annotated[int, Field(ge=0, le=MAX_QUANTITY)]
    expected_quantity: Annotated[int, Field(ge=0, le=MAX_QUANTITY)] | None = None
    reason: Note | None = None
    reference: Note | None = None


EventPattern = Annotated[str, Field(min_length=1, max_length=100)]


WebhookUrl = Annotated[str, Field(max_length=2048, pattern=r"^https?://[^/?#\s]+")]


class WebhookEndpointUpdate(Body):
    url: WebhookUrl | None = None
    enabled_events: Annotated[list[EventPattern], Field(min_length=1)] | None = None
    description: Text | None = None
    skip_sources: list[Annotated[str, Field(max_length=64)]] | None = None
    metadata: Metadata | None = None
    disabled: bool | None = None


class WebhookEndpointCreate(Body):
    url: WebhookUrl
    enabled_events: Annotated[list[EventPattern], Field(min_length=1)]
    description: Text | None = None
    skip_sources: list[Annotated[str, Field(max_length=64)]] | None = None
    metadata: Metadata | None = None
    api_version: Annotated[str, Field(max_length=100)] | None = None


UnixTime = Annotated[int, Field(ge=0, le=253_402_300_799)]  # up to 9999-12-31


class ReplayRange(Body):
    """Unix seconds; `gte`/`gt` start the range, `lte`/`lt` end it (default: now)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": ["gte"]}, {"required": ["gt"]}]},
    )

    gte: UnixTime | None = None
    gt: UnixTime | None = None
    lte: UnixTime | None = None
    lt: UnixTime | None = None


EventId = Annotated[str, Field(min_length=1, max_length=100)]


class WebhookReplayCreate(Body):
    """A time range (`created[...]`) or an event range (`from_event`, `to_event`), not both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["created"],
                    "not": {"anyOf": [{"required": ["from_event"]}, {"required": ["to_event"]}]},
                },
                {"required": ["from_event"], "not": {"required": ["created"]}},
            ]
        },
    )

    created: ReplayRange | None = None
    from_event: EventId | None = None
    to_event: EventId | None = None


SOURCE_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Group = Literal["content", "pricing", "inventory"]
SourceKind = Annotated[str, Field(pattern=f"^({'|'.join(KINDS)})$")]
# A mapping as an object (the YAML file's shape) or as the YAML/JSON text of one.
MappingDoc = dict[str, Any] | Annotated[str, Field(max_length=65536)]
SourceConfig = dict[str, Annotated[str, Field(max_length=2048)]]


class SourceUpdate(Body):
    kind: SourceKind | None = None
    owns: list[Group] | None = None  # form bodies may also send owns=content,pricing
    mapping: MappingDoc | None = None
    config: SourceConfig | None = None
    active: bool | None = None


class SourceCreate(Body):
    name: Annotated[str, Field(pattern=SOURCE_NAME)]
    kind: SourceKind
    owns: list[Group] | None = None
    mapping: MappingDoc | None = None
    config: SourceConfig | None = None


Cell = str | int | float | bool | None


class MappingSuggestionRequest(Body):
    """An uploaded file (`file`, from POST /v1/files), or a sample of one: its `columns` and
    some `rows` (objects or lists of cells)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["columns"]}, {"required": ["file"]}]},
    )
    columns: (
        Annotated[
            list[Annotated[str, Field(min_length=1, max_length=255)]],
            Field(min_length=1, max_length=500, json_schema_extra={"uniqueItems": True}),
        ]
        | None
    ) = None
    rows: Annotated[list[dict[str, Cell] | list[Cell]], Field(max_length=1000)] | None = None
    file: Annotated[str, Field(pattern=r"^file_[A-Za-z0-9]{1,64}$")] | None = None
    source: Annotated[str, Field(max_length=64)] | None = None

    @model_validator(mode="after")
    def _file_or_sample(self) -> MappingSuggestionRequest:
        if self.file is None and self.columns is None:
            raise ValueError("columns: Missing required param")
        if self.file is not None and (self.columns is not None or self.rows is not None):
            raise ValueError("file: give either file or columns and rows, not both")
        return self


# --------------------------------------------------------------------------- returned objects


class Obj(BaseModel):
    """Returned objects may carry more keys than documented (Stripe adds fields over time)."""

    model_config = ConfigDict(extra="allow")


class ErrorDetail(Obj):
    type: str
    message: str
    code: str | None = None
    param: str | None = None


class Error(Obj):
    error: ErrorDetail


class Product(Obj):
    id: str
    object: Literal["product"]
    active: bool
    name: str | None = None
    description: str | None = None
    images: list[str]
    metadata: dict[str, str]
    url: str | None = None
    shippable: bool | None = None
    tax_code: str | None = None
    unit_label: str | None = None
    package_dimensions: dict[str, Any] | None = None
    default_price: str | None = None
    created: int
    updated: int
    livemode: bool | None = None
    version: Annotated[int, Field(ge=1)] | None = None
    source: str | None = None
    external_id: str | None = None


class Price(Obj):
    id: str
    object: Literal["price"]
    product: str
    active: bool
    currency: Annotated[str, Field(pattern=r"^[a-z]{3}$")]
    unit_amount: int | None = None
    unit_amount_decimal: str | None = None
    type: Literal["one_time", "recurring"]
    recurring: dict[str, Any] | None = None
    lookup_key: str | None = None
    nickname: str | None = None
    metadata: dict[str, str]
    billing_scheme: str | None = None
    tax_behavior: str | None = None
    livemode: bool | None = None
    created: int | None = None
    version: Annotated[int, Field(ge=1)] | None = None
    source: str | None = None


class InventoryItem(Obj):
    id: str
    object: Literal["inventory_item"]
    sku: str
    product: str
    price: str | None = None
    quantity: Annotated[int, Field(ge=0)]
    policy: Literal["deny", "continue"]
    version: Annotated[int, Field(ge=1)]
    created: int | None = None
    updated: int | None = None
    source: str | None = None


class EventData(Obj):
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None


class EventRequest(Obj):
    id: str | None = None
    idempotency_key: str | None = None


class Event(Obj):
    id: str
    object: Literal["event"]
    type: str
    api_version: str | None = None
    created: int
    data: EventData
    livemode: bool | None = None
    pending_webhooks: int | None = None
    request: EventRequest
    sequence: int
    object_version: int | None = None
    source: str | None = None
    run_id: str | None = None
    account: str | None = None


class Change(Obj):
    object: Literal["change"]
    sequence: int
    event: str
    type: str
    object_type: Literal["product", "price", "inventory_item", "source"]
    object_id: str
    version: int | None = None
    created: int | None = None
    deleted: bool
    archived: bool | None = None
    data: dict[str, Any] | None = None


class ProductVersion(Obj):
    object: Literal["product_version"]
    version: int
    created: int
    event: str
    sequence: int | None = None
    source: str | None = None
    run_id: str | None = None
    previous_attributes: dict[str, Any] | None = None
    product: Product


class WebhookEndpoint(Obj):
    id: str
    object: Literal["webhook_endpoint"]
    url: str
    enabled_events: list[str]
    status: Literal["enabled", "disabled"]
    created: int
    secret: str | None = None
    description: str | None = None


class DeletedObject(Obj):
    id: str
    object: str
    deleted: Literal[True]


class WebhookDelivery(Obj):
    id: str
    object: Literal["webhook_delivery"]
    endpoint: str | None = None  # the webhook_endpoint told
    event: str
    event_type: str | None = None
    object_id: str | None = None  # the object the event is about
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    attempt_log: list[dict[str, Any]] | None = None


class WebhookReplay(Obj):
    id: str
    object: Literal["webhook_replay"]
    endpoint: str
    deliveries: Annotated[int, Field(ge=0)]
    from_sequence: int | None = None
    to_sequence: int | None = None
    since: int | None = None
    until: int | None = None


class IncomingResult(Obj):
    object: Literal["incoming_webhook"]
    webhook_id: str
    topic: str
    duplicate: bool
    applied: list[Any] | None = None
    skipped: list[Any] | None = None


class Source(Obj):
    id: str
    object: Literal["source"]
    account: str | None = None
    name: str
    kind: str
    owns: list[Group]
    mode: Literal["mirror", "hybrid", "catalog"]
    mapping: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    active: bool
    archived: int | None = None
    version: Annotated[int, Field(ge=1)]
    created: int | None = None
    updated: int | None = None
    livemode: bool | None = None


class SourceVersion(Obj):
    object: Literal["source_version"]
    version: Annotated[int, Field(ge=1)]
    created: int
    source: Source


class Dialect(Obj):
    delimiter: str | None = None
    encoding: str | None = None
    decimal_separator: Literal[".", ","] | None = None
    thousands_separator: str | None = None


class SuggestedColumn(Obj):
    column: str
    field: str
    confidence: Annotated[float, Field(ge=0, le=1)]
    reason: str
    samples: list[str]
    step: str | None = None


class MappingSuggestion(Obj):
    object: Literal["mapping_suggestion"]
    format: Literal["csv", "jsonl", "shopify", "woocommerce", "magento"]
    dialect: Dialect
    mapping: dict[str, Any]
    columns: list[SuggestedColumn]
    needs_review: list[str]


OBJECTS: tuple[type[BaseModel], ...] = (
    Source,
    SourceVersion,
    MappingSuggestion,
    Error,
    Product,
    Price,
    InventoryItem,
    Event,
    Change,
    ProductVersion,
    WebhookEndpoint,
    DeletedObject,
    WebhookDelivery,
    WebhookReplay,
    IncomingResult,
)
