"""A bounded schemathesis run against /openapi.json: no 5xx, every response matches the
documented status codes, content type and schema, every schema-valid request is accepted
and every schema-violating one refused.

The accept/refuse checks run on JSON bodies. Form bodies are fuzzed for server errors and
response conformance only: in form encoding a one-item array and a plain value, or an empty
object and no object, are the same bytes, so "valid" and "invalid" cannot be told apart there.

Query strings and paths carry text only, so a "negative" value of another JSON type
(`ids[]=false`) is a valid string there: such type-only mutations outside the body are not
counted (constraint violations there still are).

A few operations refuse schema-valid input for reasons a schema cannot state; they skip the
"valid is accepted" check, each for the reason given in POSITIVE_EXEMPT (each rule has tests of
its own).
"""

from __future__ import annotations

import copy
from typing import Any

import requests
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    AcceptedNegativeData,
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from catalog_pipelines.api.auth import create_api_key
from catalog_pipelines.store import objects
from catalog_pipelines.store.events import Cause

POSITIVE_EXEMPT = {
    ("GET", "/v1/products/search"): "the query language's grammar is not a JSON Schema",
    ("GET", "/v1/products/{product_id}"): "as_of must also be a real calendar date",
    ("DELETE", "/v1/products/{product_id}"): "Stripe's rule: a product with prices is a 400",
    ("POST", "/v1/webhook_endpoints"): "the URL must resolve to a global address (DNS)",
    ("POST", "/v1/webhook_endpoints/{endpoint_id}"): "the URL must resolve to a global address",
    ("POST", "/v1/sources"): "a mapping given as text must parse as a mapping file",
    ("POST", "/v1/mapping_suggestions"): "each row must hold one value per column",
    ("POST", "/v1/sources/{source_id}"): "a mapping given as text must parse as a mapping file",
    ("POST", "/v1/files"): "the file must be a text CSV or JSON Lines export, not any bytes",
}
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _untyped_location(failure: Failure) -> bool:
    """A type-only mutation of a query/path/header value: not a violation on the wire."""
    text = str(failure)
    return (
        isinstance(failure, AcceptedNegativeData)
        and any(f" in {where} - " in text for where in ("query", "path", "header"))
        and any(t in text for t in ("violates `anyOf`", "violates `type`", "is not of type"))
    )


def _call(case: schemathesis.Case, base: str, headers: dict[str, str], checks: list) -> None:
    response = case.call(base_url=base, headers=headers)
    try:
        case.validate_response(response, checks=checks)
    except FailureGroup as group:
        real = [f for f in group.exceptions if not _untyped_location(f)]
        if real:
            curl = case.as_curl_command(headers={"Authorization": "[key]"})
            raise AssertionError(
                "\n".join(f"{type(f).__name__}: {f}" for f in real)
                + f"\n{curl}\n-> {response.status_code} {response.text[:300]}"
            ) from None


def _fuzz(
    operation: Any, mode: GenerationMode, checks: list, base: str, headers: dict[str, str]
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=15 if mode is GenerationMode.POSITIVE else 10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    def run(case: schemathesis.Case) -> None:
        _call(case, base, headers, checks)

    run()


def _without_security(document: dict[str, Any]) -> dict[str, Any]:
    """The key is sent with every case; leaving the security scheme in would let "negative"
    cases drop the header, which the harness then adds back."""
    out = copy.deepcopy(document)
    for path in out["paths"].values():
        for op in path.values():
            op.pop("security", None)
    out.get("components", {}).pop("securitySchemes", None)
    return out


def _json_bodies_only(document: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(document)
    for path in out["paths"].values():
        for op in path.values():
            content = op.get("requestBody", {}).get("content")
            if content and "application/json" in content:  # uploads are multipart only
                op["requestBody"]["content"] = {"application/json": content["application/json"]}
    return out


def _run(
    document: dict[str, Any], headers: dict[str, str], base: str, *, accept_refuse: bool
) -> list[str]:
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        checks = list(CONFORMANCE)
        modes = [GenerationMode.POSITIVE]
        if accept_refuse:
            modes.append(GenerationMode.NEGATIVE)
            checks.append(negative_data_rejection)
            if key not in POSITIVE_EXEMPT:
                checks.append(positive_data_acceptance)
        for mode in modes:
            try:
                _fuzz(operation, mode, checks, base, headers)
            except Unsatisfiable:
                pass  # nothing to mutate (only an id in the path): no negative case exists
            except Exception as e:  # noqa: BLE001 - collect every operation's failure
                failures.append(f"{key[0]} {key[1]} ({mode.value}): {e!r}")
    return failures


def test_api_conforms_to_its_openapi(api_server: str, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        key = create_api_key(conn, "acct_fuzz")
        objects.create_product(conn, "acct_fuzz", {"name": "seed"}, Cause(request_id="fuzz"))
    headers = {"Authorization": f"Bearer {key['secret']}"}
    document = _without_security(requests.get(api_server + "/openapi.json", timeout=10).json())
    assert len([op for path in document["paths"].values() for op in path]) >= 20
    failures = _run(_json_bodies_only(document), headers, api_server, accept_refuse=True)
    failures += _run(document, headers, api_server, accept_refuse=False)
    assert not failures, "\n\n".join(failures)


def test_unsupported_method_names_every_allowed_one(api_server: str) -> None:
    r = requests.options(api_server + "/v1/products/prod_x", timeout=10)
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST", "DELETE"}
    r = requests.put(api_server + "/v1/webhook_endpoints", timeout=10)
    assert r.status_code == 405 and set(r.headers["Allow"].split(", ")) == {"GET", "POST"}
