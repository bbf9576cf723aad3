"""The whole HTTP API fuzzed from its own OpenAPI schema (schemathesis): whatever a
client sends, no 5xx, no response that breaks the schema, no hang."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from tests.served import served_app

pytestmark = pytest.mark.serve


def no_unplanned_server_error(ctx, response, case) -> None:
    """No 5xx, except the contract's deliberate 503 (queue full, Hub offline), which
    must say why in `detail`."""
    if response.status_code == 503:
        assert response.json().get("detail"), "503 without a reason"
    elif response.status_code >= 500:
        raise AssertionError(f"{response.status_code} from {case.method} {case.formatted_path}")


CHECKS = [
    no_unplanned_server_error,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    # Tight limits so the jobs fuzzing queues stay tiny on a 2-core machine.
    with served_app(
        tmp_path_factory.mktemp("data"),
        max_image_size=128,
        max_steps=3,
        max_images_per_job=2,
        max_queue_length=40,
        preview_every_steps=0,
    ) as served:
        yield served


def test_api_never_errors(app):
    schema = schemathesis.openapi.from_url(f"{app.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    failures = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def fuzz(case) -> None:
            case.call_and_validate(base_url=app.base_url, checks=CHECKS, timeout=60)

        try:
            fuzz()
        except Exception as exc:  # collect every failing operation, then report them all
            failures[operation.label] = exc
    assert not failures, "\n\n".join(f"{label}:\n{exc}" for label, exc in failures.items())
