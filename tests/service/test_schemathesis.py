"""Schemathesis against the app's own OpenAPI document, in process through the ASGI app.

Bounded for CI: a fixed number of generated requests over all operations, schema-valid (positive)
and schema-breaking (negative). Checked on every answer: never a 5xx, the status is documented, and
the body fits its schema and content type.
"""

from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.settings import Settings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(bbc_model_dir: Path) -> schemathesis.BaseSchema:
    app = create_app(Settings(model_dir=bbc_model_dir, max_documents=8, max_characters=5_000))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(api_schema: schemathesis.BaseSchema, mode: GenerationMode) -> None:
    statuses: Counter[int] = Counter()

    @given(case=api_schema.as_strategy(mode))
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case) -> None:
        statuses[case.call_and_validate(checks=CHECKS).status_code] += 1

    call()  # any failed check raises, with the request that caused it
    print(
        f"schemathesis {mode}: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}"
    )
    assert sum(statuses.values()) >= 100
    assert not any(code >= 500 for code in statuses)
