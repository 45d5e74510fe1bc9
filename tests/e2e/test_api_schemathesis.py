"""A bounded schemathesis run against /openapi.json: no 5xx, and every response matches
the documented status codes, content type and schema."""

from __future__ import annotations

import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from catalog_pipelines.api.auth import create_api_key
from catalog_pipelines.store import objects
from catalog_pipelines.store.events import Cause


def test_api_conforms_to_its_openapi(api_server: str, engine: sa.Engine) -> None:
    with engine.begin() as conn:
        key = create_api_key(conn, "acct_fuzz")
        objects.create_product(conn, "acct_fuzz", {"name": "seed"}, Cause(request_id="fuzz"))
    headers = {"Authorization": f"Bearer {key['secret']}"}
    schema = schemathesis.openapi.from_url(api_server + "/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

        try:
            run()
        except Exception as e:  # noqa: BLE001 - collect every operation's failure, then report
            failures.append(f"{operation.method.upper()} {operation.path}: {e}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
