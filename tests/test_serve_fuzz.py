"""Fuzz the server's OpenAPI schema with schemathesis: no generated request may get a 5xx.

Schemathesis builds requests from the schema FastAPI publishes (valid and invalid bodies, edge values:
n=8, max_tokens at the window, empty or odd stop lists, unicode, missing fields) and sends them to the
app in-process (ASGI). Every answer must be a non-5xx, and every error must be OpenAI-shaped.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from dokpa.serve.launch import build_app  # noqa: E402
from serve_helpers import tiny_model_folder  # noqa: E402

KEY = "sk-fuzz"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = build_app(tiny_model_folder(tmp_path_factory.mktemp("fuzz"), max_seq_len=128), api_keys=[KEY])
    engine = app.state.engine.start()  # the ASGI test transport does not run the app's lifespan
    yield app
    engine.stop()


def openai_shaped_errors(ctx, response, case) -> bool | None:
    """Every 4xx body is ``{"error": {"message": str, "type": str, ...}}``."""
    if 400 <= response.status_code < 500:
        body = response.json()
        assert isinstance(body.get("error", {}).get("message"), str), body
        assert isinstance(body["error"].get("type"), str), body
    return None


def test_no_server_errors(app) -> None:
    # Driven directly through hypothesis (schemathesis's pytest plugin does not load under this pytest).
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/chat/completions", "/v1/completions", "/v1/models"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {KEY}"}, checks=[not_a_server_error, openai_shaped_errors]
            )

        check()
