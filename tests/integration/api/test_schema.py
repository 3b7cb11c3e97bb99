"""schemathesis over ``/openapi.json``: no route answers 5xx, every answer matches the schema
(status codes, content types, bodies), with a bounded number of generated requests.

Each operation gets :data:`EXAMPLES` generated requests (valid by the schema; the services may
still refuse them, with a documented 4xx problem) under the shop's owner key; the key
revocation route runs last, since it may revoke that very key.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stopsms.app import App
from stopsms.clock import FakeClock
from stopsms.server import create_server
from tests.integration.api.conftest import UNLIMITED, Keys, bearer

EXAMPLES = 15


def test_every_operation_keeps_to_its_schema(app: App, keys: Keys, clock: FakeClock) -> None:
    server = create_server(app, limits=UNLIMITED, clock=clock)
    schema = schemathesis.openapi.from_asgi("/openapi.json", server)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the schema is valid
        operations.append(result.ok())
    operations.sort(key=lambda op: op.method.lower() == "delete")
    assert len(operations) >= 10
    checks = [
        schemathesis.checks.not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=bearer(keys.owner), checks=checks)

        call()
